"""Declared energy metadata: capabilities, modes, the input check, composition, the domain."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest
import torch
from test_energies import EVERY, neural_energies

import ebmlab as el
from ebmlab.energies import (
    DoubleWell,
    Energy,
    Funnel,
    Gaussian,
    GaussianMixture,
    LearnableGaussian,
    MLPEnergy,
    Sum,
    Tempered,
)
from ebmlab.energies import composition as composition_module

ENERGIES_DIR = Path(el.energies.__file__).parent


def _boom(*args, **kwargs):
    raise AssertionError("a capability property ran a method")


# -- capabilities are declared -------------------------------------------------------------


def test_base_declares_nothing():
    for flag in ("exact_log_z", "exact_sampler", "analytic_grad", "exact_when_tempered"):
        assert getattr(Energy, flag) is False
        assert flag in Energy.__annotations__


@pytest.mark.parametrize("name", sorted(EVERY))
def test_capability_properties_read_declarations_without_running(name):
    E = EVERY[name]
    for method in ("_log_z_at", "_sample_at", "_energy", "_grad", "_value_and_grad", "log_z",
                   "sample", "modes", "_mode_weights_at"):
        setattr(E, method, _boom)  # instance attributes shadow the methods
    try:
        flags = (E.has_exact_log_z, E.has_exact_sampler, E.has_analytic_grad)
        assert flags == (E.exact_log_z, E.exact_sampler, E.analytic_grad)
        assert all(isinstance(f, bool) for f in flags)
    finally:
        for method in ("_log_z_at", "_sample_at", "_energy", "_grad", "_value_and_grad",
                       "log_z", "sample", "modes", "_mode_weights_at"):
            del E.__dict__[method]


def test_capability_properties_are_read_only():
    E = Gaussian.isotropic(2)
    with pytest.raises(AttributeError):
        E.has_exact_log_z = False


@pytest.mark.parametrize("name", sorted(EVERY))
def test_declared_log_z_and_sampler_match_reality(name):
    """Declared True: the method works and gives finite, correct results (correctness against
    quadrature / scipy / importance sampling / moments is in test_energies.py for every
    declaring energy); declared False: NotImplementedError."""
    E = EVERY[name]
    if E.has_exact_log_z:
        assert math.isfinite(E.log_z())
        if E.dim == 2 and "funnel" not in name:
            assert abs(E.log_z() - el.diagnostics.log_z_quadrature(E, n=300)) < 1e-5
    else:
        with pytest.raises(NotImplementedError):
            E.log_z()
    if E.has_exact_sampler:
        with torch.no_grad():
            x = E.sample(500, seed=0)
        assert x.shape == (500, E.dim) and torch.isfinite(x).all()
    else:
        with pytest.raises(NotImplementedError):
            E.sample(5, seed=0)


EXPECTED = {  # (exact log Z, exact sampler, analytic gradient)
    "gaussian": (True, True, True), "ring": (True, True, True), "funnel": (True, True, True),
    "tempered": (True, True, True), "tempered_ring": (False, False, True),
    "tempered_funnel": (False, False, True), "gauss_product": (True, True, True),
    "sum": (False, False, True), "mlp": (False, False, False),
    "learnable_gaussian": (True, True, False), "sum_mixed": (False, False, False),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_declarations_of_compositions_and_networks(name):
    E = EVERY[name]
    assert (E.has_exact_log_z, E.has_exact_sampler, E.has_analytic_grad) == EXPECTED[name]


def test_tempered_declarations_follow_the_base_and_temperature():
    ring = el.energies.get("ring")
    assert ring.tempered(1.0).has_exact_log_z and ring.tempered(1.0).has_exact_sampler
    assert not ring.tempered(0.5).has_exact_log_z
    t = el.energies.get("banana").tempered(2.0).tempered(0.5)  # flattens to T = 1
    assert isinstance(t, Tempered) and t.temperature == 1.0 and t.has_exact_log_z
    assert ring.tempered(3.0).tempered(1 / 3).has_exact_sampler
    assert not MLPEnergy(2, 8, 1).tempered(2.0).has_analytic_grad


# -- modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVERY))
def test_modes_are_local_minima_with_weights(name):
    E = EVERY[name]
    m = E.modes()
    w = E.mode_weights()
    if m is None:
        assert w is None
        return
    assert m.dtype == torch.float64 and m.ndim == 2 and m.shape[1] == E.dim and len(m) >= 1
    if w is not None:
        assert w.dtype == torch.float64 and w.shape == (len(m),)
        assert (w >= 0).all() and abs(float(w.sum()) - 1.0) < 1e-12
    if name == "mixture_full":  # overlapping components: means are not the minima
        return
    with torch.no_grad():
        x = m.to(E._dtype()) if name == "mlp" else m
        g = E.grad(x)
        assert float(g.abs().max()) < 1e-6, g
        e0 = E(x)
        gen = torch.Generator().manual_seed(0)
        for _ in range(8):  # every small step goes uphill: a minimum, not a saddle
            d = 1e-3 * torch.randn(x.shape, generator=gen, dtype=x.dtype)
            assert (E(x + d) > e0).all()


def test_declared_modes():
    assert EVERY["donut"].modes() is None and EVERY["rastrigin"].modes() is None
    assert EVERY["sum"].modes() is None and EVERY["mlp"].modes() is None
    ring = el.energies.get("ring", n_modes=5)
    torch.testing.assert_close(ring.modes(), ring.means.double())
    torch.testing.assert_close(ring.mode_weights(), torch.full((5,), 0.2, dtype=torch.float64))
    bimodal = el.energies.get("bimodal", weight=0.8)
    torch.testing.assert_close(bimodal.mode_weights(),
                               torch.tensor([0.8, 0.2], dtype=torch.float64))
    assert ring.tempered(2.0).mode_weights() is None  # not known for a tempered mixture
    torch.testing.assert_close(ring.tempered(2.0).modes(), ring.modes())
    torch.testing.assert_close(el.energies.get("double_well").modes(),
                               torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    assert DoubleWell(barrier=0.2, tilt=2.0).modes().shape == (1, 2)  # tilt beats barrier
    assert DoubleWell(dim=1).modes().shape == (2, 1)
    torch.testing.assert_close(Funnel(dim=3, sigma=2.0).modes(),
                               torch.tensor([[-4.0, 0.0, 0.0]], dtype=torch.float64))
    g = EVERY["gauss_product"]
    torch.testing.assert_close(g.modes(), g.mean[None].double())
    torch.testing.assert_close(el.energies.get("donut", radius=0.0).modes(),
                               torch.zeros(1, 2, dtype=torch.float64))


@pytest.mark.parametrize("T", [1.0, 0.7])
def test_double_well_mode_weights_are_exact_masses_beside_the_barrier(T):
    dw = DoubleWell(barrier=2.0, tilt=-0.8)
    top = [c for c in dw.critical_points() if 3 * c * c < 1][0]  # the barrier's x₁
    w = dw.tempered(T).mode_weights()
    box = dw.tempered(T).domain
    zl = el.diagnostics.log_z_quadrature(dw, box=(box[0], top, box[2], box[3]), n=800,
                                         temperature=T)
    zr = el.diagnostics.log_z_quadrature(dw, box=(top, box[1], box[2], box[3]), n=800,
                                         temperature=T)
    exact_left = 1.0 / (1.0 + math.exp(zr - zl))
    assert abs(float(w[0]) - exact_left) < 1e-7
    assert float(w[1]) > float(w[0])  # negative tilt favours the right well


# -- mass per mode -----------------------------------------------------------------------------


def test_mass_per_mode_counts_nearest_modes():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    x = torch.tensor([[0.1, 0.2], [9.0, 1.0], [1.0, 8.0], [0.0, 6.0], [4.9, 0.0],
                      [float("nan"), 0.0]])
    m = el.diagnostics.mass_per_mode(x, modes)
    torch.testing.assert_close(m, torch.tensor([2, 1, 2], dtype=torch.float64) / 6)
    assert m.dtype == torch.float64 and abs(float(m.sum()) - 5 / 6) < 1e-15  # NaN row: nowhere


@pytest.mark.parametrize("name", ["ring", "grid", "bimodal", "double_well"])
def test_mass_per_mode_of_exact_samples_matches_mode_weights(name):
    E = el.energies.get(name)
    n = 40_000
    m = el.diagnostics.mass_per_mode(E.sample(n, seed=3), E)
    w = E.mode_weights()
    # 4 binomial standard errors; the modes' overlap moves less than 1e-4 of mass here.
    assert ((m - w).abs() <= 4 * torch.sqrt(w * (1 - w) / n) + 1e-4).all(), (m, w)


def test_mass_per_mode_of_tilted_double_well_matches_nearest_mode_cells():
    dw = DoubleWell(barrier=2.0, tilt=0.6)
    n = 40_000
    m = el.diagnostics.mass_per_mode(dw.sample(n, seed=5), dw)
    exact = el.diagnostics.basin_masses(dw, dw.modes(), n=600)
    assert ((m - exact).abs() <= 4 * torch.sqrt(exact * (1 - exact) / n)).all(), (m, exact)


def test_mass_per_mode_validation():
    with pytest.raises(ValueError, match="declares no modes"):
        el.diagnostics.mass_per_mode(torch.zeros(3, 2), el.energies.get("donut"))
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(N, 2\)"):
        el.diagnostics.mass_per_mode(torch.zeros(3, 3), el.energies.get("ring"))
    with pytest.raises(ValueError, match="modes must have shape"):
        el.diagnostics.mass_per_mode(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="at least one sample"):
        el.diagnostics.mass_per_mode(torch.zeros(0, 2), el.energies.get("ring"))
    with pytest.raises(TypeError, match="energy must be"):
        el.diagnostics.mass_per_mode(torch.zeros(3, 2), [[0.0, 0.0]])


# -- one input check, in the base class ------------------------------------------------------


@pytest.mark.parametrize("bad", [torch.zeros(4), torch.zeros(4, 3), torch.zeros(2, 4, 2),
                                 [[0.0, 0.0]]])
@pytest.mark.parametrize("call", ["forward", "grad", "value_and_grad"])
def test_input_check_names_x_and_the_shape(bad, call):
    E = el.energies.get("ring")
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(N, 2\) for "
                                         r"GaussianMixture, got"):
        getattr(E, call)(bad)


def test_energies_define_no_check_of_their_own():
    for path in ENERGIES_DIR.glob("*.py"):
        src = path.read_text()
        assert not re.search(r"\b_check\(", src), path.name
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name != "Energy":
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                assert not methods & {"forward", "grad", "value_and_grad"}, (path.name,
                                                                               node.name)


@pytest.mark.parametrize("name", ["ring", "gauss_product", "sum", "tempered", "sum_mixed"])
def test_input_is_checked_once_per_call(name, monkeypatch):
    E = EVERY[name]
    calls = []
    original = Energy._validate
    monkeypatch.setattr(Energy, "_validate", lambda self, x: calls.append(1) or original(self, x))
    x = torch.zeros(5, 2, dtype=torch.float64)
    for f in (E, E.grad, E.value_and_grad):
        calls.clear()
        f(x)
        assert len(calls) == 1, (f, len(calls))


def test_parameters_still_get_gradients_through_energy_calls():
    for E in (MLPEnergy(2, 8, 1), LearnableGaussian(2)):
        x = torch.randn(6, 2)
        E(x).sum().backward()
        assert all(p.grad is not None for p in E.parameters())
        _, g = E.value_and_grad(x)  # ∇ₓE for samplers, detached from the parameters
        assert not g.requires_grad


def test_subclass_overriding_forward_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="define _energy"):
        class Old(Energy):
            def __init__(self):
                super().__init__(2)

            def forward(self, x):
                return (x * x).sum(-1)

    E = Old()
    x = torch.ones(3, 2)
    torch.testing.assert_close(E(x), torch.full((3,), 2.0))
    torch.testing.assert_close(E.grad(x), 2 * x)
    with pytest.raises(ValueError, match="x must be"):
        E(torch.ones(3, 3))
    with pytest.raises(TypeError, match="both forward and _energy"):
        class Both(Energy):
            def forward(self, x):
                return x.sum(-1)

            def _energy(self, x):
                return x.sum(-1)


# -- composition ---------------------------------------------------------------------------------


def test_gaussian_plus_gaussian_is_an_exact_gaussian():
    g1 = Gaussian([1.0, 0.0], [[1.0, 0.5], [0.5, 2.0]])
    g2 = Gaussian.isotropic(2, 1.5, [-1.0, 1.0])
    g3 = Gaussian([0.0, 2.0], [[0.7, 0.0], [0.0, 0.3]])
    x = torch.randn(50, 2, dtype=torch.float64)
    for p, parts in ((g1 + g2, [g1, g2]), (sum([g1, g2, g3]), [g1, g2, g3])):
        assert type(p) is Gaussian and p.has_exact_log_z and p.has_exact_sampler
        torch.testing.assert_close(p(x), sum(e(x) for e in parts), rtol=1e-12, atol=1e-12)
        e, g = p.value_and_grad(x)
        torch.testing.assert_close(g, sum(e.grad(x) for e in parts), rtol=1e-12, atol=1e-12)
        assert abs(p.log_z() - el.diagnostics.log_z_quadrature(p, n=400)) < 1e-8
    # The offset survives tempering: log Z_T = D/2 log 2πT + ½ log det Σ - c/T.
    p = g1 + g2
    assert p.offset != 0
    quad = el.diagnostics.log_z_quadrature(p, n=400, temperature=2.0)
    assert abs(p.tempered(2.0).log_z() - quad) < 1e-8


def test_generic_sum_declares_nothing_exact():
    ring, banana = el.energies.get("ring"), el.energies.get("banana")
    s = ring + banana
    assert type(s) is Sum and not s.has_exact_log_z and not s.has_exact_sampler
    assert s.has_analytic_grad and s.modes() is None and s.mode_weights() is None
    mixed = ring + Gaussian.isotropic(2, 3.0)  # a Gaussian and a non-Gaussian: no product
    assert type(mixed) is Sum and len(mixed.terms) == 2
    with pytest.raises(TypeError, match="can only add Energy"):
        ring + 1.5


def test_composition_has_no_special_cases_and_no_import_cycle():
    def imports(name):
        tree = ast.parse((ENERGIES_DIR / name).read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}

    assert imports("base.py") <= {"__future__", "collections.abc", "dataclasses", "typing",
                                  "_checks", "params"}
    assert "gaussian" not in imports("composition.py")
    src = (ENERGIES_DIR / "composition.py").read_text()
    assert "Gaussian" not in src.split('"""', 2)[2]  # beyond the docstring
    assert el.energies.Sum is composition_module.Sum
    assert el.energies.Tempered is composition_module.Tempered


