"""Regular grids over a box, and energies evaluated on them (float64 where possible).

Grid points are cell centres, so sums over the grid are midpoint-rule quadratures. For
numerics (``el.diagnostics``) the box defaults to ``energy.domain``, where the energy declares
grid numerics trustworthy; ``energy.box`` is only the plotting view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_int
from .energies.base import Box, Energy


@dataclass(frozen=True)
class Grid:
    """Cell centres ``xs: (nx,)``, ``ys: (ny,)``; ``points: (ny·nx, 2)`` with x fastest."""

    xs: torch.Tensor
    ys: torch.Tensor
    box: Box

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ys.numel(), self.xs.numel())

    @property
    def cell_area(self) -> float:
        return float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))

    @property
    def points(self) -> torch.Tensor:
        gx, gy = torch.meshgrid(self.xs, self.ys, indexing="xy")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def check_box(box: object) -> Box:
    try:
        b = tuple(float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"box must be (xmin, xmax, ymin, ymax), got {box!r}") from None
    if len(b) != 4 or not (b[0] < b[1] and b[2] < b[3]):
        raise ValueError(f"box must be (xmin, xmax, ymin, ymax) with xmin < xmax and "
                         f"ymin < ymax, got {box!r}")
    return b  # type: ignore[return-value]


def make_grid(box: Box, n: int = 200, dtype: torch.dtype = torch.float64) -> Grid:
    """An ``n × n`` grid of cell centres over ``box`` (a plotting view or a ``domain``)."""
    box = check_box(box)
    n = check_int("n", n, ge=2)
    hx, hy = (box[1] - box[0]) / n, (box[3] - box[2]) / n
    xs = box[0] + hx * (torch.arange(n, dtype=dtype) + 0.5)
    ys = box[2] + hy * (torch.arange(n, dtype=dtype) + 0.5)
    return Grid(xs, ys, box)


def eval_dtype(energy: Energy) -> torch.dtype:
    """float64 for analytic energies (exact quadrature), the module's dtype for networks."""
    for p in energy.parameters():
        return p.dtype
    return torch.float64


def energy_values(energy: Energy, points: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """``E(points)`` without autograd, in chunks: ``(M, D) -> (M,)`` float64."""
    dtype = eval_dtype(energy)
    out = []
    with torch.no_grad():
        for i in range(0, points.shape[0], chunk):
            out.append(energy(points[i:i + chunk].to(dtype)).double())
    return torch.cat(out)


def energy_on_grid(energy: Energy, grid: Grid, temperature: float = 1.0) -> torch.Tensor:
    """``E(x)/T`` at every cell centre: ``-> (ny, nx)`` float64 (2-D energies only)."""
    if energy.dim != 2:
        raise ValueError(f"grid evaluation needs a 2-D energy, got dim={energy.dim}")
    return (energy_values(energy, grid.points) / temperature).reshape(grid.shape)

