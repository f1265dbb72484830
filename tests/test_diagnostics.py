"""Grid numerics: quadrature, grid KL / TV, basin masses, marginals."""

from __future__ import annotations

import math

import pytest
import torch

import ebmlab as el
from ebmlab.energies import Gaussian


def test_grid_tv_matches_closed_form_for_shifted_gaussians():
    """Two unit Gaussians whose means are δ apart: TV = 2Φ(δ/2) - 1 (and KL = δ²/2)."""
    for delta in (0.5, 2.0):
        p = Gaussian([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
        q = Gaussian([delta, 0.0], [[1.0, 0.0], [0.0, 1.0]])
        exact_tv = math.erf(delta / (2 * math.sqrt(2)))  # 2Φ(δ/2) - 1
        box = (-8.0, 8.0 + delta, -8.0, 8.0)
        assert el.diagnostics.grid_tv(p, q, box=box, bins=300) == pytest.approx(exact_tv,
                                                                                abs=2e-3)
        assert el.diagnostics.grid_kl(p, q, box=box, bins=300) == pytest.approx(delta**2 / 2,
                                                                                abs=2e-3)


def test_grid_kl_matches_closed_form_for_gaussians():
    p = Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.8]])
    q = Gaussian([0.5, -0.2], [[1.5, 0.0], [0.0, 1.2]])
    # KL(N0‖N1) = ½[tr(S1⁻¹S0) + (m1-m0)ᵀS1⁻¹(m1-m0) − k + ln(det S1/det S0)]
    s0, s1 = p.cov, q.cov
    dm = q.mean - p.mean
    exact = 0.5 * float(torch.trace(torch.linalg.solve(s1, s0)) + dm @ torch.linalg.solve(s1, dm)
                        - 2 + torch.logdet(s1) - torch.logdet(s0))
    est = el.diagnostics.grid_kl(p, q, box=(-7, 7, -7, 7), bins=200)
    assert est == pytest.approx(exact, abs=2e-3)
    # Symmetry of TV; asymmetry of KL.
    assert el.diagnostics.grid_tv(p, q, box=(-7, 7, -7, 7)) == pytest.approx(
        el.diagnostics.grid_tv(q, p, box=(-7, 7, -7, 7)), abs=1e-12)


def test_grid_tv_separates_right_and_wrong_samples():
    E = el.energies.get("ring")
    good = E.sample(50_000, seed=0)
    wrong = el.energies.get("ring", std=0.8).sample(50_000, seed=0)
    tv_good = el.diagnostics.grid_tv(good, E, bins=40)
    tv_wrong = el.diagnostics.grid_tv(wrong, E, bins=40)
    # Histogram noise: E|p̂_c − p_c| ≈ √(2 p_c/(πn)); summed over cells ≈ Σ√(p_c)·√(2/(πn)) / 2,
    # at most √(bins²)·√(1/(2πn)) ≈ 0.07 here; the wrong width shifts far more mass.
    assert tv_good < 0.07
    assert tv_wrong > 3 * tv_good
    assert el.diagnostics.grid_kl(good, E, bins=40) < el.diagnostics.grid_kl(wrong, E, bins=40)


def test_basin_masses_recover_mixture_weights():
    E = el.energies.get("bimodal", weight=0.7, separation=6.0, std=0.7)
    m = el.diagnostics.basin_masses(E, E.means, n=500)
    # The modes overlap by Φ(-3/0.7) ≈ 1e-5: the Voronoi masses equal the weights to 1e-4.
    torch.testing.assert_close(m, torch.tensor([0.7, 0.3], dtype=torch.float64), atol=1e-4,
                               rtol=0)


def test_exact_marginals_integrate_to_one_and_match_gaussian():
    E = el.energies.get("gaussian", sigma_x=1.0, sigma_y=2.0, rho=0.5)
    xs, px, ys, py = el.diagnostics.exact_marginals(E, n=400)
    hx = float(xs[1] - xs[0])
    assert float(px.sum() * hx) == pytest.approx(1.0, abs=1e-6)
    ref = torch.exp(-0.5 * (ys / 2.0) ** 2) / (2.0 * math.sqrt(2 * math.pi))
    torch.testing.assert_close(py, ref, atol=1e-4, rtol=0)


