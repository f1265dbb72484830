"""Figures for classifiers: reliability diagrams (calibration) and, per group of inputs, the
histogram of predicted labels (e.g. per task in continual learning)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .style import color, new_figure, style


def plot_reliability(bins: Mapping[str, Any], title: str = "") -> Figure:
    """Reliability diagrams, one panel per model (``label -> el.diagnostics.ReliabilityBins``):
    accuracy against confidence per bin (bars; empty bins left out), the gap to the bin's mean
    confidence hatched, the diagonal of perfect calibration, the number of predictions above
    each bar and the ECE in the title."""
    fig, axes = new_figure(1, len(bins), (3.9, 3.7))
    handles = []
    with style():
        for i, (label, b) in enumerate(bins.items()):
            ax = axes[0, i]
            edges = b.edges.numpy()
            width = np.diff(edges)
            keep = b.count.numpy() > 0
            acc, conf = b.accuracy.numpy(), b.confidence.numpy()
            h1 = ax.bar(edges[:-1][keep], acc[keep], width=width[keep], align="edge",
                        color=color(i), alpha=0.85, edgecolor="white", label=f"accuracy ({label})")
            h2 = ax.bar(edges[:-1][keep], (conf - acc)[keep], bottom=acc[keep],
                        width=width[keep], align="edge", color="none", edgecolor=color(3),
                        hatch="///", lw=0.8, label="gap to the mean confidence")
            (h3,) = ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="calibrated")
            for lo, w, a, c, n in zip(edges[:-1][keep], width[keep], acc[keep], conf[keep],
                                      b.count.numpy()[keep], strict=True):
                ax.annotate(f"{n}", (lo + w / 2, min(max(a, c), 1.0) + 0.01), ha="center",
                            va="bottom", fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.08)
            ax.set_xlabel("confidence (max p(y|x))")
            ax.set_ylabel("accuracy")
            ax.set_title(f"{label}: ECE {b.ece:.3f}")
            handles += [h1] + ([h2, h3] if i == 0 else [])
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                   fontsize=8, title="numbers: predictions per bin", title_fontsize=8)
        if title:
            fig.suptitle(title)
    return fig


def plot_label_histograms(predictions: Mapping[str, Any], n_classes: int,
                          groups: Sequence[str] | None = None, title: str = "",
                          xlabel: str = "predicted label") -> Figure:
    """One panel per model (``label -> {group -> predicted labels (n,)}``): stacked bars of
    how often each label is predicted, one colour per group (e.g. the test images of each
    task), so a model that forgot shows all its predictions piled on the last labels."""
    models = list(predictions)
    fig, axes = new_figure(1, len(models), (4.8, 3.6))
    with style():
        for i, m in enumerate(models):
            ax = axes[0, i]
            by_group = predictions[m]
            names = list(groups) if groups is not None else list(by_group)
            bottom = np.zeros(n_classes)
            for j, g in enumerate(names):
                p = np.asarray(by_group[g].detach().cpu() if hasattr(by_group[g], "detach")
                               else by_group[g], dtype=int).ravel()
                counts = np.bincount(p, minlength=n_classes)[:n_classes]
                ax.bar(np.arange(n_classes), counts, bottom=bottom, color=color(j),
                       label=str(g))
                bottom += counts
            ax.set_xticks(np.arange(n_classes))
            ax.set_xlabel(xlabel)
            ax.set_ylabel("test images")
            ax.set_title(m)
            ax.legend(title="true task", fontsize=8, title_fontsize=8)
        if title:
            fig.suptitle(title)
    return fig
