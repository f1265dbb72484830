"""Show ebmlab's figures inline in Jupyter.

The figure functions build ``matplotlib.figure.Figure`` objects without pyplot, so the inline
backend never registers its display formatter and a cell ending in ``fig`` would show only
``<Figure size … with N Axes>``. ``enable_inline_display()`` (called by ``new_figure``)
registers a PNG formatter for ``Figure`` in the running IPython shell, unless one is already
registered. A figure just written by ``savefig`` is shown from the PNG that call rendered (no
second rendering); any later change to the figure drops that copy.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from .style import style

DISPLAY_DPI = 100
_ATTR = "_ebmlab_png"


def _compact(data: bytes, width: int) -> bytes:
    """``data`` (a PNG) at ``width`` pixels with a 256-colour palette: what the notebook
    shows and stores (the files ``savefig`` wrote keep full quality)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return data
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if img.width > width:
        img = img.resize((width, max(1, int(round(img.height * width / img.width)))),
                         Image.LANCZOS)
    out = io.BytesIO()
    img.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return out.getvalue()


def remember_png(fig: Figure, data: bytes) -> None:
    """Keep ``data`` (the PNG ``savefig`` just wrote), resized for display, until ``fig``
    changes."""
    setattr(fig, _ATTR, _compact(data, int(round(fig.get_figwidth() * DISPLAY_DPI))))
    prev = fig.stale_callback
    if getattr(prev, "_ebmlab_forget", False):
        return

    def forget(f, val):
        if val:
            f.__dict__.pop(_ATTR, None)
        if prev is not None:
            prev(f, val)

    forget._ebmlab_forget = True
    fig.stale_callback = forget


def figure_png(fig: Figure) -> tuple[bytes, dict]:
    """``(png bytes, metadata)`` for Jupyter: the saved PNG shown at ``DISPLAY_DPI``, or a
    fresh rendering at that resolution."""
    width = int(round(fig.get_figwidth() * DISPLAY_DPI))
    cached = fig.__dict__.get(_ATTR)
    if cached is not None:
        return cached, {"width": width}
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=DISPLAY_DPI)
    return _compact(buf.getvalue(), width), {"width": width}


def enable_inline_display() -> bool:
    """Register the PNG formatter for ``Figure`` in the current IPython shell (once); returns
    whether ebmlab's formatter is the one in use."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    ip = get_ipython()
    if ip is None:
        return False
    fmt = ip.display_formatter.formatters["image/png"]
    try:
        current = fmt.lookup_by_type(Figure)
    except KeyError:
        current = None
    if current is figure_png:
        return True
    if current is not None:  # the inline backend (pyplot) already shows figures
        return False
    fmt.for_type(Figure, figure_png)
    return True
