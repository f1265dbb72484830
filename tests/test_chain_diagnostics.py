"""ESS, R-hat, autocorrelation against ArviZ and AR(1) theory; MMD and KSD behaviour."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ebmlab as el


def ar1(n_draws: int, n_chains: int, phi: float, seed: int, dims: int = 2) -> torch.Tensor:
    """AR(1) chains x_t = φ x_{t-1} + √(1-φ²) ε_t (stationary N(0, 1)): (draws, chains, D)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(n_draws, n_chains, dims, dtype=torch.float64)
    x[0] = torch.randn(n_chains, dims, generator=g, dtype=torch.float64)
    noise = torch.randn(n_draws, n_chains, dims, generator=g, dtype=torch.float64)
    for t in range(1, n_draws):
        x[t] = phi * x[t - 1] + math.sqrt(1 - phi * phi) * noise[t]
    return x


def test_ess_and_rhat_match_arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        az = pytest.importorskip("arviz")
    x = ar1(500, 4, 0.7, seed=0)
    x[:, 3, 1] += 0.5  # one chain offset in one coordinate: R-hat must notice
    s = x.permute(1, 0, 2).numpy()
    for j in range(2):
        assert float(el.diagnostics.ess(x)[j]) == pytest.approx(float(az.ess(s[:, :, j])),
                                                                rel=1e-10)
        assert float(el.diagnostics.ess(x, "tail")[j]) == pytest.approx(
            float(az.ess(s[:, :, j], method="tail")), rel=1e-10)
        assert float(el.diagnostics.rhat(x)[j]) == pytest.approx(float(az.rhat(s[:, :, j])),
                                                                 rel=1e-10)
    assert float(el.diagnostics.rhat(x)[1]) > 1.01 > float(el.diagnostics.rhat(x)[0])


def test_ess_and_autocorrelation_follow_ar1_theory():
    phi = 0.8
    x = ar1(4000, 8, phi, seed=1)
    # ESS of an AR(1) chain: n (1 - φ)/(1 + φ). The ESS estimator's own relative error is
    # a few percent at this length; 10 % is well above it.
    expected = 4000 * 8 * (1 - phi) / (1 + phi)
    ess = el.diagnostics.ess(x, "basic")
    assert ((ess / expected - 1).abs() < 0.1).all(), ess
    acf = el.diagnostics.autocorrelation(x, max_lag=5)
    # SE of a lag-k autocorrelation estimate ≈ √((1+φ²)/(1-φ²)/N) with N = 32,000 draws.
    se = math.sqrt((1 + phi**2) / (1 - phi**2) / 32000)
    for k in range(6):
        assert (acf[k] - phi**k).abs().max() < 4 * se + 1e-12
    tau = el.diagnostics.integrated_autocorrelation_time(x)
    assert ((tau / ((1 + phi) / (1 - phi)) - 1).abs() < 0.1).all()


def test_moment_errors_and_acceptance_summary():
    x = ar1(1000, 4, 0.5, seed=2)
    z = el.diagnostics.moment_errors(x, torch.zeros(2), torch.ones(2))
    assert (z["z_mean"].abs() < 4).all() and (z["z_var"].abs() < 4).all()
    z = el.diagnostics.moment_errors(x, torch.full((2,), 0.3), torch.ones(2))
    assert (z["z_mean"].abs() > 4).all()  # a wrong mean is detected
    iid = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = el.diagnostics.moment_errors(iid, torch.zeros(2), torch.ones(2))
    assert float(z["ess"][0]) == 10_000 and (z["z_mean"].abs() < 4).all()
    s = el.diagnostics.acceptance_summary(torch.tensor([0.2, 0.4, 0.6]))
    assert s["mean"] == pytest.approx(0.4) and s["min"] == pytest.approx(0.2)


def test_mmd_unbiased_and_sensitive():
    E = el.energies.get("ring")
    nulls = [el.diagnostics.mmd(E.sample(500, seed=2 * i), E.sample(500, seed=2 * i + 1))
             for i in range(20)]
    sd = float(np.std(nulls))
    # Unbiased: the mean of 20 null MMD² values is 0 within 4 standard errors.
    assert abs(float(np.mean(nulls))) < 4 * sd / math.sqrt(20)
    # The median-heuristic bandwidth (~ the ring's diameter) is blind to the width of the modes
    # but sees where the mass is: a ring of radius 3 instead of 4 stands out.
    far = el.diagnostics.mmd(E.sample(500, seed=0), el.energies.get("ring", radius=3.0).sample(
        500, seed=1))
    assert far > 10 * sd
    t = el.diagnostics.mmd_test(E.sample(500, seed=0), E.sample(500, seed=1))
    assert t["p_value"] > 0.01 and t["null_std"] > 0


def test_ksd_detects_wrong_samples_without_log_z():
    E = el.energies.get("banana")
    exact = el.diagnostics.ksd(E.sample(1000, seed=0), E)
    wrong = el.diagnostics.ksd(el.energies.get("banana", curvature=0.4).sample(1000, seed=0), E)
    shifted = el.diagnostics.ksd(E.sample(1000, seed=0) + 0.3, E)
    assert wrong > 5 * abs(exact) and shifted > 5 * abs(exact)
    # A Trace is accepted (final states).
    trace = el.samplers.MALA(step_size=0.1).run(E, n_chains=300, n_steps=200, warmup=200, seed=0)
    assert el.diagnostics.ksd(trace, E) < wrong


