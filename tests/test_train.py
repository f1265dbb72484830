"""Training: data, objective gradients against closed forms / finite differences, parameter
recovery (SM, SSM, NCE), PCD vs CD-1, checkpoints, a NaN stop, callbacks."""

from __future__ import annotations

import math

import pytest
import torch

import ebmlab as el
from ebmlab.energies import Energy, Gaussian
from ebmlab.train import NCE, Compositional, ContrastiveDivergence, ScoreMatching

TARGET = Gaussian([0.5, -1.0], [[1.0, 0.6], [0.6, 2.0]])


class GaussModel(Energy):
    """E_θ(x) = ½ (x-μ)ᵀ L Lᵀ (x-μ) with learnable μ and L (float64)."""

    def __init__(self) -> None:
        super().__init__(2)
        self.L = torch.nn.Parameter(torch.tensor([[1.2, 0.0], [0.3, 0.8]], dtype=torch.float64))
        self.mu = torch.nn.Parameter(torch.tensor([0.1, -0.2], dtype=torch.float64))

    @property
    def P(self):
        return self.L @ self.L.T

    def _energy(self, x):
        d = x - self.mu
        return 0.5 * ((d @ self.P) * d).sum(-1)


def data(n=256, seed=0):
    return TARGET.sample(n, seed=seed).double()


def grads(loss, model):
    return torch.autograd.grad(loss, [model.L, model.mu])


def test_toy_data_and_digits():
    for name in el.data.TOY_NAMES:
        x = el.data.toy(name, 300, seed=1)
        assert x.shape == (300, 2) and torch.isfinite(x).all()
        assert torch.equal(x, el.data.toy(name, 300, seed=1))
        assert x.abs().max() < 8
    with pytest.raises(ValueError, match="name"):
        el.data.toy("moons", 10)
    with pytest.raises(ValueError, match="n must be"):
        el.data.toy("rings", 0)
    d = el.data.digits(binarize=True, seed=0)
    assert d.x_train.shape[1] == 64 and len(d.x_train) + len(d.x_test) == 1797
    assert set(d.x_train.unique().tolist()) <= {0.0, 1.0}
    assert 0.0 <= float(el.data.digits().x_test.min()) and float(el.data.digits().x_test.max()) <= 1


def test_cd_gradient_is_data_minus_negative_expectation():
    m, x = GaussModel(), data()
    neg = data(256, seed=5) + 0.3
    obj = ContrastiveDivergence("cd", alpha=0.0)
    loss, _ = obj.loss_given(m, x, neg)
    g = grads(loss, m)
    ref = grads(m(x).mean() - m(neg).mean(), m)  # E_data[∇E] - E_neg[∇E], negatives fixed
    for a, b in zip(g, ref):
        torch.testing.assert_close(a, b)


