"""Figures of MCMC output: trace plots, autocorrelation, bar charts of a metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..diagnostics import autocorrelation
from .style import color, new_figure, style


def _samples(x: Any) -> np.ndarray:
    s = getattr(x, "samples", x)
    s = s.detach().double().cpu().numpy()
    if s.ndim != 3:
        raise ValueError(f"samples must have shape (draws, chains, D), got {s.shape}")
    return s


def plot_traces(trace: Any, dims: Sequence[int] = (0, 1), max_chains: int = 4,
                labels: Sequence[str] | None = None, title: str = "") -> Figure:
    """Trace plot: each coordinate against the kept step, one colour per chain."""
    s = _samples(trace)
    thin = getattr(trace, "thin", 1)
    steps = np.arange(1, s.shape[0] + 1) * thin
    fig, axes = new_figure(len(dims), 1, (8.0, 2.2))
    with style():
        for ax, d in zip(axes[:, 0], dims, strict=True):
            for c in range(min(max_chains, s.shape[1])):
                ax.plot(steps, s[:, c, d], lw=0.8, color=color(c), alpha=0.9,
                        label=f"chain {c}")
            ax.set_ylabel(labels[d] if labels else f"$x_{d + 1}$")
            ax.set_xlabel("step (after warm-up)")
        axes[0, 0].legend(ncol=min(max_chains, s.shape[1]), loc="upper right", fontsize=8)
        if title:
            fig.suptitle(title)
    return fig


def plot_autocorrelation(traces: Mapping[str, Any], dim: int = 0, max_lag: int = 50,
                         title: str = "") -> Figure:
    """Autocorrelation of one coordinate against the lag (in sampler steps), per sampler."""
    fig, axes = new_figure(1, 1, (5.6, 3.8))
    ax = axes[0, 0]
    with style():
        for i, (name, t) in enumerate(traces.items()):
            thin = getattr(t, "thin", 1)
            acf = autocorrelation(t, max_lag=max_lag // thin)[:, dim].numpy()
            ax.plot(np.arange(acf.size) * thin, acf, "-o", ms=3, color=color(i), label=name)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("lag (steps)")
        ax.set_ylabel(f"autocorrelation of $x_{dim + 1}$")
        ax.legend()
        ax.grid(alpha=0.3)
        ax.set_title(title or "Autocorrelation")
    return fig


def plot_bars(values: Mapping[str, float], ylabel: str, title: str = "",
              log: bool = False, annotate: str = "{:.3g}", ax=None) -> Figure:
    """One labelled bar per entry (e.g. ESS per gradient evaluation for each sampler)."""
    if ax is None:
        fig, axes = new_figure(1, 1, (5.2, 3.6))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    names = list(values)
    vals = [float(values[k]) for k in names]
    with style():
        bars = ax.bar(names, vals, color=[color(i) for i in range(len(names))])
        for b, v in zip(bars, vals, strict=True):
            ax.annotate(annotate.format(v), (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=9)
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_xlabel("sampler")
        if title:
            ax.set_title(title)
    return fig
