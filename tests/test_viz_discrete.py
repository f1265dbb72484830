"""Figures for discrete models: filters on a diverging scale, heat maps on a shared scale."""

from __future__ import annotations

import pytest
import torch

import ebmlab as el


def test_filters_grid_is_symmetric_about_zero():
    w = torch.randn(10, 64, generator=torch.Generator().manual_seed(0))
    fig = el.viz.plot_filters(w, (8, 8), ncols=5, titles=[str(i) for i in range(10)],
                              suptitle="filters")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and shown[3].get_title() == "3"
    lo, hi = shown[0].images[0].get_clim()
    assert lo == -hi and hi == pytest.approx(float(w.abs().max()))
    with pytest.raises(ValueError, match="weights must be"):
        el.viz.plot_filters(torch.zeros(3, 10), (8, 8))


def test_heatmaps_share_a_scale():
    a, b = torch.rand(4, 5) + 0.1, 2 * torch.rand(4, 5) + 0.1
    fig = el.viz.plot_heatmaps({"target": a, "learned": b}, xlabel="x1", ylabel="x2",
                               colorbar_label="probability", log=True)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2 and ims[0].get_clim() == ims[1].get_clim()
    assert fig.axes[1].get_title() == "learned"
    with pytest.raises(ValueError, match="positive"):
        el.viz.plot_heatmaps({"a": torch.zeros(2, 2)}, log=True)
