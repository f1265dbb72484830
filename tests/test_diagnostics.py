"""Grid numerics: quadrature, grid KL / TV, basin masses, marginals."""

from __future__ import annotations

import math

import pytest
import torch

import ebmlab as el
from ebmlab.energies import Gaussian


def test_grid_tv_and_kl_of_identical_energies_are_zero():
    E = el.energies.get("banana")
    assert el.diagnostics.grid_tv(E, E) == pytest.approx(0.0, abs=1e-12)
    assert el.diagnostics.grid_kl(E, E) == pytest.approx(0.0, abs=1e-12)


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
