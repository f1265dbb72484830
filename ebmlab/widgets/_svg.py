"""A small SVG line-plot panel for live widgets: one HTML string per redraw, no plotting
library in the browser, nothing to validate in Python (a 400-point panel takes well under a
millisecond). Used by ``IsingLab`` for its traces: the string is the same in a live front end
and in a headless run (a plain static figure there)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values in ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(v) < 1e-12 * step else v)
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.6g}" if abs(v) < 1e5 else f"{v:.3g}"


@dataclass
class Series:
    """One thing to draw: ``kind`` ``"line"``, ``"points"`` (circles) or ``"cross"``;
    ``dash`` an SVG dash array; ``css`` a class for tests and styling."""

    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    color: str = "#000000"
    kind: str = "line"
    width: float = 1.5
    dash: str | None = None
    css: str = ""
    size: float = 3.0
    static: bool = False  # the same data every redraw: its markup is cached


_CACHE: dict[tuple, str] = {}


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(map("{:.1f},{:.1f}".format, xs.tolist(), ys.tolist()))


@dataclass
class Panel:
    """Axes with ticks, grid, labels and a title, and the series in them."""

    xlim: tuple[float, float]
    ylim: tuple[float, float]
    series: list[Series] = field(default_factory=list)
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    hlines: list[tuple[float, str, str | None]] = field(default_factory=list)  # y, color, dash
    vlines: list[tuple[float, str, str | None, str]] = field(default_factory=list)  # + label

    def svg(self, width: int = 440, height: int = 190, css: str = "") -> str:
        ml, mr, mt, mb = 48, 10, 22, 34
        w, h = width - ml - mr, height - mt - mb
        x0, x1 = self.xlim
        y0, y1 = self.ylim
        if not x1 > x0:
            x1 = x0 + 1.0
        if not y1 > y0:
            y1 = y0 + 1.0

        def px(x):
            return ml + (np.asarray(x, dtype=float) - x0) / (x1 - x0) * w

        def py(y):
            return mt + (y1 - np.asarray(y, dtype=float)) / (y1 - y0) * h

        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" width="{width}" '
               f'height="{height}" viewBox="0 0 {width} {height}" '
               'style="font-family:sans-serif;font-size:11px">',
               f'<clipPath id="clip-{css or "p"}"><rect x="{ml}" y="{mt}" width="{w}" '
               f'height="{h}"/></clipPath>',
               f'<rect x="{ml}" y="{mt}" width="{w}" height="{h}" fill="#f3f4f7"/>']
        for t in nice_ticks(x0, x1):
            X = float(px(t))
            out.append(f'<line x1="{X:.1f}" y1="{mt}" x2="{X:.1f}" y2="{mt + h}" '
                       'stroke="#ffffff" stroke-width="1"/>')
            out.append(f'<text x="{X:.1f}" y="{mt + h + 13}" text-anchor="middle" '
                       f'fill="#333">{_fmt(t)}</text>')
        for t in nice_ticks(y0, y1):
            Y = float(py(t))
            out.append(f'<line x1="{ml}" y1="{Y:.1f}" x2="{ml + w}" y2="{Y:.1f}" '
                       'stroke="#ffffff" stroke-width="1"/>')
            out.append(f'<text x="{ml - 4}" y="{Y + 4:.1f}" text-anchor="end" '
                       f'fill="#333">{_fmt(t)}</text>')
        clip = f'clip-path="url(#clip-{css or "p"})"'
        for y, color, dash in self.hlines:
            if math.isfinite(y):
                Y = float(py(y))
                d = f' stroke-dasharray="{dash}"' if dash else ""
                out.append(f'<line x1="{ml}" y1="{Y:.1f}" x2="{ml + w}" y2="{Y:.1f}" '
                           f'stroke="{color}" stroke-width="1"{d} {clip}/>')
        for x, color, dash, label in self.vlines:
            X = float(px(x))
            d = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{X:.1f}" y1="{mt}" x2="{X:.1f}" y2="{mt + h}" '
                       f'stroke="{color}" stroke-width="1.5"{d}/>')
            if label:
                out.append(f'<text x="{X + 3:.1f}" y="{mt + 11}" fill="{color}">'
                           f'{html.escape(label)}</text>')
        for s in self.series:
            key = (id(s.x), id(s.y), s.kind, self.xlim, self.ylim, width, height)
            if s.static and key in _CACHE:
                out.append(_CACHE[key])
                continue
            start = len(out)
            xs, ys = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
            ok = np.isfinite(xs) & np.isfinite(ys)
            xs, ys = px(xs[ok]), py(ys[ok])
            cls = f' class="{s.css}"' if s.css else ""
            if s.kind == "line":
                pts = _points(xs, ys)
                d = f' stroke-dasharray="{s.dash}"' if s.dash else ""
                out.append(f'<polyline{cls} points="{pts}" fill="none" stroke="{s.color}" '
                           f'stroke-width="{s.width}"{d} {clip}/>')
            elif s.kind == "points":
                out.append(f"<g{cls} {clip}>" + "".join(
                    f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{s.size}" fill="{s.color}"/>'
                    for a, b in zip(xs, ys, strict=True)) + "</g>")
            else:  # cross
                r = s.size
                out.append(f"<g{cls}>" + "".join(
                    f'<path d="M{a - r:.1f},{b - r:.1f}L{a + r:.1f},{b + r:.1f}'
                    f'M{a - r:.1f},{b + r:.1f}L{a + r:.1f},{b - r:.1f}" stroke="{s.color}" '
                    f'stroke-width="2.5"/>' for a, b in zip(xs, ys, strict=True)) + "</g>")
            if s.static:
                if len(_CACHE) > 64:
                    _CACHE.clear()
                _CACHE[key] = "".join(out[start:])
        out.append(f'<rect x="{ml}" y="{mt}" width="{w}" height="{h}" fill="none" '
                   'stroke="#888" stroke-width="0.8"/>')
        if self.title:
            out.append(f'<text x="{ml + w / 2}" y="14" text-anchor="middle" '
                       f'font-size="12px" fill="#222">{html.escape(self.title)}</text>')
        if self.xlabel:
            out.append(f'<text x="{ml + w / 2}" y="{height - 4}" text-anchor="middle" '
                       f'fill="#222">{html.escape(self.xlabel)}</text>')
        if self.ylabel:
            out.append(f'<text transform="translate(12,{mt + h / 2}) rotate(-90)" '
                       f'text-anchor="middle" fill="#222">{html.escape(self.ylabel)}</text>')
        out.append("</svg>")
        return "".join(out)