# -- plotting box and numerical domain ----------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in el.energies.names() if n != "funnel"])
def test_domain_holds_the_mass_at_the_parameter_extremes(name):
    spec = el.energies.spec(name)
    for p in spec.params:
        for value in (p.low, p.high):
            E = spec.build(**{p.name: value})
            quad = el.diagnostics.log_z_quadrature(E, n=600)  # on E.domain
            assert abs(quad - E.log_z()) < 1e-6, (p.name, value, quad - E.log_z())


def test_grid_numerics_use_the_domain_not_the_box():
    E = el.energies.get("double_well")
    assert E.domain != E.box
    assert el.diagnostics.log_z_quadrature(E) == el.diagnostics.log_z_quadrature(E, box=E.domain)
    torch.testing.assert_close(el.diagnostics.basin_masses(E, E.modes()),
                               el.diagnostics.basin_masses(E, E.modes(), box=E.domain))
    xs = el.diagnostics.exact_marginals(E, n=50)[0]
    assert float(xs[0]) < E.domain[0] + 1 and float(xs[-1]) > E.domain[1] - 1


def test_domain_defaults():
    mlp = MLPEnergy(2, 8, 1, box=(-3, 3, -2, 2))
    assert mlp.domain == mlp.box == (-3, 3, -2, 2)  # a network is trusted where it was trained
    assert mlp.tempered(4.0).domain == mlp.box
    assert MLPEnergy(2, 8, 1, domain=(-1, 1, -1, 1)).domain == (-1, 1, -1, 1)
    g = Gaussian.isotropic(2, 2.0)
    assert g.domain == (-12.0, 12.0, -12.0, 12.0)  # ± 6 sd
    assert g.tempered(4.0).domain == (-24.0, 24.0, -24.0, 24.0)
    assert g.tempered(4.0).box == g.box  # the view does not change with T
    f = Funnel(2, 3.0)  # no bound exists: the box widened by 30 %
    assert f.domain == pytest.approx((-9.75, 9.75, -15.6, 15.6))
    one_d = DoubleWell(dim=1)
    assert one_d.domain[2:] == (0.0, 1.0)
    a, b = Gaussian.isotropic(2, 1.0), Gaussian.isotropic(2, 1.0, [3.0, 0.0])
    s = a + el.energies.get("banana")
    assert s.domain[0] == pytest.approx(-6.0) and s.domain[1] == pytest.approx(6.0)
    far = Sum(a, Gaussian.isotropic(2, 1.0, [100.0, 0.0]))  # disjoint: the hull, not nothing
    assert far.domain[0] == -6.0 and far.domain[1] == 106.0
    assert (a + b).domain[0] < 1.5 < (a + b).domain[1]


