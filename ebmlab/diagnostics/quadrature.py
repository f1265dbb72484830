"""Grid numerics for 2-D energies: ``log Z`` by quadrature, KL and total variation between
energies and/or samples on a grid, and the probability mass of basins.

Without an explicit ``box`` every function integrates over ``energy.domain`` (the region
where the energy declares grid numerics trustworthy), never over the plotting ``box``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_int, check_real
from ..energies.base import Box, Energy
from ..grid import check_box, energy_on_grid, energy_values, make_grid

Source = Energy | torch.Tensor


def _domain(energy: Energy, temperature: float) -> Box:
    """Where grid numerics on ``p_T`` are trusted: the domain of ``E/T``."""
    return energy.domain if temperature == 1.0 else energy.tempered(temperature).domain


def log_z_quadrature(energy: Energy, box: Box | None = None, n: int = 512,
                     temperature: float = 1.0) -> float:
    """``log Z_T ≈ log Σ_cells exp(-E(c)/T) · ΔA`` (midpoint rule on an ``n × n`` grid).

    1-D energies use the 1-D midpoint rule over ``box[:2]``. Mass outside ``box`` is
    missed; the default, ``energy.tempered(T).domain``, leaves out a negligible amount for
    every analytic landscape but the funnel.
    """
    temperature = check_real("temperature", temperature, gt=0.0)
    n = check_int("n", n, ge=2)
    box = check_box(_domain(energy, temperature) if box is None else box)
    if energy.dim == 1:
        h = (box[1] - box[0]) / n
        xs = box[0] + h * (torch.arange(n, dtype=torch.float64) + 0.5)
        e = energy_values(energy, xs[:, None]) / temperature
        return float(torch.logsumexp(-e, 0)) + math.log(h)
    if energy.dim != 2:
        raise ValueError(f"quadrature needs a 1-D or 2-D energy, got dim={energy.dim}; "
                         "use annealed importance sampling in higher dimensions")
    g = make_grid(box, n)
    e = energy_on_grid(energy, g, temperature)
    return float(torch.logsumexp(-e.reshape(-1), 0)) + math.log(g.cell_area)


def cell_probabilities(source: Source, box: Box, bins: int = 64, temperature: float = 1.0,
                       refine: int = 4) -> torch.Tensor:
    """Probability of each of ``bins × bins`` cells of ``box``: ``-> (bins, bins)``, sums to 1.

    An energy is integrated with ``refine²`` midpoint sub-cells per cell; samples
    ``(N, 2)`` are histogrammed (samples outside ``box`` are dropped).
    """
    box = check_box(box)
    bins = check_int("bins", bins, ge=2)
    if isinstance(source, Energy):
        fine = make_grid(box, bins * refine)
        e = energy_on_grid(source, fine, temperature)
        p = torch.exp(-(e - e.min()))
        p = p.reshape(bins, refine, bins, refine).sum((1, 3))
    elif isinstance(source, torch.Tensor):
        if source.ndim != 2 or source.shape[1] != 2:
            raise ValueError(f"samples must have shape (N, 2), got {tuple(source.shape)}")
        s = source.detach().double().cpu().numpy()
        h, _, _ = np.histogram2d(s[:, 1], s[:, 0], bins=bins, range=[box[2:], box[:2]])
        p = torch.from_numpy(h)
        if p.sum() == 0:
            raise ValueError("no samples fall inside the box")
    else:
        raise TypeError(f"expected an Energy or a samples tensor, got {type(source).__name__}")
    return p / p.sum()


def _pair(p: Source, q: Source, box: Box | None, bins: int, temperature: float):
    if box is None:
        ref = p if isinstance(p, Energy) else q if isinstance(q, Energy) else None
        if ref is None:
            raise ValueError("box is required when both arguments are samples")
        box = _domain(ref, temperature)
    return (cell_probabilities(p, box, bins, temperature),
            cell_probabilities(q, box, bins, temperature))


def grid_tv(p: Source, q: Source, box: Box | None = None, bins: int = 64,
            temperature: float = 1.0) -> float:
    """Total variation ``½ Σ_cells |p_c - q_c|`` between two energies and/or sample sets."""
    pp, qq = _pair(p, q, box, bins, temperature)
    return float(0.5 * (pp - qq).abs().sum())


def grid_kl(p: Source, q: Source, box: Box | None = None, bins: int = 64,
            temperature: float = 1.0, eps: float = 1e-10) -> float:
    """``KL(p ‖ q) = Σ_cells p_c log(p_c / q_c)`` on a grid; empty ``q`` cells count as ``eps``.

    With samples the estimate is biased (finite histogram); compare like with like.
    """
    pp, qq = _pair(p, q, box, bins, temperature)
    mask = pp > 0
    qm = qq[mask]
    qm = torch.where(qm > 0, qm, torch.full_like(qm, eps))
    return float((pp[mask] * (torch.log(pp[mask]) - torch.log(qm))).sum())


def basin_masses(energy: Energy, centers, box: Box | None = None, n: int = 400,
                 temperature: float = 1.0) -> torch.Tensor:
    """Probability of the region nearest each centre (Voronoi cells) under ``p_T``: ``(K,)``."""
    c = torch.as_tensor(centers, dtype=torch.float64)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"centers must have shape (K, 2), got {tuple(c.shape)}")
    g = make_grid(check_box(_domain(energy, temperature) if box is None else box), n)
    e = energy_on_grid(energy, g, temperature).reshape(-1)
    w = torch.exp(-(e - e.min()))
    nearest = torch.cdist(g.points, c).argmin(1)
    m = torch.zeros(c.shape[0], dtype=torch.float64).index_add_(0, nearest, w)
    return m / m.sum()


def exact_marginals(energy: Energy, box: Box | None = None, n: int = 400,
                    temperature: float = 1.0):
    """Marginal densities of both coordinates by quadrature: ``(xs, p(x), ys, p(y))``.

    Over ``energy.tempered(T).domain`` unless ``box`` is given (pass the plotting box to get
    values only inside the view; they are then normalised over the view)."""
    g = make_grid(check_box(_domain(energy, temperature) if box is None else box), n)
    e = energy_on_grid(energy, g, temperature)
    p = torch.exp(-(e - e.min()))
    hx, hy = float(g.xs[1] - g.xs[0]), float(g.ys[1] - g.ys[0])
    p = p / (p.sum() * hx * hy)
    return g.xs, p.sum(0) * hy, g.ys, p.sum(1) * hx


