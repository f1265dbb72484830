"""Controls built from declared parameters (``Param``): one control per parameter."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets

STYLE = {"description_width": "7.5em"}
LAYOUT = widgets.Layout(width="340px")


def kind_of(p: Any) -> str:
    """``"float"``, ``"int"``, ``"bool"`` or ``"choice"`` for a kernel's ``ebmlab.params.Param``
    or an energy's ``Param`` (which has only ``integer``)."""
    kind = getattr(p, "kind", None)
    if kind is not None:
        return kind
    return "int" if p.integer else "float"


def slider_for(p: Any, value: float | int | None = None) -> widgets.Widget:
    """An Int/Float/FloatLog slider spanning the parameter's declared range."""
    v = p.default if value is None else value
    common = {"description": p.name, "style": STYLE, "layout": LAYOUT,
              "continuous_update": True, "tooltip": p.doc}
    if kind_of(p) == "int":
        return widgets.IntSlider(value=int(v), min=int(p.low), max=int(p.high), step=1,
                                 **common)
    if p.log and p.low > 0:
        return widgets.FloatLogSlider(value=float(v), base=10, min=math.log10(p.low),
                                      max=math.log10(p.high), step=0.02, readout_format=".3g",
                                      **common)
    return widgets.FloatSlider(value=float(v), min=p.low, max=p.high,
                               step=(p.high - p.low) / 200, readout_format=".3g", **common)


def control_for(p: Any, value: Any = None) -> widgets.Widget:
    """The control for a declared parameter of any kind: a slider (float / int), a checkbox
    (bool) or a dropdown (choice). ``description`` is the parameter's name."""
    kind = kind_of(p)
    v = p.default if value is None else value
    if kind == "bool":
        return widgets.Checkbox(value=bool(v), description=p.name, indent=False,
                                tooltip=p.doc, layout=LAYOUT)
    if kind == "choice":
        return widgets.Dropdown(options=list(p.choices), value=v, description=p.name,
                                style=STYLE, layout=LAYOUT, tooltip=p.doc)
    return slider_for(p, v)


def message_html(text: str, kind: str = "error") -> str:
    import html

    color = {"error": "#B3261E", "info": "#0B57D0"}[kind]
    return (f'<div class="ebmlab-message" style="color:{color};font-size:0.9em">'
            f"{html.escape(text)}</div>")