def test_learnable_gaussian_declares_and_provides_an_exact_sampler():
    E = neural_energies()["learnable_gaussian"]
    n = 200_000
    with torch.no_grad():
        x = E.sample(n, seed=2).double()
        cov = torch.linalg.inv(E.precision.double())
    torch.testing.assert_close(x.mean(0), E.mean.double().detach(), atol=4 * 1.5 / n**0.5,
                               rtol=0)
    emp = torch.cov(x.T)
    se = (2 * cov.diagonal().max() ** 2 / n) ** 0.5
    assert (emp - cov).abs().max() < 5 * se
    assert not any(p.grad is not None for p in E.parameters())
    gm = GaussianMixture([1.0], [[0.0, 0.0]], 1.0)
    assert gm.has_exact_sampler


def test_gaussian_product_keeps_its_tuple_contract():
    g1 = Gaussian([1.0, 0.0], [[1.0, 0.5], [0.5, 2.0]])
    g2 = Gaussian.isotropic(2, std=1.5, mean=[-1.0, 1.0])
    prod_g, offset = Gaussian.product(g1, g2)  # as notebook 01 uses it
    assert prod_g.offset == 0.0
    torch.testing.assert_close(prod_g.precision, g1.precision + g2.precision)
    x = torch.randn(20, 2, dtype=torch.float64)
    torch.testing.assert_close(prod_g(x) + offset, (g1 + g2)(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(prod_g(x) + offset, g1(x) + g2(x), rtol=1e-12, atol=1e-12)
