"""House style: colour-blind-safe colours, readable fonts, and a fresh ``Figure`` factory.

Figures are created as ``matplotlib.figure.Figure`` objects (not through pyplot), so a
function returning one never leaves a global figure behind; Jupyter displays them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib as mpl
from matplotlib.figure import Figure

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
CMAP_DENSITY = "viridis"  # perceptually uniform, colour-blind safe, prints in greyscale
CMAP_ENERGY = "cividis"

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "svg.hashsalt": "ebmlab",  # deterministic SVG ids
    "image.cmap": CMAP_DENSITY,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    with mpl.rc_context(RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, panel: tuple[float, float] = (4.6, 4.0),
               **kw):
    """A constrained-layout ``Figure`` with an ``nrows × ncols`` grid of axes (shown inline in
    Jupyter when it is a cell's value)."""
    from .display import enable_inline_display

    enable_inline_display()
    with style():
        fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def color(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]