def test_stein_residual_matches_closed_forms_and_has_mean_zero_under_the_target():
    # Gaussian: r = (P x)_i² - P_ii; double well: r = E'(x)² - E''(x).
    G = el.energies.Gaussian([0.0, 0.0], [[1.0, 0.9], [0.9, 1.0]])
    x = G.sample(50_000, seed=0)
    r = el.diagnostics.stein_residual(x, G)
    P = G.precision.double()
    g = x.double() @ P
    assert torch.allclose(r, g * g - torch.diagonal(P), atol=1e-9)
    W = el.energies.DoubleWell(barrier=1.0, dim=1)
    w = W.sample(50_000, seed=1)
    rw = el.diagnostics.stein_residual(w, W)[:, 0]
    u = w[:, 0].double()
    assert torch.allclose(rw, (4 * u * (u * u - 1)) ** 2 - 4 * (3 * u * u - 1), atol=1e-9)
    # E_p[r] = 0 for exact samples of every registered energy, within 4 standard errors.
    for name in el.energies.names():
        E = el.energies.get(name)
        r = el.diagnostics.stein_residual(E.sample(20_000, seed=3), E)
        z = r.mean(0) / (r.std(0) / math.sqrt(r.shape[0]))
        assert (z.abs() < 4).all(), (name, z)
    # Any test function: φ = x e^{-x²} gives r = φ E' - φ' with the same mean zero.
    phi = el.diagnostics.stein_residual(w, W, test_function=lambda v: v * torch.exp(-v * v))
    f = torch.exp(-u * u)
    assert torch.allclose(phi[:, 0], u * f * 4 * u * (u * u - 1) - (1 - 2 * u * u) * f,
                          atol=1e-9)
    assert abs(float(phi.mean())) < 4 * float(phi.std()) / math.sqrt(phi.numel())
    with pytest.raises(ValueError, match="test_function must map"):
        el.diagnostics.stein_residual(w, W, test_function=lambda v: v.sum(1))
    # A Trace is accepted and keeps the (draws, chains, D) layout.
    t = el.samplers.MALA(step_size=0.3).run(G, n_chains=8, n_steps=20, seed=0)
    assert el.diagnostics.stein_residual(t, G).shape == t.samples.shape
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        el.diagnostics.stein_residual(torch.zeros(5, 3), G)


def test_power_law_fit_recovers_a_known_order_with_a_calibrated_error():
    x = np.array([0.05, 0.07, 0.1, 0.14, 0.2])
    truth = 3.0 * x**2
    se = 0.1 * truth[2] * np.ones_like(x)  # small points are noisy, even negative
    rng = np.random.default_rng(0)
    z = []
    for _ in range(200):
        f = el.diagnostics.power_law_fit(x, truth + se * rng.standard_normal(x.size), se)
        z.append((f["order"] - 2.0) / f["order_se"])
    z = np.array(z)
    # The fitted order is unbiased and its standard error calibrated: z ~ N(0, 1) (mean
    # within 4 SE of 0, sd within 25 % of 1 for 200 fits).
    assert abs(z.mean()) < 4 / math.sqrt(200) and 0.75 < z.std() < 1.25, (z.mean(), z.std())
    exact = el.diagnostics.power_law_fit(x, truth, se)
    assert exact["order"] == pytest.approx(2.0) and exact["prefactor"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="same length"):
        el.diagnostics.power_law_fit([1.0, 2.0], [1.0, 2.0], [1.0, 1.0])


def test_trace_to_arviz_matches_ebmlab_diagnostics():
    """``Trace.to_arviz``: ArviZ sees the same chains (its ESS and R-hat equal ours, which are
    tested equal to ArviZ's on raw arrays above), with -E as lp."""
    az = pytest.importorskip("arviz")
    import ebmlab as el

    energy = el.energies.GaussianMixture.ring(4, 2.0, 0.7)
    trace = el.samplers.MALA(step_size=0.3).run(energy, n_chains=4, n_steps=300, warmup=100,
                                                 seed=3)
    idata = trace.to_arviz()
    post = idata.posterior["x"]
    assert post.dims == ("chain", "draw", "x_dim") and post.shape == (4, 300, 2)
    np.testing.assert_allclose(post.values[2, 10], trace.samples[10, 2].double().numpy())
    np.testing.assert_allclose(idata.sample_stats["lp"].values, -trace.energy.T.double().numpy())
    ours_ess = el.diagnostics.ess(trace.samples)
    theirs = az.ess(idata, method="bulk")["x"].values
    np.testing.assert_allclose(theirs, ours_ess.numpy(), rtol=1e-6)
    np.testing.assert_allclose(az.rhat(idata)["x"].values, el.diagnostics.rhat(trace.samples),
                               rtol=1e-6)
    assert set(az.summary(idata).index) == {"x[0]", "x[1]"}
