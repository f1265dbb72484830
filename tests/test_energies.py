"""Energies: gradients, log Z, exact samplers, validation, composition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import ebmlab as el
from ebmlab.energies import (
    Banana,
    Donut,
    DoubleWell,
    Funnel,
    Gaussian,
    GaussianMixture,
    LearnableGaussian,
    MLPEnergy,
    Rastrigin,
    Squiggle,
)
from ebmlab.grid import energy_on_grid, make_grid

REQUIRED = {"gaussian", "ring", "grid", "double_well", "banana", "funnel", "donut", "squiggle",
            "rastrigin", "bimodal"}


def extra_energies():
    """Energies beyond the registry defaults: other dims, full covariances, compositions."""
    return {
        "gaussian3d": Gaussian([0.5, -1.0, 2.0], [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2],
                                                  [0.1, -0.2, 0.5]]),
        "mixture_full": GaussianMixture([0.2, 0.8], [[-2.0, 0.0], [2.0, 1.0]],
                                        [[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.1], [-0.1, 0.3]]]),
        "double_well_1d": DoubleWell(barrier=2.0, tilt=0.7, dim=1),
        "double_well_tilted": DoubleWell(barrier=4.0, tilt=-1.0),
        "funnel5d": Funnel(dim=5, sigma=1.5),
        "donut3d": Donut(radius=2.0, width=0.5, dim=3),
        "rastrigin3d": Rastrigin(dim=3, amplitude=1.0, period=1.5, scale=1.2),
        "sum": el.energies.get("ring") + Gaussian.isotropic(2, std=3.0),
        "tempered": el.energies.get("banana").tempered(2.0),
        "tempered_ring": el.energies.get("ring").tempered(2.0),  # no closed form
        "tempered_funnel": Funnel(2, 1.0).tempered(0.5),  # no closed form
        "gauss_product": (Gaussian([1.0, 0.0], [[1.0, 0.5], [0.5, 2.0]])
                          + Gaussian.isotropic(2, 1.5, [-1, 1])),
    }


def learnable_gaussian():
    g = LearnableGaussian(2).double()
    with torch.no_grad():
        g.L.copy_(torch.tensor([[1.2, 0.0], [0.3, 0.8]]))
        g.mean.copy_(torch.tensor([0.5, -1.0]))
    return g


def neural_energies():
    """Energies with parameters (autograd gradients); float64 so they compare with quadrature."""
    torch.manual_seed(0)
    mlp = MLPEnergy(dim=2, hidden=16, layers=2).double()
    return {
        "mlp": mlp,
        "learnable_gaussian": learnable_gaussian(),
        "sum_mixed": el.energies.get("ring") + mlp,
    }


def all_energies():
    out = {name: el.energies.get(name) for name in el.energies.names()}
    out.update(extra_energies())
    return out


ALL = all_energies()  # analytic: any float dtype in, same dtype out
EVERY = {**ALL, **neural_energies()}


def test_registry_has_required_landscapes():
    assert REQUIRED <= set(el.energies.names())


@pytest.mark.parametrize("name", sorted(EVERY))
def test_grad_matches_autograd_and_declaration(name):
    """Declared analytic gradient: ``_grad`` is used and equals autograd; declared none:
    ``_grad`` raises and ``grad`` falls back to autograd."""
    E = EVERY[name]
    assert E.has_analytic_grad == (name not in neural_energies())
    gen = torch.Generator().manual_seed(1)
    x = 0.5 * torch.randn(64, E.dim, generator=gen, dtype=torch.float64)
    if name.startswith("funnel"):
        x[:, 0] = x[:, 0] * 2  # cover both the neck and the mouth
    xg = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(E(xg).sum(), xg)
    g = E.grad(x)
    assert g.shape == x.shape and g.dtype == torch.float64
    torch.testing.assert_close(g, ref, rtol=1e-9, atol=1e-9)
    if E.has_analytic_grad:
        torch.testing.assert_close(E._grad(x), ref, rtol=1e-9, atol=1e-9)
    else:
        with pytest.raises(NotImplementedError):
            E._grad(x)
    e2, g2 = E.value_and_grad(x)
    torch.testing.assert_close(e2, E(x))
    torch.testing.assert_close(g2, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ALL))
def test_shapes_and_dtype_follow_input(name):
    E = ALL[name]
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros(7, E.dim, dtype=dtype) + 0.3
        assert E(x).shape == (7,) and E(x).dtype == dtype
        assert E.grad(x).dtype == dtype
    with pytest.raises(ValueError, match=r"shape \(N, "):
        E(torch.zeros(3, E.dim + 1))


# Every 2-D energy that declares an exact log Z, except the funnel (no box holds its mass).
TWO_D_EXACT = sorted(n for n, E in EVERY.items()
                     if E.dim == 2 and E.has_exact_log_z and "funnel" not in n)


@pytest.mark.parametrize("name", TWO_D_EXACT)
def test_log_z_matches_quadrature(name):
    # On its default domain the midpoint rule is accurate to ~1e-8 (see notebook 01);
    # 1e-6 leaves room for the mass outside the domain (< 1e-8 by each class's bound).
    E = EVERY[name]
    quad = el.diagnostics.log_z_quadrature(E, n=400)
    assert abs(E.log_z() - quad) < 1e-6


@pytest.mark.parametrize("name,T", [(n, T) for n in ["gaussian", "double_well", "banana",
                                                     "donut", "squiggle", "rastrigin"]
                                    for T in (0.5, 2.0)])
def test_tempered_log_z_matches_quadrature(name, T):
    # The default domain of E/T follows T (each class widens its tail bound).
    E = el.energies.get(name)
    quad = el.diagnostics.log_z_quadrature(E.tempered(T), n=500)
    assert abs(E.tempered(T).log_z() - quad) < 1e-6
    assert quad == el.diagnostics.log_z_quadrature(E, n=500, temperature=T)


def test_funnel_log_z_small_sigma_quadrature():
    # With sigma = 1 the funnel fits a box: |v| < 6 and |x| < 6 e^3 cover it.
    E = Funnel(2, sigma=1.0)
    from scipy import integrate

    def f(x, v):
        return math.exp(-float(E(torch.tensor([[v, x]], dtype=torch.float64))))

    val, _ = integrate.dblquad(f, -7, 7, lambda v: -12 * math.exp(v / 2),
                               lambda v: 12 * math.exp(v / 2), epsrel=1e-10)
    assert abs(math.log(val) - E.log_z()) < 1e-6


def test_one_d_double_well_log_z_by_quadrature():
    E = DoubleWell(barrier=2.0, tilt=0.7, dim=1)
    quad = el.diagnostics.log_z_quadrature(E, box=(-4, 4, 0, 1), n=20000)
    assert abs(E.log_z() - quad) < 1e-7
    quad = el.diagnostics.log_z_quadrature(E, n=20000)  # on its domain
    assert abs(E.log_z() - quad) < 1e-7


def test_log_z_identities_against_scipy_densities():
    """-E(x) - log q(x) = log Z everywhere, with q written independently via scipy.stats."""
    rng = np.random.default_rng(0)
    f = Funnel(dim=5, sigma=1.5)
    x = rng.normal(size=(50, 5)) * 1.5
    logq = stats.norm.logpdf(x[:, 0], 0, 1.5) + stats.norm.logpdf(
        x[:, 1:], 0, np.exp(x[:, :1] / 2)).sum(1)
    lz = -f(torch.from_numpy(x)).numpy() - logq
    np.testing.assert_allclose(lz, f.log_z(), atol=1e-10)

    g = ALL["gaussian3d"]
    y = rng.normal(size=(50, 3))
    logq = stats.multivariate_normal(g.mean.numpy(), g.cov.numpy()).logpdf(y)
    np.testing.assert_allclose(-g(torch.from_numpy(y)).numpy() - logq, g.log_z(), atol=1e-10)

    m = ALL["mixture_full"]
    logq = np.logaddexp(np.log(0.2) + stats.multivariate_normal(m.means[0].numpy(),
                                                                m.covs[0].numpy()).logpdf(y[:, :2]),
                        np.log(0.8) + stats.multivariate_normal(m.means[1].numpy(),
                                                                m.covs[1].numpy()).logpdf(y[:, :2]))
    np.testing.assert_allclose(-m(torch.from_numpy(y[:, :2])).numpy(), logq, atol=1e-10)
    assert m.log_z() == 0.0


@pytest.mark.parametrize("name", ["donut3d", "rastrigin3d", "gaussian3d"])
def test_log_z_high_dim_by_importance_sampling(name):
    """Z = E_q[e^{-E}/q] with a broad Gaussian q; tolerance 4 standard errors of the mean
    weight, propagated to log Z by the delta method (SE(log Z) = SE(w̄)/w̄)."""
    E = ALL[name]
    n = 400_000
    scale = 3.0
    q = Gaussian.isotropic(E.dim, std=scale)
    x = q.sample(n, seed=3).double()
    logw = -E(x) - (-q(x) - q.log_z())
    m = logw.max()
    w = torch.exp(logw - m)
    est = float(m + torch.log(w.mean()))
    se = float(w.std() / math.sqrt(n) / w.mean())
    assert se < 0.02  # the check is informative
    assert abs(est - E.log_z()) < 4 * se


def grid_moments(E, box, n=600):
    g = make_grid(box, n)
    e = energy_on_grid(E, g)
    p = torch.exp(-(e - e.min())).reshape(-1)
    p = p / p.sum()
    pts = g.points
    mean = (p[:, None] * pts).sum(0)
    c = pts - mean
    var = (p[:, None] * c**2).sum(0)
    m4 = (p[:, None] * c**4).sum(0)
    return mean, var, m4


# Every 2-D energy that declares an exact sampler, except the funnel (moments tested below).
SAMPLED = sorted(n for n, E in EVERY.items()
                 if E.dim == 2 and E.has_exact_sampler and "funnel" not in n)


@pytest.mark.parametrize("name", SAMPLED)
def test_exact_sampler_moments_match_quadrature(name):
    E = EVERY[name]
    box = E.domain
    n = 200_000
    with torch.no_grad():
        x = E.sample(n, seed=11).double()
    assert x.shape == (n, 2) and torch.isfinite(x).all()
    mean, var, m4 = grid_moments(E, box)
    # Tolerances: 4 standard errors. SE(mean) = sd/√n; SE(var) = √((μ4 − σ⁴)/n).
    se_mean = torch.sqrt(var / n)
    se_var = torch.sqrt((m4 - var**2) / n)
    assert ((x.mean(0) - mean).abs() < 4 * se_mean).all(), (x.mean(0), mean, se_mean)
    assert ((x.var(0) - var).abs() < 4 * se_var).all(), (x.var(0), var, se_var)


def test_exact_sampler_moments_analytic():
    n = 400_000
    # Banana: Var x1 = s², Var x2 = 1 + 2 b² s⁴ (x1² has variance 2 s⁴).
    b, s = 0.25, 2.0
    x = Banana(b, s).sample(n, seed=0).double()
    assert abs(x[:, 0].var() - s**2) < 4 * math.sqrt(2 * s**4 / n)
    var2 = 1 + 2 * b**2 * s**4
    assert abs(x[:, 1].var() - var2) < 5 * math.sqrt((x[:, 1] ** 4).mean() / n)
    # Funnel: v ~ N(0, σ²) and x e^{-v/2} ~ N(0, 1) independent of v.
    f = Funnel(dim=4, sigma=3.0)
    y = f.sample(n, seed=1).double()
    v = y[:, 0]
    z = y[:, 1:] * torch.exp(-v / 2)[:, None]
    assert abs(v.mean()) < 4 * 3.0 / math.sqrt(n)
    assert abs(v.var() - 9.0) < 4 * math.sqrt(2 * 81 / n)
    assert (z.mean(0).abs() < 4 / math.sqrt(n)).all()
    assert ((z.var(0) - 1).abs() < 4 * math.sqrt(2 / n)).all()
    # Mixture with a full covariance: mean and covariance properties.
    m = ALL["mixture_full"]
    w = m.sample(n, seed=2).double()
    sd = torch.sqrt(torch.diagonal(m.covariance))
    assert ((w.mean(0) - m.mean).abs() < 4 * sd / math.sqrt(n)).all()
    # Donut in 3-D: the radius distribution matches the radial density by quadrature.
    d = ALL["donut3d"]
    r = torch.linalg.vector_norm(d.sample(n, seed=3).double(), dim=1)
    grid = np.linspace(1e-6, 6, 200001)
    dens = grid**2 * np.exp(-0.5 * ((grid - 2.0) / 0.5) ** 2)
    mr = (grid * dens).sum() / dens.sum()
    sr = math.sqrt(((grid - mr) ** 2 * dens).sum() / dens.sum())
    assert abs(float(r.mean()) - mr) < 4 * sr / math.sqrt(n)
    # Directions are uniform: the mean unit vector is 0 within 4 SE (each coordinate var 1/3).
    u = d.sample(n, seed=4).double()
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    assert (u.mean(0).abs() < 4 * math.sqrt(1 / 3 / n)).all()


def test_rastrigin_high_dim_sampler_moments():
    E = ALL["rastrigin3d"]
    n = 200_000
    x = E.sample(n, seed=5).double()
    # Each coordinate is the 1-D density ∝ exp(-x²/2s² - A(1 - cos kx)): moments by 1-D grid.
    g = np.linspace(-10, 10, 400001)
    p = np.exp(-0.5 * (g / 1.2) ** 2 - 1.0 * (1 - np.cos(2 * np.pi * g / 1.5)))
    p /= p.sum()
    var = (g**2 * p).sum()
    m4 = (g**4 * p).sum()
    assert (x.mean(0).abs() < 4 * math.sqrt(var / n)).all()
    assert ((x.var(0) - var).abs() < 4 * math.sqrt((m4 - var**2) / n)).all()


def test_sampling_is_seeded():
    for E in EVERY.values():
        if not E.has_exact_sampler:
            continue
        assert torch.equal(E.sample(100, seed=7), E.sample(100, seed=7))
        assert not torch.equal(E.sample(100, seed=7), E.sample(100, seed=8))


def test_double_well_masses():
    dw = DoubleWell(barrier=3.0, tilt=0.5)
    left, right = dw.well_mass(1.0)
    assert abs(left + right - 1) < 1e-12 and left > right
    m = el.diagnostics.basin_masses(dw, [[-1, 0], [1, 0]], box=(-3, 3, -6, 6), n=600)
    assert abs(float(m[0]) - left) < 1e-5
    assert DoubleWell(3.0, 0.0).well_mass(1.0) == pytest.approx((0.5, 0.5), abs=1e-12)


BAD = [
    (lambda: Gaussian([0, 0], [[1, 0], [0, -1]]), "cov"),
    (lambda: Gaussian([0, 0], [[1, 2], [0, 1]]), "cov"),
    (lambda: Gaussian([0, 0], [[1, 0, 0]]), "cov"),
    (lambda: Gaussian.isotropic(2, std=-1.0), "std"),
    (lambda: Gaussian.isotropic(0, std=1.0), "dim"),
    (lambda: GaussianMixture([1, -1], [[0, 0], [1, 1]], 1.0), "weights"),
    (lambda: GaussianMixture([1, 1], [[0, 0], [1, 1]], [1.0, 0.0]), "covs"),
    (lambda: GaussianMixture([1], [0, 0], 1.0), "means"),
    (lambda: GaussianMixture.ring(n_modes=0), "n_modes"),
    (lambda: GaussianMixture.ring(radius=float("nan")), "radius"),
    (lambda: GaussianMixture.grid(spacing=0), "spacing"),
    (lambda: DoubleWell(barrier=0.0), "barrier"),
    (lambda: DoubleWell(dim=3), "dim"),
    (lambda: Banana(curvature=-1), "curvature"),
    (lambda: Banana(scale=0), "scale"),
    (lambda: Funnel(dim=1), "dim"),
    (lambda: Funnel(sigma=-2), "sigma"),
    (lambda: Donut(width=0), "width"),
    (lambda: Donut(radius=-1), "radius"),
    (lambda: Squiggle(sigma_y=0), "sigma_y"),
    (lambda: Squiggle(frequency="fast"), "frequency"),
    (lambda: Rastrigin(period=0), "period"),
    (lambda: MLPEnergy(hidden=0), "hidden"),
    (lambda: MLPEnergy(activation="relu6"), "activation"),
    (lambda: el.energies.get("banana", curvature=5.0), "curvature"),
    (lambda: el.energies.get("banana", bend=0.1), "bend"),
    (lambda: el.energies.get("no-such-landscape"), "no-such-landscape"),
    (lambda: el.energies.get("ring").tempered(0.0), "temperature"),
    (lambda: el.energies.get("ring").sample(0), "n"),
    (lambda: el.energies.get("ring").sample(5, seed=-1), "seed"),
    (lambda: Gaussian.isotropic(2) + Gaussian.isotropic(3), "same dim"),
]


@pytest.mark.parametrize("make,name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_validation_names_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_validation_message_gives_range_and_value():
    with pytest.raises(ValueError, match=r"std must be > 0, got -1"):
        Gaussian.isotropic(2, std=-1.0)
    with pytest.raises(ValueError, match=r"curvature must be <= 1, got 5"):
        el.energies.get("banana", curvature=5.0)


@pytest.mark.parametrize("name", el.energies.names())
def test_declared_parameters_build_at_their_extremes(name):
    spec = el.energies.spec(name)
    assert spec.params, "every landscape declares its parameters"
    for p in spec.params:
        assert p.low <= p.default <= p.high and p.doc
        for value in (p.low, p.high):
            E = spec.build(**{p.name: value})
            g = make_grid(E.box, 40)
            e = energy_on_grid(E, g)
            assert torch.isfinite(e).all(), (p.name, value)


def test_composition_and_tempering_identities():
    a, b = el.energies.get("ring"), el.energies.get("banana")
    x = torch.randn(32, 2, dtype=torch.float64)
    s = a + b
    torch.testing.assert_close(s(x), a(x) + b(x))
    torch.testing.assert_close(s.grad(x), a.grad(x) + b.grad(x))
    assert len((s + a).terms) == 3  # sums flatten
    assert sum([a, b]) is not None and (0 + a) is a
    t = a.tempered(2.0)
    torch.testing.assert_close(t(x), a(x) / 2)
    torch.testing.assert_close(t.grad(x), a.grad(x) / 2)
    tt = t.tempered(3.0)
    assert tt.temperature == 6.0 and tt.base is a
    torch.testing.assert_close(tt(x), a(x) / 6)
    # log Z_T of a Gaussian: D/2 log(2πT) + ½ log det Σ.
    g = Gaussian([0.0, 1.0], [[2.0, 0.5], [0.5, 1.0]])
    assert g.tempered(3.0).log_z() == pytest.approx(
        math.log(2 * math.pi * 3.0) + 0.5 * math.log(2.0 - 0.25), abs=1e-12)
    # A product of Gaussians has an exact log Z: check against quadrature.
    h = Gaussian.isotropic(2, 1.5, [-1.0, 1.0])
    assert (g + h).log_z() == pytest.approx(
        el.diagnostics.log_z_quadrature(g + h, box=(-8, 8, -8, 8), n=400), abs=1e-8)
    with pytest.raises(NotImplementedError):
        (a + b).log_z()
    with pytest.raises(NotImplementedError):
        a.tempered(2.0).log_z()  # a tempered mixture has no closed form
    assert not (a + b).has_exact_log_z and g.has_exact_sampler
    assert (g + h).has_exact_log_z and (g + h).has_exact_sampler


def test_mlp_energy():
    torch.manual_seed(0)
    E = MLPEnergy(dim=2, hidden=32, layers=2)
    x = torch.randn(16, 2)
    assert E(x).shape == (16,)
    assert not E.has_analytic_grad
    g = E.grad(x)
    eps = 1e-3
    for j in range(2):  # central finite differences, O(eps²) error
        d = torch.zeros(2)
        d[j] = eps
        fd = (E(x + d) - E(x - d)) / (2 * eps)
        torch.testing.assert_close(g[:, j], fd, rtol=1e-2, atol=1e-3)
    with pytest.raises(NotImplementedError, match="log Z"):
        E.log_z()
    with pytest.raises(NotImplementedError, match="MCMC"):
        E.sample(3)
    assert not (E.has_exact_log_z or E.has_exact_sampler) and E.modes() is None
    # Gradients flow to the parameters (training needs this).
    E(x).sum().backward()
    assert all(p.grad is not None for p in E.parameters())


@pytest.mark.parametrize("name", el.energies.names())
def test_device_and_dtype_follow_the_input(name):
    """Device: a tensor on the ``meta`` device (shapes only, no data) must give energies and
    gradients on ``meta`` — any buffer left on the CPU would raise. Dtype: after ``.double()``
    the cached casts are rebuilt, so float64 inputs give float64 results that differ from the
    float32 ones at the float32 rounding level."""
    E = el.energies.get(name)
    e, g = E.value_and_grad(torch.zeros(3, 2, device="meta"))
    assert e.device.type == "meta" and g.device.type == "meta" and e.shape == (3,)
    x = torch.tensor([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]])
    e32 = E(x)
    e64 = E.double()(x.double())
    assert e32.dtype == torch.float32 and e64.dtype == torch.float64
    torch.testing.assert_close(e64.float(), e32, rtol=1e-5, atol=1e-5)
