"""Multi-panel figures of multimodal sampling: replicas (or particles) on their tempered
landscapes, mass per mode against its target, and cost against accuracy.

Pure functions: data in, figure out (``matplotlib.figure.Figure``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from .._checks import check_int, check_real
from ..energies.base import Box, Energy
from ..grid import check_box
from .landscape import _axes, plot_landscape
from .style import color, new_figure, style


def _point_sets(replicas: Any) -> list[np.ndarray]:
    if isinstance(replicas, torch.Tensor):
        if replicas.ndim != 3 or replicas.shape[-1] != 2:
            raise ValueError(f"replicas must have shape (R, N, 2), got {tuple(replicas.shape)}")
        sets = list(replicas)
    else:
        sets = list(replicas)
    out = []
    for i, s in enumerate(sets):
        s = torch.as_tensor(s)
        if s.ndim != 2 or s.shape[-1] != 2:
            raise ValueError(f"replicas[{i}] must have shape (N, 2), got {tuple(s.shape)}")
        out.append(s.detach().double().cpu().numpy())
    if not out:
        raise ValueError("replicas must hold at least one panel")
    return out


def _covering_box(base: Box, sets: list[np.ndarray]) -> Box:
    """``base`` grown to hold the central 99 % of every panel's points (5 % margin)."""
    lo = [base[0], base[2]]
    hi = [base[1], base[3]]
    for s in sets:
        pts = s[np.isfinite(s).all(1)]
        if len(pts):
            q_lo, q_hi = np.quantile(pts, 0.005, axis=0), np.quantile(pts, 0.995, axis=0)
            lo = [min(lo[0], q_lo[0]), min(lo[1], q_lo[1])]
            hi = [max(hi[0], q_hi[0]), max(hi[1], q_hi[1])]
    pad = [0.05 * (hi[0] - lo[0]), 0.05 * (hi[1] - lo[1])]
    return (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])


def replica_panels(energy: Energy | Sequence[Energy], replicas: Any,
                   temperatures: Sequence[float] | None = None,
                   titles: Sequence[str] | None = None, box: Box | None = None,
                   ncols: int = 4, n: int = 100, max_points: int = 1500, size: float = 3.0,
                   suptitle: str | None = None) -> Figure:
    """One panel per replica: its points over its own landscape, all panels on one box.

    ``energy``: one ``Energy`` drawn at each of ``temperatures`` (parallel tempering's
    ladder), or one energy per panel (e.g. the targets along an annealing path, drawn at
    ``T = 1`` unless ``temperatures`` is given). ``replicas``: ``(R, N, 2)`` (``pt.replicas(
    state)``) or a sequence of ``(N_r, 2)`` point sets. ``titles`` default to ``"T = …"``.
    ``box`` defaults to the energy's plotting box grown to hold the central 99 % of the
    points (hot replicas spread far)."""
    sets = _point_sets(replicas)
    r = len(sets)
    energies = list(energy) if not isinstance(energy, Energy) else [energy] * r
    if len(energies) != r or not all(isinstance(e, Energy) for e in energies):
        raise ValueError(f"energy must be an Energy or {r} Energy objects (one per panel)")
    if any(e.dim != 2 for e in energies):
        raise ValueError("replica_panels draws 2-D energies")
    temps = [1.0] * r if temperatures is None else [
        check_real("temperatures", t, gt=0.0) for t in temperatures]
    if len(temps) != r:
        raise ValueError(f"temperatures must have one value per panel ({r}), got {len(temps)}")
    if titles is None:
        titles = [f"T = {t:.3g}" for t in temps]
    if len(titles) != r:
        raise ValueError(f"titles must have one entry per panel ({r}), got {len(titles)}")
    ncols = min(check_int("ncols", ncols, ge=1), r)
    max_points = check_int("max_points", max_points, ge=1)
    box = check_box(box) if box is not None else _covering_box(energies[0].box, sets)
    fig, axes = new_figure(math.ceil(r / ncols), ncols, (3.0, 2.6))
    for i, ax in enumerate(axes.flat):
        if i >= r:
            ax.set_visible(False)
            continue
        plot_landscape(energies[i], "log_density", temperature=temps[i], box=box, ax=ax,
                       colorbar=False, contours=True, n=n, backdrop=True, title=titles[i])
        pts = sets[i][:max_points]
        with style():
            ax.scatter(pts[:, 0], pts[:, 1], s=size, color=color(0), alpha=0.7,
                       edgecolors="none", rasterized=True)
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_mode_masses(masses: Mapping[str, Any], target: Any = None, ax=None,
                     title: str = "", xlabel: str = "mode", ylabel: str = "mass") -> Figure:
    """Grouped bars of the mass per mode for each labelled set, with the target as black
    ticks. Values are ``(K,)`` tensors/sequences or ``el.diagnostics.ModeMasses`` (their
    standard errors become error bars; their target is used when ``target`` is None)."""
    if not masses:
        raise ValueError("masses must hold at least one labelled set")
    fig, ax = _axes(ax, (5.6, 3.6))
    names = list(masses)
    rows, errs = [], []
    for name in names:
        m = masses[name]
        if hasattr(m, "mass") and hasattr(m, "stderr"):
            if target is None:
                target = m.target
            rows.append(np.asarray(m.mass, dtype=float))
            errs.append(np.asarray(m.stderr, dtype=float))
        else:
            rows.append(np.asarray(torch.as_tensor(m).double().cpu(), dtype=float).reshape(-1))
            errs.append(None)
    k = rows[0].size
    if any(r.size != k for r in rows):
        raise ValueError("every set must have the same number of modes")
    width = 0.8 / len(names)
    x = np.arange(k)
    with style():
        for i, (name, r, e) in enumerate(zip(names, rows, errs, strict=True)):
            ax.bar(x - 0.4 + (i + 0.5) * width, r, width, yerr=e, color=color(i), label=name,
                   capsize=2 if e is not None else 0, error_kw={"lw": 0.8})
        if target is not None:
            t = np.asarray(torch.as_tensor(target).double().cpu(), dtype=float).reshape(-1)
            if t.size != k:
                raise ValueError(f"target must have {k} values, got {t.size}")
            ax.hlines(t, x - 0.45, x + 0.45, colors="black", lw=1.5, label="target")
        ax.set_xticks(x, [str(i) for i in range(k)])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8, ncol=min(len(names) + 1, 4))
        if title:
            ax.set_title(title)
    return fig