def test_exact_score_matching_matches_its_closed_form():
    """For a Gaussian model, J = ½ E[(x-μ)ᵀP²(x-μ)] - tr P: value and gradient."""
    m, x = GaussModel(), data()
    loss, _ = ScoreMatching("exact")(m, x)
    d = x - m.mu
    closed = 0.5 * ((d @ m.P @ m.P) * d).sum(-1).mean() - torch.trace(m.P)
    torch.testing.assert_close(loss, closed)
    for a, b in zip(grads(loss, m), grads(closed, m)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("make", [lambda: ScoreMatching("dsm", sigma=0.3),
                                  lambda: ScoreMatching("ssm", n_projections=2),
                                  lambda: NCE(noise=Gaussian.isotropic(2, 2.0), init_c=1.0)])
def test_objective_gradients_match_finite_differences(make):
    """Central differences (h = 1e-6, float64) with the same random draws each evaluation."""
    m, x = GaussModel(), data()
    obj = make()

    def value():
        return obj(m, x, torch.Generator().manual_seed(3))[0]

    g = grads(value(), m)
    h = 1e-6
    for p, gp in zip([m.L, m.mu], g):
        for idx in [(0,), (1,)] if p.ndim == 1 else [(0, 0), (1, 0), (1, 1)]:
            with torch.no_grad():
                p[idx] += h
            up = float(value().detach())
            with torch.no_grad():
                p[idx] -= 2 * h
            down = float(value().detach())
            with torch.no_grad():
                p[idx] += h
            assert abs((up - down) / (2 * h) - float(gp[idx])) < 1e-5, (idx, up, down)


def test_compositional_gradient_is_the_exact_nll_gradient_for_its_batch():
    """With ema = 0 the surrogate's gradient equals ∇[mean E_data + log mean_q e^{-E}/q]."""
    m, x = GaussModel(), data()
    q = Gaussian.isotropic(2, 2.5)
    obj = Compositional(q, n_samples=512, ema=0.0)
    loss, info = obj(m, x, torch.Generator().manual_seed(4))
    y = q.sample(512, seed=torch.Generator().manual_seed(4)).double()
    log_w = -m(y) + q(y) + q.log_z()
    nll = m(x).mean() + torch.logsumexp(log_w, 0) - math.log(512)
    for a, b in zip(grads(loss, m), grads(nll, m)):
        torch.testing.assert_close(a, b)
    assert info["nll"] == pytest.approx(float(nll.detach()), abs=1e-9)


@pytest.mark.parametrize("method", ["sm", "ssm"])
def test_score_matching_recovers_the_precision(method):
    m = GaussModel()
    el.train.fit(m, TARGET.sample(20_000, seed=0).double(), method=method, steps=1500,
                 batch_size=512, lr=1e-2, seed=0)
    P, true = m.P.detach(), TARGET.precision
    assert float((P - true).norm() / true.norm()) < 0.05


def test_nce_constant_converges_to_log_z():
    m = GaussModel()
    nce = NCE(noise=TARGET)
    el.train.fit(m, TARGET.sample(20_000, seed=0).double(), method="nce", objective=nce,
                 steps=1500, batch_size=512, lr=1e-2, seed=0)
    assert abs(float(nce.c.detach()) - TARGET.log_z()) < 0.05


def test_pcd_with_a_replay_buffer_beats_cd1_from_noise():
    """Same number of updates; MMD² (bandwidth 0.5) of each method's own negatives to
    held-out data, averaged over two seeds."""
    train, held = el.data.toy("8gaussians", 4000, seed=0), el.data.toy("8gaussians", 1000, seed=1)
    scores = {"pcd": [], "short_run": []}
    for seed in (0, 1):
        for method, kw in (("pcd", {"k": 20, "buffer_size": 2000}), ("short_run", {"k": 1})):
            torch.manual_seed(seed)
            model = el.energies.MLPEnergy(2, 64, 2)
            obj = el.train.make_objective(method, step_size=0.01, noise_scale=None, **kw)
            el.train.fit(model, train, objective=obj, method=method, steps=400, batch_size=128,
                         lr=2e-3, seed=seed)
            neg = (obj.buffer.data[:1000] if method == "pcd"
                   else obj.negatives(model, held, torch.Generator().manual_seed(9)))
            scores[method].append(el.diagnostics.mmd(neg, held, bandwidth=0.5))
    pcd, cd1 = sum(scores["pcd"]) / 2, sum(scores["short_run"]) / 2
    # Measured here (alpha 0.02, no re-initialisation): 0.019 vs 0.035; the null spread of this
    # MMD² at n = 1000 is ~0.001.
    assert pcd < 0.6 * cd1, scores


# -- fit's PCD defaults learn the density ---------------------------------------------------

TWO_MODES = el.energies.GaussianMixture([0.7, 0.3], [[-1.5, 0.0], [1.5, 0.0]], 0.5)  # 6σ apart
TV_BOX = (-4.0, 4.0, -4.0, 4.0)


def _pcd_total_variation(seed: int = 0, **kwargs) -> float:
    """``fit(model, data, method="pcd")`` with its defaults (a small MLP, 4000 points of the
    0.7/0.3 mixture), then the exact total variation between ``exp(-E_θ)`` and the true density,
    both normalised on the same grid of [-4, 4]² (64² cells, 4² midpoint sub-cells each)."""
    data = TWO_MODES.sample(4000, seed=seed).float()
    torch.manual_seed(seed)
    model = el.energies.MLPEnergy(2, 64, 2)
    el.train.fit(model, data, method="pcd", seed=seed, **kwargs)
    return el.diagnostics.grid_tv(model, TWO_MODES, box=TV_BOX, bins=64)


@pytest.fixture(scope="module")
def exact_noise_tv():
    return _pcd_total_variation(seed=0)


def test_pcd_defaults_use_exact_langevin_noise():
    obj = ContrastiveDivergence()
    assert obj.noise_scale is None and obj.effective_temperature == 1.0
    assert (obj.kind, obj.k, obj.step_size, obj.alpha, obj.reinit) == ("pcd", 10, 0.01, 0.02, 0.0)
    decoupled = ContrastiveDivergence(noise_scale=0.005, step_size=0.01)
    assert decoupled.effective_temperature == pytest.approx(0.005**2 / 0.02)
    with pytest.raises(ValueError, match="noise_scale"):
        ContrastiveDivergence(noise_scale=-0.1)


def test_pcd_defaults_learn_a_two_mode_density(exact_noise_tv):
    """Measured with these defaults: 0.059 at seed 0; over seeds 0-7 0.047-0.184 (the worst
    seed learns the mode weights as 0.87/0.13: persistent chains cross between the modes
    rarely)."""
    assert exact_noise_tv < 0.2


def test_decoupled_small_noise_learns_a_clearly_worse_density(exact_noise_tv):
    """noise_scale=0.005 with step 0.01 samples exp(-E/T_eff), T_eff = 1.25e-3, so exp(-E) is
    not the learned density. Measured over seeds 0-7: decoupled 0.66-0.80 against exact
    0.047-0.184; the per-seed gap was never below 0.59, so a margin of 0.3 is half of it."""
    decoupled = _pcd_total_variation(seed=0, noise_scale=0.005)
    assert decoupled > exact_noise_tv + 0.3, (decoupled, exact_noise_tv)


def test_checkpoint_round_trip(tmp_path):
    m = el.energies.MLPEnergy(2, 16, 2)
    h = el.train.fit(m, el.data.toy("rings", 500), method="dsm", steps=5, batch_size=64,
                     callbacks=(el.train.Checkpoint(tmp_path / "ckpt.pt", every=5),))
    assert (tmp_path / "ckpt.pt").exists() and not (tmp_path / "ckpt.pt.tmp").exists()
    fresh = el.energies.MLPEnergy(2, 16, 2)
    ckpt = el.train.load_checkpoint(tmp_path / "ckpt.pt", fresh)
    x = torch.randn(8, 2)
    torch.testing.assert_close(fresh(x), m(x))
    assert ckpt["step"] == 5 and ckpt["history"]["loss"] == h.loss


def test_nan_loss_stops_with_a_message():
    class Broken(Energy):
        def __init__(self):
            super().__init__(2)
            self.w = torch.nn.Parameter(torch.tensor(float("nan")))

        def _energy(self, x):
            return self.w * x.sum(-1)

    with pytest.raises(el.train.TrainingDiverged, match=r"step 1 of 'pcd'.*to fix: lower lr"):
        el.train.fit(Broken(), el.data.toy("rings", 100), method="pcd", steps=3, k=2)


def test_callbacks_and_validation():
    m = el.energies.MLPEnergy(2, 16, 2)
    snaps = el.train.Snapshots(every=2, n=10)
    h = el.train.fit(m, el.data.toy("rings", 300), method="pcd", steps=10, batch_size=32, k=2,
                     callbacks=(snaps, lambda step, *a: step < 6))
    assert len(h.loss) == 6 and [s for s, _ in snaps.items] == [2, 4, 6]
    assert snaps.items[0][1].shape == (10, 2) and "energy_gap" in h.info
    with pytest.raises(ValueError, match="method"):
        el.train.fit(m, el.data.toy("rings", 10), method="mle")
    with pytest.raises(ValueError, match="data"):
        el.train.fit(m, torch.zeros(10), method="pcd")
    with pytest.raises(ValueError, match="lr"):
        el.train.fit(m, el.data.toy("rings", 10), lr=-1.0)


def test_langevin_divergence_stops_training_and_keeps_the_last_checkpoint(tmp_path):
    """Negatives that blow up mid-run stop fit with TrainingDiverged naming the step and the
    fix; the checkpoint written before is kept and loads (weights_only)."""

    class Quadratic(Energy):
        def __init__(self):
            super().__init__(2)
            self.a = torch.nn.Parameter(torch.tensor(1.0))

        def _energy(self, x):
            return 0.5 * self.a * (x * x).sum(-1)

    def sabotage(step, model, history, info):
        if step == 4:  # a huge negative curvature: Langevin explodes at the next update
            with torch.no_grad():
                model.a.fill_(-1e30)

    path = tmp_path / "ckpt.pt"
    m = Quadratic()
    with pytest.raises(el.train.TrainingDiverged,
                       match=r"(?s)at step 5 of 'pcd'.*to fix: lower lr or the Langevin "
                             r"step_size.*last checkpoint \(step 4\) is kept at .*ckpt\.pt"):
        el.train.fit(m, el.data.toy("rings", 200), method="pcd", steps=10, k=3,
                     callbacks=(el.train.Checkpoint(path, every=2), sabotage))
    fresh = Quadratic()
    ckpt = el.train.load_checkpoint(path, fresh)
    assert ckpt["step"] == 4 and torch.isfinite(fresh.a).all()


def test_fit_rejects_bad_data_before_work():
    m = el.energies.ConvEnergy((1, 8, 8), (4,))
    with pytest.raises(ValueError, match=r"data has 63 columns but the model takes D = 64 "
                                         r"\(images \(1, 8, 8\)\)"):
        el.train.fit(m, torch.rand(10, 63), method="pcd")
    bad = torch.rand(10, 64)
    bad[3, 3] = float("nan")
    with pytest.raises(ValueError, match="data has non-finite values .* in 1 of 10 rows"):
        el.train.fit(m, bad, method="pcd")
