"""Sample discrepancies: unbiased MMD² with the median-heuristic RBF kernel (two samples),
and the kernel Stein discrepancy (one sample and the energy's gradient only)."""

from __future__ import annotations

from typing import Any

import torch

from .._checks import check_int, make_generator
from ..energies.base import Energy


def _points(x: Any, name: str) -> torch.Tensor:
    s = getattr(x, "samples", None)
    if s is not None:  # a Trace: every chain's final kept state is one independent draw
        x = s[-1]
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"{name} must be a Trace or an (N, D) tensor, got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return x.detach()


def _subsample(x: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    if x.shape[0] <= n:
        return x
    idx = torch.randperm(x.shape[0], generator=gen)[:n]
    return x[idx.to(x.device)]


def median_bandwidth(x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Median pairwise distance of the pooled points (the median heuristic)."""
    z = x if y is None else torch.cat([x, y])
    z = z[:1000].double()
    d = torch.cdist(z, z)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)].median())


def _mmd2(x: torch.Tensor, y: torch.Tensor, h: float) -> torch.Tensor:
    m, n = x.shape[0], y.shape[0]
    kxx = torch.exp(-torch.cdist(x, x).pow(2) / (2 * h * h))
    kyy = torch.exp(-torch.cdist(y, y).pow(2) / (2 * h * h))
    kxy = torch.exp(-torch.cdist(x, y).pow(2) / (2 * h * h))
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean())


def mmd(x: Any, y: Any, bandwidth: float | None = None, max_points: int = 2000,
        seed: int = 0) -> float:
    """Unbiased ``MMD² = E k(x,x') + E k(y,y') - 2 E k(x,y)`` with ``k = exp(-‖a-b‖²/2h²)``,
    ``h`` the median pairwise distance unless given. Samples are ``(N, D)`` tensors or
    Traces (final states). At most ``max_points`` of each are used (seeded subsample)."""
    gen = make_generator(seed)
    a = _subsample(_points(x, "x"), check_int("max_points", max_points, ge=2), gen).double()
    b = _subsample(_points(y, "y"), max_points, gen).double().to(a.device)
    h = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    return float(_mmd2(a, b, h))


def mmd_test(x: Any, y: Any, n_permutations: int = 200, max_points: int = 1000,
             seed: int = 0) -> dict[str, float]:
    """Permutation test of ``p_x = p_y`` with the unbiased MMD²: statistic, p-value and the
    standard deviation of MMD² under the null (the scale to judge an MMD² by)."""
    gen = make_generator(seed)
    a = _subsample(_points(x, "x"), max_points, gen).double()
    b = _subsample(_points(y, "y"), max_points, gen).double().to(a.device)
    h = median_bandwidth(a, b)
    stat = float(_mmd2(a, b, h))
    z = torch.cat([a, b])
    k = torch.exp(-torch.cdist(z, z).pow(2) / (2 * h * h))
    k.fill_diagonal_(0.0)
    m, n = a.shape[0], b.shape[0]
    null = []
    for _ in range(check_int("n_permutations", n_permutations, ge=10)):
        p = torch.randperm(m + n, generator=gen).to(z.device)
        ia, ib = p[:m], p[m:]
        v = (k[ia][:, ia].sum() / (m * (m - 1)) + k[ib][:, ib].sum() / (n * (n - 1))
             - 2 * k[ia][:, ib].mean())
        null.append(float(v))
    null_t = torch.tensor(null)
    return {"mmd2": stat, "p_value": float(((null_t >= stat).sum() + 1) / (len(null) + 1)),
            "null_std": float(null_t.std())}


def ksd(x: Any, energy: Energy, c: float = 1.0, beta: float = -0.5,
        max_points: int = 2000, seed: int = 0) -> float:
    """Kernel Stein discrepancy² (U-statistic) of samples against ``p ∝ e^{-E}``, with the IMQ
    kernel ``k = (c² + ‖r‖²)^β``: needs only the score ``s = -∇E``, not ``log Z``.

    ``u(x,y) = s(x)·s(y) k + s(x)·∇_y k + s(y)·∇_x k + tr ∇_x∇_y k`` with ``r = x - y``,
    ``q = c² + ‖r‖²``: ``∇_x k = 2β q^{β-1} r`` and
    ``tr ∇_x∇_y k = -2β [D q^{β-1} + 2(β-1) q^{β-2} ‖r‖²]``. Zero iff the samples follow p.
    """
    gen = make_generator(seed)
    pts = _subsample(_points(x, "x"), max_points, gen)
    with torch.no_grad():
        s = -energy.grad(pts.to(torch.float64 if not any(True for _ in energy.parameters())
                                else pts.dtype)).double()
    p = pts.double()
    n, d = p.shape
    r = p[:, None, :] - p[None, :, :]
    r2 = (r * r).sum(-1)
    q = c * c + r2
    k = q**beta
    dk = 2 * beta * q ** (beta - 1)  # ∇_x k = dk r, ∇_y k = -dk r
    sr_x = (s[:, None, :] * r).sum(-1)  # s(x_i)·r_ij
    sr_y = (s[None, :, :] * r).sum(-1)  # s(x_j)·r_ij
    u = (s @ s.T) * k - dk * sr_x + dk * sr_y \
        - 2 * beta * (d * q ** (beta - 1) + 2 * (beta - 1) * q ** (beta - 2) * r2)
    u.fill_diagonal_(0.0)
    return float(u.sum() / (n * (n - 1)))