def _curve(v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list | None]:
    if hasattr(v, "cost") and hasattr(v, "error") and hasattr(v, "settings"):
        return (np.asarray(v.cost, float), np.asarray(v.error, float),
                np.asarray(v.error_se, float), list(v.settings))
    if not isinstance(v, (tuple, list)) or len(v) not in (2, 3):
        raise ValueError("each curve must be a BudgetCurve or a (cost, error[, stderr]) tuple")
    se = None if len(v) == 2 else np.asarray(v[2], float)
    return np.asarray(v[0], float), np.asarray(v[1], float), se, None


def budget_plot(curves: Mapping[str, Any], xlabel: str = "gradient evaluations per particle",
                ylabel: str = "mean |log Ẑ − log Z| (nats)", title: str = "",
                annotate: bool = True, ax=None) -> Figure:
    """Cost against accuracy on log-log axes, one line per estimator.

    ``curves``: ``{label: BudgetCurve}`` (``el.diagnostics.budget_curve``) or
    ``{label: (cost, error[, stderr])}``. Standard errors become ±1 SE bars; with
    ``annotate`` each point of a ``BudgetCurve`` is labelled with its setting."""
    if not curves:
        raise ValueError("curves must hold at least one labelled curve")
    fig, ax = _axes(ax, (5.6, 3.9))
    markers = "os^Dv<>"
    with style():
        for i, (label, v) in enumerate(curves.items()):
            cost, err, se, settings = _curve(v)
            if cost.shape != err.shape or cost.ndim != 1 or cost.size == 0:
                raise ValueError(f"curve {label!r}: cost and error must be equal-length lists")
            if (cost <= 0).any() or (err <= 0).any():
                raise ValueError(f"curve {label!r}: log axes need positive costs and errors")
            if se is not None and (se > 0).any():
                lower = np.minimum(se, 0.9 * err)  # keep the bars on the log axis
                ax.errorbar(cost, err, yerr=[lower, se], fmt=markers[i % 7] + "-",
                            color=color(i), capsize=3, label=label)
            else:
                ax.plot(cost, err, markers[i % 7] + "-", color=color(i), label=label)
            if annotate and settings is not None:
                for c, e, s in zip(cost, err, settings, strict=True):
                    ax.annotate(f"{s:g}" if isinstance(s, (int, float)) else str(s), (c, e),
                                textcoords="offset points", xytext=(4, 4), fontsize=7,
                                color=color(i))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        if title:
            ax.set_title(title)
    return fig
