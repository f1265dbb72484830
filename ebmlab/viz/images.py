"""Figures of images: grids of small images (samples, inpaintings, neighbours) and overlaid
histograms of a score per group (energies of train / test / other images)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .style import color, new_figure, style


def _images(x: Any, image_shape: Sequence[int]) -> np.ndarray:
    a = x.detach().double().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, float)
    shape = tuple(int(v) for v in image_shape)
    if len(shape) == 3:
        if shape[0] != 1:
            raise ValueError(f"only one-channel images can be drawn, got image_shape {shape}")
        shape = shape[1:]
    n = a.shape[0]
    if a.size != n * shape[0] * shape[1]:
        raise ValueError(f"images must be (N, {shape[0] * shape[1]}) or (N, 1, {shape[0]}, "
                         f"{shape[1]}), got {a.shape}")
    return a.reshape(n, *shape)


def plot_image_grid(rows: Mapping[str, Any] | Any, image_shape: Sequence[int] = (8, 8),
                    ncols: int | None = None, title: str = "", vmin: float = 0.0,
                    vmax: float = 1.0, col_labels: Sequence[str] | None = None,
                    panel: float = 0.62) -> Figure:
    """A grid of greyscale images (ink dark on white, ``vmin``..``vmax``; values outside are
    clipped for display only).

    ``rows``: a mapping ``label -> images (n, H·W)`` — one labelled row per entry (e.g. the
    buffer and fresh chains at successive training steps, or observed / inpainted / truth) —
    or a single tensor, laid out in rows of ``ncols``. ``col_labels`` titles the columns.
    """
    if isinstance(rows, Mapping):
        blocks = {str(k): _images(v, image_shape) for k, v in rows.items()}
        ncols = ncols or max(len(b) for b in blocks.values())
        layout = [(k, b[:ncols]) for k, b in blocks.items()]
    else:
        imgs = _images(rows, image_shape)
        ncols = ncols or min(len(imgs), 10)
        layout = [("", imgs[i:i + ncols]) for i in range(0, len(imgs), ncols)]
    nrows = len(layout)
    labelled = any(k for k, _ in layout)
    fig, axes = new_figure(nrows, ncols, (panel, panel), gridspec_kw={"wspace": 0.02,
                                                                      "hspace": 0.02})
    fig.set_size_inches(panel * ncols + (1.6 if labelled else 0.2),
                        panel * nrows + (0.5 if title else 0.1) + (0.25 if col_labels else 0))
    with style():
        for r, (label, block) in enumerate(layout):
            for c in range(ncols):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
                if c < len(block):
                    ax.imshow(np.clip(block[c], vmin, vmax), cmap="gray_r", vmin=vmin,
                              vmax=vmax, interpolation="nearest")
                if c == 0 and label:
                    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
                if r == 0 and col_labels is not None and c < len(col_labels):
                    ax.set_title(col_labels[c], fontsize=8)
        if title:
            fig.suptitle(title)
    return fig


def plot_histograms(values: Mapping[str, Any], xlabel: str, title: str = "",
                    bins: int = 40, density: bool = True, ax=None,
                    markers: Mapping[str, float] | None = None) -> Figure:
    """Overlaid step histograms of one score per group (``label -> (n,) values``), each
    group's mean marked by a dashed line; ``markers`` adds labelled vertical lines."""
    if ax is None:
        fig, axes = new_figure(1, 1, (6.4, 3.8))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    arrays = {k: np.asarray(v.detach().double().cpu() if hasattr(v, "detach") else v,
                            dtype=float).ravel() for k, v in values.items()}
    allv = np.concatenate([a[np.isfinite(a)] for a in arrays.values()])
    edges = np.linspace(allv.min(), allv.max(), bins + 1)
    with style():
        for i, (k, a) in enumerate(arrays.items()):
            ax.hist(a, bins=edges, density=density, histtype="step", lw=1.8, color=color(i),
                    label=f"{k} (n={a.size}, mean {a.mean():.3g})")
            ax.axvline(a.mean(), color=color(i), ls="--", lw=1.0)
        for j, (k, v) in enumerate((markers or {}).items()):
            ax.axvline(v, color="black", ls=":", lw=1.2)
            ax.annotate(k, (v, 0.95 - 0.08 * j), xycoords=("data", "axes fraction"),
                        fontsize=8, ha="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density" if density else "count")
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
    return fig
