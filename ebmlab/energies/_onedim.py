"""Exact 1-D tools for separable landscapes: log-integrals and rejection sampling.

Both work on an unnormalised log-density ``log f`` of one variable, in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import integrate

LogF = Callable[[np.ndarray], np.ndarray]

# Beyond this many nats below the maximum a density contributes < 1e-300: truncation is exact
# to double precision.
_TAIL_NATS = 700.0


def support(log_f: LogF, modes: Sequence[float], scale: float) -> tuple[float, float, float]:
    """Interval ``[lo, hi]`` outside which ``f`` is below ``max f · e^-700``; and ``max log f``.

    ``modes`` must contain the global maximiser; ``log f`` must decrease beyond the
    outermost mode (true for every landscape here).
    """
    modes = np.asarray(modes, dtype=float)
    top = float(np.max(log_f(modes)))
    lo, hi = float(modes.min()), float(modes.max())
    step = scale
    while log_f(np.array([lo - step]))[0] > top - _TAIL_NATS:
        step *= 2.0
    lo -= step
    step = scale
    while log_f(np.array([hi + step]))[0] > top - _TAIL_NATS:
        step *= 2.0
    hi += step
    return lo, hi, top


def log_integral(log_f: LogF, lo: float, hi: float, top: float, points: Sequence[float]) -> float:
    """``log ∫_lo^hi f(x) dx`` by adaptive quadrature (relative error ~1e-12)."""

    def g(x: float) -> float:
        return math.exp(float(log_f(np.array([x]))[0]) - top)

    pts = sorted(p for p in points if lo < p < hi)
    val, _ = integrate.quad(g, lo, hi, points=pts or None, limit=500, epsabs=0.0, epsrel=1e-12)
    return top + math.log(val)


def rejection_sample(
    log_f: LogF,
    lo: float,
    hi: float,
    critical: Sequence[float],
    n: int,
    gen: torch.Generator,
    cells: int = 4096,
) -> np.ndarray:
    """Exact samples of ``f`` on ``[lo, hi]`` by rejection from a piecewise-constant envelope.

    On each cell the envelope is ``max f`` over the cell's end points and every critical
    point of ``f`` inside it, which bounds a differentiable ``f`` from above; so accepted
    draws are exact samples.
    """
    edges = np.linspace(lo, hi, cells + 1)
    bound = np.maximum(log_f(edges[:-1]), log_f(edges[1:]))
    crit = np.asarray([c for c in critical if lo < c < hi], dtype=float)
    if crit.size:
        idx = np.clip(np.searchsorted(edges, crit) - 1, 0, cells - 1)
        np.maximum.at(bound, idx, log_f(crit))
    width = edges[1] - edges[0]
    weights = torch.from_numpy(np.exp(bound - bound.max()))
    bound_t = torch.from_numpy(bound)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(2 * (n - have), 64)
        j = torch.multinomial(weights, m, replacement=True, generator=gen)
        u = torch.rand(m, generator=gen, dtype=torch.float64)
        x = torch.from_numpy(edges[:-1])[j] + width * u
        v = torch.rand(m, generator=gen, dtype=torch.float64)
        logf_x = torch.from_numpy(log_f(x.numpy()))
        keep = torch.log(v) < logf_x - bound_t[j]
        out.append(x[keep].numpy())
        have += int(keep.sum())
    return np.concatenate(out)[:n]


def interval(log_f: LogF, modes: Sequence[float], scale: float,
             nats: float = 25.0) -> tuple[float, float]:
    """Tightest ``[lo, hi]`` (to ~1e-3 ``scale``) beyond which ``log f < max log f - nats``.

    Same assumptions as :func:`support`. At ``nats = 25`` the density at the ends is
    ``e^-25 ≈ 1e-11`` of its peak; for the (sub-)Gaussian tails here the mass outside is
    smaller still.
    """
    modes = np.asarray(modes, dtype=float)
    top = float(np.max(log_f(modes)))
    cut = top - nats

    def outward(start: float, sign: float) -> float:
        inside, step = 0.0, scale  # log f(start + sign·inside) >= cut is known
        while log_f(np.array([start + sign * (inside + step)]))[0] >= cut:
            inside += step
            step *= 2.0
        outside = inside + step
        while outside - inside > 1e-3 * scale:
            mid = 0.5 * (inside + outside)
            if log_f(np.array([start + sign * mid]))[0] >= cut:
                inside = mid
            else:
                outside = mid
        return start + sign * outside

    return outward(float(modes.min()), -1.0), outward(float(modes.max()), 1.0)
