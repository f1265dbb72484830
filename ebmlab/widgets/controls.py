"""Controls built from declared parameters (``Param``): one slider per parameter."""

from __future__ import annotations

import math

import ipywidgets as widgets

from ..energies.base import Param

STYLE = {"description_width": "7.5em"}
LAYOUT = widgets.Layout(width="340px")


def slider_for(p: Param, value: float | int | None = None) -> widgets.Widget:
    """An Int/Float/FloatLog slider spanning the parameter's declared range."""
    v = p.default if value is None else value
    common = {"description": p.name, "style": STYLE, "layout": LAYOUT,
              "continuous_update": True, "tooltip": p.doc}
    if p.integer:
        return widgets.IntSlider(value=int(v), min=int(p.low), max=int(p.high), step=1,
                                 **common)
    if p.log and p.low > 0:
        return widgets.FloatLogSlider(value=float(v), base=10, min=math.log10(p.low),
                                      max=math.log10(p.high), step=0.02, readout_format=".3g",
                                      **common)
    return widgets.FloatSlider(value=float(v), min=p.low, max=p.high,
                               step=(p.high - p.low) / 200, readout_format=".3g", **common)


def message_html(text: str, kind: str = "error") -> str:
    import html

    color = {"error": "#B3261E", "info": "#0B57D0"}[kind]
    return (f'<div class="ebmlab-message" style="color:{color};font-size:0.9em">'
            f"{html.escape(text)}</div>")
