"""Pure figure functions for energy landscapes: data in, figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._checks import check_choice, check_int, check_real
from ..diagnostics import exact_marginals
from ..energies.base import Box, Energy
from ..grid import check_box, energy_on_grid, make_grid
from .style import CMAP_DENSITY, CMAP_ENERGY, color, new_figure, style

KINDS = ("energy", "density", "log_density")
MASS_LEVELS = (0.5, 0.9, 0.99)


def _axes(ax: Axes | None, panel=(4.8, 4.2)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, axes = new_figure(1, 1, panel)
        return fig, axes[0, 0]
    return ax.figure, ax


def _label(ax: Axes, energy: Energy | None = None) -> None:
    names = getattr(energy, "axis_labels", ("$x_1$", "$x_2$"))
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])


def mass_thresholds(log_p: np.ndarray, masses: Sequence[float] = MASS_LEVELS) -> np.ndarray:
    """Log-density levels enclosing the highest-density regions of the given ``masses``."""
    flat = np.sort(log_p.ravel())[::-1]
    p = np.exp(flat - flat[0])
    cum = np.cumsum(p) / p.sum()
    idx = np.searchsorted(cum, masses).clip(0, flat.size - 1)
    return flat[idx]


def landscape_arrays(energy: Energy, kind: str = "density", temperature: float = 1.0,
                     box: Box | None = None, n: int = 200):
    """``(xs, ys, Z, log_p)`` on an ``n × n`` grid: ``Z`` is ``E/T``, ``p_T`` or ``log p_T``."""
    check_choice("kind", kind, KINDS)
    temperature = check_real("temperature", temperature, gt=0.0)
    g = make_grid(check_box(energy.box if box is None else box), check_int("n", n, ge=2))
    e = energy_on_grid(energy, g, temperature)
    log_p = -e - (torch.logsumexp(-e.reshape(-1), 0) + np.log(g.cell_area))
    z = {"energy": e, "density": torch.exp(log_p), "log_density": log_p}[kind]
    return g.xs.numpy(), g.ys.numpy(), z.numpy(), log_p.numpy()


def plot_landscape(energy: Energy, kind: str = "density", temperature: float = 1.0,
                   box: Box | None = None, n: int = 200, contours: bool = True,
                   ax: Axes | None = None, colorbar: bool = True,
                   title: str | None = None, backdrop: bool = False) -> Figure:
    """Heatmap of ``E/T``, ``p_T`` or ``log p_T`` with contours enclosing 50/90/99 % of the mass.

    ``backdrop=True`` draws the log-density in light greys with grey contours, so coloured
    samples and paths drawn on top stay visible.
    """
    xs, ys, z, log_p = landscape_arrays(energy, kind, temperature, box, n)
    fig, ax = _axes(ax)
    with style():
        if kind == "energy":
            lo = float(z.min())
            hi = float(np.quantile(z, 0.9))  # energies blow up at the edges: clip the scale
            im = ax.pcolormesh(xs, ys, z, cmap=CMAP_ENERGY, vmin=lo, vmax=max(hi, lo + 1e-9),
                               shading="auto", rasterized=True)
            label = "energy $E(x)/T$"
        elif backdrop:
            hi = float(log_p.max())
            im = ax.pcolormesh(xs, ys, log_p, cmap="Greys", vmin=hi - 14.0, vmax=hi + 10.0,
                               shading="auto", rasterized=True)
            label = r"log density $\log p_T(x)$"
        elif kind == "log_density":
            hi = float(z.max())
            im = ax.pcolormesh(xs, ys, z, cmap=CMAP_DENSITY, vmin=hi - 15.0, vmax=hi,
                               shading="auto", rasterized=True)
            label = r"log density $\log p_T(x)$"
        else:
            im = ax.pcolormesh(xs, ys, z, cmap=CMAP_DENSITY, shading="auto", rasterized=True)
            label = r"density $p_T(x)$"
        if contours:
            levels = np.unique(mass_thresholds(log_p))
            if levels.size:
                cs = ax.contour(xs, ys, log_p, levels=levels, linewidths=0.9,
                                colors="0.45" if backdrop else "white",
                                linestyles="solid", alpha=0.85)
                fmt = {lv: f"{int(round(m * 100))}%" for lv, m in
                       zip(mass_thresholds(log_p), MASS_LEVELS, strict=True)}
                ax.clabel(cs, fmt=fmt, fontsize=8)
        if colorbar:
            fig.colorbar(im, ax=ax, label=label, shrink=0.9)
        _label(ax, energy)
        ax.set_aspect("equal" if _square_enough(xs, ys) else "auto")
        t = title if title is not None else f"{_name(energy)}, T = {temperature:g}"
        ax.set_title(t)
    return fig


def _square_enough(xs, ys) -> bool:
    r = (xs[-1] - xs[0]) / (ys[-1] - ys[0])
    return 0.75 < r < 1.33


def _name(energy: Energy) -> str:
    return getattr(energy, "spec_name", type(energy).__name__)


def plot_temperatures(energy: Energy, temperatures: Sequence[float], kind: str = "density",
                      box: Box | None = None, n: int = 160) -> Figure:
    """One panel per temperature: how ``p_T ∝ exp(-E/T)`` flattens as ``T`` grows."""
    temps = [check_real("temperatures", t, gt=0.0) for t in temperatures]
    if not temps:
        raise ValueError("temperatures must not be empty")
    fig, axes = new_figure(1, len(temps), (3.6, 3.5))
    for ax, t in zip(axes[0], temps, strict=True):
        plot_landscape(energy, kind, t, box, n, ax=ax, colorbar=False, title=f"T = {t:g}")
    fig.suptitle(f"{_name(energy)}: Boltzmann density at several temperatures")
    return fig


def plot_gradient_field(energy: Energy, temperature: float = 1.0, box: Box | None = None,
                        n: int = 21, ax: Axes | None = None, background: bool = True) -> Figure:
    """Force field ``-∇E(x)/T`` as arrows (direction; colour is the magnitude, log scale)."""
    temperature = check_real("temperature", temperature, gt=0.0)
    box = check_box(energy.box if box is None else box)
    fig, ax = _axes(ax)
    if background:
        xs, ys, _, log_p = landscape_arrays(energy, "log_density", temperature, box, 160)
        top = float(log_p.max())
        with style():
            ax.pcolormesh(xs, ys, log_p, cmap="Greys", vmin=top - 12.0, vmax=top + 2.0,
                          shading="auto", rasterized=True)
    g = make_grid(box, check_int("n", n, ge=2))
    pts = g.points.to(torch.get_default_dtype())
    force = -energy.grad(pts).detach().double() / temperature
    mag = torch.linalg.vector_norm(force, dim=1).clamp_min(1e-12)
    u = (force[:, 0] / mag).reshape(g.shape).numpy()
    v = (force[:, 1] / mag).reshape(g.shape).numpy()
    with style():
        logmag = np.log10(mag.reshape(g.shape).numpy())
        q = ax.quiver(g.xs.numpy(), g.ys.numpy(), u, v, logmag, cmap="plasma", pivot="mid",
                      scale=n * 1.2, width=0.005)
        q.set_clim(*np.quantile(logmag, [0.05, 0.95]))
        fig.colorbar(q, ax=ax, label=r"$\log_{10}\,\|\nabla E\|/T$", shrink=0.9)
        _label(ax, energy)
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
        ax.set_title(f"force $-\\nabla E/T$ (arrows: direction), T = {temperature:g}")
    return fig


def plot_samples(samples: torch.Tensor | Mapping[str, torch.Tensor],
                 energy: Energy | None = None, box: Box | None = None, ax: Axes | None = None,
                 temperature: float = 1.0, max_points: int = 3000, size: float = 4.0) -> Figure:
    """Scatter of samples ``(N, 2)`` (or a dict of labelled sets) over the landscape."""
    sets = samples if isinstance(samples, Mapping) else {"samples": samples}
    fig, ax = _axes(ax)
    if energy is not None:
        plot_landscape(energy, "log_density", temperature, box, ax=ax, contours=True,
                       colorbar=False, backdrop=True)
    with style():
        for i, (label, s) in enumerate(sets.items()):
            s = _points(s, "samples")[:max_points]
            ax.scatter(s[:, 0], s[:, 1], s=size, alpha=0.6, color=color(i),
                       label=label, edgecolors="none", rasterized=True)
        if len(sets) > 1 or isinstance(samples, Mapping):
            ax.legend(loc="upper right", markerscale=3, framealpha=0.9)
        if box is not None or energy is not None:
            b = check_box(box if box is not None else energy.box)
            ax.set_xlim(b[0], b[1])
            ax.set_ylim(b[2], b[3])
        _label(ax, energy)
    return fig


def plot_trajectories(paths: torch.Tensor, energy: Energy | None = None, box: Box | None = None,
                      ax: Axes | None = None, max_paths: int = 10, label: str = "chain") -> Figure:
    """Paths ``(T, N, 2)`` as lines; a circle marks each start, a cross each end."""
    if not isinstance(paths, torch.Tensor) or paths.ndim != 3 or paths.shape[-1] != 2:
        raise ValueError(f"paths must be a tensor of shape (T, N, 2), got "
                         f"{getattr(paths, 'shape', type(paths).__name__)}")
    p = paths.detach().double().cpu().numpy()[:, :max_paths]
    fig, ax = _axes(ax)
    if energy is not None:
        plot_landscape(energy, "log_density", 1.0, box, ax=ax, contours=False, colorbar=False,
                       backdrop=True)
    with style():
        for i in range(p.shape[1]):
            c = color(i + 1)
            ax.plot(p[:, i, 0], p[:, i, 1], "-", color=c, lw=1.2, alpha=0.9,
                    label=label if i == 0 else None)
            ax.plot(p[0, i, 0], p[0, i, 1], "o", color=c, ms=5, mec="white")
            ax.plot(p[-1, i, 0], p[-1, i, 1], "X", color=c, ms=7, mec="white")
        _label(ax, energy)
    return fig


def plot_marginals(samples: torch.Tensor | Mapping[str, torch.Tensor], energy: Energy,
                   box: Box | None = None, bins: int = 60, temperature: float = 1.0) -> Figure:
    """Histograms of each coordinate of the samples against the exact marginal densities."""
    sets = samples if isinstance(samples, Mapping) else {"samples": samples}
    box = check_box(energy.box if box is None else box)
    xs, px, ys, py = exact_marginals(energy, box, temperature=temperature)
    fig, axes = new_figure(1, 2, (4.4, 3.4))
    names = getattr(energy, "axis_labels", ("$x_1$", "$x_2$"))
    with style():
        for j, (ax, grid_v, dens, lim) in enumerate(zip(
                axes[0], (xs, ys), (px, py), (box[:2], box[2:]), strict=True)):
            for i, (label, s) in enumerate(sets.items()):
                s = _points(s, "samples")
                ax.hist(s[:, j], bins=bins, range=lim, density=True, histtype="stepfilled",
                        alpha=0.35, color=color(i), label=label)
            ax.plot(grid_v.numpy(), dens.numpy(), color="black", lw=1.6, label="exact")
            ax.set_xlabel(names[j])
            ax.set_ylabel("density")
            ax.set_xlim(*lim)
        axes[0, 0].legend(loc="upper right")
        fig.suptitle(f"{_name(energy)}: marginals, T = {temperature:g}")
    return fig


def _points(s: torch.Tensor, name: str) -> np.ndarray:
    if not isinstance(s, torch.Tensor) or s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"{name} must be a tensor of shape (N, 2), got "
                         f"{getattr(s, 'shape', type(s).__name__)}")
    return s.detach().double().cpu().numpy()


def surface_3d(energy: Energy, kind: str = "energy", temperature: float = 1.0,
               box: Box | None = None, n: int = 80, clip_quantile: float = 0.9):
    """Interactive plotly 3-D surface of ``E/T`` (clipped at a quantile) or ``p_T``."""
    import plotly.graph_objects as go

    xs, ys, z, _ = landscape_arrays(energy, kind, temperature, box, n)
    if kind == "energy":
        z = np.minimum(z, np.quantile(z, clip_quantile))
    names = getattr(energy, "axis_labels", ("x1", "x2"))
    zlabel = {"energy": "E(x)/T", "density": "p_T(x)", "log_density": "log p_T(x)"}[kind]
    fig = go.Figure(go.Surface(x=xs, y=ys, z=z, colorscale="Viridis",
                               colorbar={"title": {"text": zlabel}}))
    fig.update_layout(
        title=f"{_name(energy)}, T = {temperature:g}",
        scene={"xaxis_title": names[0].strip("$").replace("_", ""),
               "yaxis_title": names[1].strip("$").replace("_", ""), "zaxis_title": zlabel},
        width=640, height=520, margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return fig


def plot_curves(x: Sequence[float], curves: Mapping[str, Sequence[float]], xlabel: str,
                ylabel: str, title: str = "", logx: bool = False, ax: Axes | None = None,
                styles: Mapping[str, str] | None = None) -> Figure:
    """Labelled line plot of several curves against one x (for sweeps and comparisons)."""
    fig, ax = _axes(ax, (5.2, 3.8))
    with style():
        for i, (label, y) in enumerate(curves.items()):
            ls = (styles or {}).get(label, "-o")
            ax.plot(list(x), list(y), ls, color=color(i), label=label, ms=4)
        if logx:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            xs = list(x)
            if len(xs) <= 12:
                ax.set_xticks(xs, [f"{v:g}" for v in xs])
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3)
    return fig
