"""Figures for diffusion models and Feynman–Kac correctors: weighted 1-D histograms against
an exact density, ESS traces with resampling events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from .landscape import _axes
from .style import color, style


def _np(v: Any) -> np.ndarray:
    return np.asarray(torch.as_tensor(v).detach().double().cpu(), dtype=float)


def plot_density_1d(samples: Mapping[str, Any], x: Sequence[float], density: Sequence[float],
                    bins: int = 80, xlabel: str = "x", title: str = "",
                    target_label: str = "exact target", ax=None) -> Figure:
    """Histograms (densities) of 1-D samples against an exact density curve.

    ``samples``: ``{label: (N,) or (N, 1) points}`` or ``{label: (points, weights)}``
    (weighted particles, e.g. ``(res.samples, res.weights())``)."""
    fig, ax = _axes(ax, (6.0, 3.8))
    xg, p = _np(x), _np(density)
    edges = np.linspace(xg[0], xg[-1], bins + 1)
    with style():
        for i, (label, v) in enumerate(samples.items()):
            pts, w = (v if isinstance(v, tuple) else (v, None))
            pts = _np(pts).reshape(-1)
            ww = None if w is None else _np(w).reshape(-1)
            ax.hist(pts, bins=edges, weights=ww, density=True, histtype="step", lw=1.8,
                    color=color(i), label=label)
        ax.plot(xg, p, color="black", lw=1.2, ls="--", label=target_label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
    return fig


def plot_ess_traces(results: Mapping[str, Any], title: str = "", ax=None) -> Figure:
    """``ESS / N`` against diffusion time for particle results (``extras["t"]`` from
    ``ebmlab.diffusion.fk_sample``), resampling events as ticks at the bottom; time runs
    from noise (left) to data (right)."""
    fig, ax = _axes(ax, (6.0, 3.6))
    with style():
        for i, (label, r) in enumerate(results.items()):
            t = np.asarray(r.extras.get("t", r.times), dtype=float)
            n = r.samples.shape[0]
            e = np.asarray(r.ess_history, dtype=float) / n
            ax.plot(t, e, color=color(i), lw=1.4, label=f"{label} ({sum(r.resampled)} resamplings)")
            ev = [t[k + 1] for k, done in enumerate(r.resampled) if done]
            ax.plot(ev, np.full(len(ev), -0.04 - 0.04 * i), "|", color=color(i), ms=8)
        ax.set_xlim(max(ax.get_xlim()), min(ax.get_xlim()))
        ax.set_ylim(-0.05 - 0.04 * len(results), 1.05)
        ax.set_xlabel("diffusion time t (noise → data)")
        ax.set_ylabel("ESS / N before resampling")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title)
    return fig
