"""Plotly helpers shared by the widgets: landscape arrays, contour and arrow polylines.

Every function returns plain arrays for existing traces to take (``trace.z = ...``): the
widgets update data in place and never rebuild figures.
"""

from __future__ import annotations

import contourpy
import numpy as np
import torch

from ..energies.base import Energy
from ..grid import make_grid
from ..viz.landscape import landscape_arrays, mass_thresholds
from ..viz.style import OKABE_ITO

VIEWS = ("density", "log_density", "energy")
COLORS = tuple(OKABE_ITO[i] for i in (1, 5, 2, 3, 4, 0))  # panel colours, one palette


def view_arrays(energy: Energy, view: str, temperature: float, n: int = 200):
    """``(xs, ys, z, log_p, log_z)`` from one grid evaluation: ``z`` is the heatmap (clipped
    for display like ``viz``), ``log_z`` the quadrature ``log Z_T``."""
    xs, ys, e, log_p = landscape_arrays(energy, "energy", temperature, n=n)  # e = E/T
    log_z = float(-(e[0, 0] + log_p[0, 0]))  # log p = -E/T - log Z at every cell
    if view == "energy":
        z = np.minimum(e, np.quantile(e, 0.9))
    elif view == "log_density":
        z = np.maximum(log_p, log_p.max() - 15.0)
    else:
        z = np.exp(log_p)
    return xs, ys, z, log_p, log_z


def contour_lines(xs, ys, log_p) -> tuple[list, list]:
    """Polylines enclosing 50/90/99 % of the mass, joined with ``None`` separators."""
    gen = contourpy.contour_generator(xs, ys, log_p)
    px: list = []
    py: list = []
    for level in mass_thresholds(log_p):
        for line in gen.lines(float(level)):
            px += list(line[:, 0]) + [None]
            py += list(line[:, 1]) + [None]
    return px, py


def arrows(energy: Energy, temperature: float, n: int = 17) -> tuple[list, list]:
    """Force-field arrows ``-∇E/T`` (direction only) as line segments with small heads."""
    box = energy.box
    g = make_grid(box, n)
    pts = g.points.to(torch.get_default_dtype())
    with torch.no_grad():
        f = -energy.grad(pts).double() / temperature
    mag = torch.linalg.vector_norm(f, dim=1, keepdim=True).clamp_min(1e-12)
    u = (f / mag).numpy()
    p = g.points.numpy()
    scale = 0.4 * min((box[1] - box[0]) / n, (box[3] - box[2]) / n)
    px: list = []
    py: list = []
    for (x, y), (dx, dy) in zip(p, u, strict=True):
        tx, ty = x + scale * dx, y + scale * dy
        hx, hy = -0.35 * scale * dx, -0.35 * scale * dy
        px += [x - scale * dx, tx, None, tx, tx + hx - 0.25 * hy, None, tx, tx + hx + 0.25 * hy,
               None]
        py += [y - scale * dy, ty, None, ty, ty + hy + 0.25 * hx, None, ty, ty + hy - 0.25 * hx,
               None]
    return px, py
