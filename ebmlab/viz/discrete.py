"""Figures for discrete models: an RBM's filters on a diverging scale and labelled heat maps
side by side (a distribution on a 2-D grid against its target). Greyscale image grids
(samples, spin configurations): ``plot_image_grid`` in ``images.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from .style import new_figure, style


def _array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().double().cpu().numpy()
    return np.asarray(x, dtype=float)


def plot_filters(weights: Any, shape: tuple[int, int], ncols: int = 8,
                 titles: Sequence[str] | None = None, suptitle: str = "",
                 panel: float = 1.0) -> Figure:
    """``weights: (n, H·W)`` (e.g. an RBM's ``W.T``: one row per hidden unit) as an
    ``n``-panel grid of ``H × W`` images without axes, on one colour-blind-safe diverging
    scale centred on 0 (``PuOr``: purple negative, orange positive), with a colour bar.
    (Greyscale images such as samples: ``plot_image_grid``.)"""
    a = _array(weights)
    if a.ndim != 2 or a.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"weights must be (n, {shape[0] * shape[1]}) for shape {shape}, got "
                         f"{a.shape}")
    n = a.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = new_figure(nrows, ncols, (panel, panel))
    lim = float(np.abs(a).max()) or 1.0
    im = None
    with style():
        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k < n:
                im = ax.imshow(a[k].reshape(shape), cmap="PuOr_r", vmin=-lim, vmax=lim,
                               interpolation="nearest")
                if titles is not None:
                    ax.set_title(titles[k], fontsize=8)
        if im is not None:
            fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
        if suptitle:
            fig.suptitle(suptitle)
    return fig


def plot_heatmaps(arrays: Mapping[str, Any], xlabel: str = "", ylabel: str = "",
                  colorbar_label: str = "", suptitle: str = "", log: bool = False,
                  panel: tuple[float, float] = (3.6, 3.2)) -> Figure:
    """Labelled heat maps side by side on one shared colour scale (``viridis``); each array
    ``(rows, cols)`` is drawn with row 0 at the bottom. ``log``: show ``log10`` of the values
    (which must be positive)."""
    names = list(arrays)
    mats = [_array(arrays[k]) for k in names]
    if log:
        if any((m <= 0).any() for m in mats):
            raise ValueError("log=True needs positive values")
        mats = [np.log10(m) for m in mats]
    vmin = min(float(m.min()) for m in mats)
    vmax = max(float(m.max()) for m in mats)
    fig, axes = new_figure(1, len(mats), panel)
    im = None
    with style():
        for ax, name, m in zip(axes.flat, names, mats, strict=True):
            im = ax.imshow(m, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                           interpolation="nearest")
            ax.set_title(name)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        if im is not None:
            fig.colorbar(im, ax=axes, shrink=0.85,
                         label=("log10 " if log else "") + colorbar_label)
        if suptitle:
            fig.suptitle(suptitle)
    return fig
