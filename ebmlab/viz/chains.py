"""Figures of MCMC output: trace plots, autocorrelation, bar charts of a metric, an error
against a step size with its fitted order."""

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


def plot_error_order(x: Sequence[float], errors: Mapping[str, tuple[Sequence[float],
                                                                  Sequence[float]]],
                     fits: Mapping[str, Mapping[str, float]] | None = None,
                     reference_orders: Sequence[float] = (1.0, 2.0), xlabel: str = "step size ε",
                     ylabel: str = "error", title: str = "", ax=None) -> Figure:
    """An error against a step size on log–log axes: measured points with ±2 SE bars, the
    fitted power law ``a·x^p`` of each series (from ``el.diagnostics.power_law_fit``; legend
    "order p ± se") and faint reference slopes through the middle of the data.

    ``errors``: ``{label: (values, standard_errors)}``. Non-positive values cannot be shown on
    a log axis; they are left out of the plot (not out of the fit).
    """
    if ax is None:
        fig, axes = new_figure(1, 1, (5.4, 4.0))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    xs = np.asarray(x, dtype=float)
    if (xs <= 0).any():
        raise ValueError("x must be positive for a log–log plot")
    with style():
        mids = []
        for i, (label, (y, se)) in enumerate(errors.items()):
            y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
            if y.shape != xs.shape or se.shape != xs.shape:
                raise ValueError(f"{label!r}: values and standard errors need {xs.size} entries")
            ok = y > 0
            lower = np.minimum(2 * se, 0.999 * y)  # a log axis cannot reach zero
            ax.errorbar(xs[ok], y[ok], yerr=[lower[ok], 2 * se[ok]], fmt="o", ms=5,
                        capsize=3, color=color(i), label=f"{label} (±2 SE)")
            fit = (fits or {}).get(label)
            if fit is not None:
                grid = np.geomspace(xs.min(), xs.max(), 50)
                ax.plot(grid, fit["prefactor"] * grid ** fit["order"], "-", color=color(i),
                        label=f"{label} fit: order {fit['order']:.2f} ± {fit['order_se']:.2f}")
            if ok.any():
                mids.append(float(np.exp(np.log(y[ok]).mean())))
        x0 = float(np.exp(np.log(xs).mean()))
        y0 = float(np.exp(np.mean(np.log(mids)))) if mids else 1.0
        dashes = ((0, (5, 3)), (0, (1, 2)), (0, (6, 2, 1, 2)))
        for k, p in enumerate(reference_orders):
            ref = y0 * (xs / x0) ** p
            ax.plot(xs, ref, ls=dashes[k % len(dashes)], color="grey", lw=1,
                    label=f"slope {p:g}")
            ax.annotate(f"slope {p:g}", (xs.max(), ref[xs.argmax()]), xytext=(3, 0),
                        textcoords="offset points", fontsize=8, color="grey", va="center")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if xs.size <= 12:
            from matplotlib.ticker import NullFormatter

            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
        if title:
            ax.set_title(title)
    return fig