def test_quadrature_validation():
    E = el.energies.get("ring")
    with pytest.raises(ValueError, match="box"):
        el.diagnostics.log_z_quadrature(E, box=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="temperature"):
        el.diagnostics.log_z_quadrature(E, temperature=-1)
    with pytest.raises(ValueError, match="dim=3"):
        el.diagnostics.log_z_quadrature(Gaussian.isotropic(3))
    with pytest.raises(ValueError, match="box is required"):
        el.diagnostics.grid_tv(torch.zeros(5, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="samples must have shape"):
        el.diagnostics.grid_tv(torch.zeros(5, 3), E)


# -- mass per mode with target and error; cost against accuracy ------------------------------


def test_mode_masses_of_exact_samples_match_the_declared_weights():
    E = el.energies.get("bimodal", separation=8.0, weight=0.7)
    x = E.sample(20_000, seed=0)
    mm = el.diagnostics.mode_masses(x, E)
    assert torch.allclose(mm.target, torch.tensor([0.7, 0.3], dtype=torch.float64))
    assert mm.n_eff == 20_000 and mm.visited == 2
    assert float(mm.mass.sum()) == pytest.approx(1.0)
    se = math.sqrt(0.21 / 20_000)
    assert mm.stderr[0] == pytest.approx(se, rel=0.05)
    assert mm.error < 4 * se and mm.within(4 * se)
    assert torch.equal(mm.mass, el.diagnostics.mass_per_mode(x, E))  # same assignment


def test_mode_masses_of_traces_particles_and_weights():
    E = el.energies.get("bimodal", separation=8.0, weight=0.7)
    # A Trace pools its kept draws: chains started in the right mode stay there.
    t = el.samplers.MALA(step_size=0.2).run(E, x0=torch.tensor([[4.0, 0.0]]).expand(20, 2),
                                            n_steps=50, seed=0)
    mm = el.diagnostics.mode_masses(t, E)
    assert mm.mass.tolist() == [0.0, 1.0] and mm.error == pytest.approx(0.7)
    assert mm.visited == 1 and not mm.within(0.5)
    # Weights: equal points, weights 3:1 -> mass 0.75 / 0.25 and ESS 1/ΣW² = 1.6.
    x = torch.tensor([[-4.0, 0.0], [4.0, 0.0]])
    mw = el.diagnostics.mode_masses(x, E, weights=torch.tensor([3.0, 1.0]))
    assert mw.mass.tolist() == pytest.approx([0.75, 0.25]) and mw.n_eff == pytest.approx(1.6)
    # A particle result is weighted by its own weights.
    res = el.samplers.SMC(target_cess=0.9, n_mcmc=2).run(E, n_particles=2048, seed=0)
    mp = el.diagnostics.mode_masses(res, E)
    assert mp.n_eff == pytest.approx(res.ess)
    assert mp.error < 4 * math.sqrt(0.21 / res.ess)
    # Centres instead of an energy: no target.
    mc = el.diagnostics.mode_masses(x, torch.tensor([[-4.0, 0.0], [4.0, 0.0]]))
    assert mc.target is None and math.isnan(mc.error)
    # Non-finite rows count for no mode.
    bad = torch.tensor([[-4.0, 0.0], [float("nan"), 0.0]])
    assert el.diagnostics.mode_masses(bad, E).mass.tolist() == [0.5, 0.0]


def test_mode_masses_validation():
    E = el.energies.get("bimodal")
    with pytest.raises(ValueError, match="declares no modes"):
        el.diagnostics.mode_masses(torch.zeros(3, 2), el.energies.get("rastrigin"))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        el.diagnostics.mode_masses(torch.zeros(3, 3), E)
    with pytest.raises(ValueError, match="weights"):
        el.diagnostics.mode_masses(torch.zeros(3, 2), E, weights=torch.tensor([1.0, -1, 1]))
    with pytest.raises(TypeError, match="samples"):
        el.diagnostics.mode_masses([[0.0, 0.0]], E)


def test_mode_mass_path_and_settling():
    E = el.energies.get("bimodal", separation=8.0)
    x = torch.tensor([[[-4.0, 0], [-4, 0]], [[-4, 0], [4, 0]], [[4, 0], [4, 0]]])  # (3, 2, 2)
    path = el.diagnostics.mode_mass_path(x, E)
    assert path.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert el.diagnostics.settled_after([0.5, 0.1, 0.3, 0.05, 0.01], 0.2) == 3
    assert el.diagnostics.settled_after([0.1, 0.1], 0.2) == 0
    assert el.diagnostics.settled_after([0.1, 0.3], 0.2) is None
    with pytest.raises(ValueError, match="samples must be"):
        el.diagnostics.mode_mass_path(torch.zeros(3, 2), E)


def test_budget_curve_summarises_cost_and_error():
    def run(k, seed):  # a fake estimator: cost k, error 1/k ± seed noise
        return {"n_grad_evals": k, "log_z": 2.0 + (1.0 + 0.1 * seed) / k}

    c = el.diagnostics.budget_curve(run, [1, 10, 100], seeds=range(3), exact=2.0)
    assert c.cost == [1.0, 10.0, 100.0]
    assert c.error == pytest.approx([1.1, 0.11, 0.011])
    assert c.errors.shape == (3, 3) and c.error_se[0] == pytest.approx(0.1 / math.sqrt(3))
    # With AIS: more temperatures cost more gradients and (on average) err less.
    E = el.energies.get("banana")
    ais = el.diagnostics.budget_curve(
        lambda k, s: el.samplers.ais(E, n_chains=256, n_temps=k, seed=s), [5, 100],
        seeds=range(2), exact=E.log_z())
    assert ais.cost[1] > ais.cost[0] and ais.error[1] < ais.error[0]
    with pytest.raises(ValueError, match="no cost 'n_grad_evals'"):
        el.diagnostics.budget_curve(lambda k, s: object(), [1], [0], exact=0.0)
    with pytest.raises(ValueError, match="no estimate 'log_z'"):
        el.diagnostics.budget_curve(lambda k, s: {"n_grad_evals": 1}, [1], [0], exact=0.0)
    with pytest.raises(ValueError, match="exact"):
        el.diagnostics.budget_curve(run, [1], [0], exact=float("nan"))
