"""``savefig(fig, name)``: one call writes a figure into the notebook's ``FIG_DIR``.

Matplotlib figures are written as PNG and SVG, plotly figures as self-contained HTML
(plotly.js written once per folder). Metadata (figure name, notebook parameters, seed,
ebmlab version) is embedded in the PNG text chunks and the SVG description.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .style import style

_CONFIG: dict[str, Any] = {"fig_dir": None, "params": None}
_SCALARS = (bool, int, float, str, type(None))


def configure(fig_dir: str | os.PathLike | None = None, params: dict | None = None) -> None:
    """Set where ``savefig`` writes and which parameters it records (overrides discovery)."""
    if fig_dir is not None:
        _CONFIG["fig_dir"] = Path(fig_dir)
    if params is not None:
        _CONFIG["params"] = dict(params)


def _main_globals() -> dict:
    main = sys.modules.get("__main__")
    return vars(main) if main is not None else {}


def _fig_dir(explicit) -> Path:
    if explicit is not None:
        return Path(explicit)
    if _CONFIG["fig_dir"] is not None:
        return Path(_CONFIG["fig_dir"])
    g = _main_globals()
    if isinstance(g.get("FIG_DIR"), (str, os.PathLike)):
        return Path(g["FIG_DIR"])
    return Path(os.environ.get("EBMLAB_FIG_DIR", "figures"))


def _params(explicit) -> dict:
    if explicit is not None:
        return dict(explicit)
    if _CONFIG["params"] is not None:
        return dict(_CONFIG["params"])
    # A notebook's parameters are its UPPER_CASE scalar globals (QUICK, SEED, FIG_DIR, ...).
    return {k: v for k, v in _main_globals().items()
            if k.isupper() and not k.startswith("_") and isinstance(v, _SCALARS)}


def figure_metadata(name: str, params: dict | None = None) -> dict:
    from .. import __version__

    p = _params(params)
    return {"figure": name, "ebmlab_version": __version__, "seed": p.get("SEED"),
            "parameters": {k: (v if isinstance(v, _SCALARS) else repr(v)) for k, v in p.items()}}


def savefig(fig, name: str, fig_dir: str | os.PathLike | None = None,
            params: dict | None = None) -> list[Path]:
    """Write ``fig`` as ``<FIG_DIR>/<name>.png`` and ``.svg`` (plotly: ``.html``); return paths."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file stem like 'energy-vs-density', got {name!r}")
    out = _fig_dir(fig_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = figure_metadata(name, params)
    text = json.dumps(meta, sort_keys=True)
    paths: list[Path] = []
    if hasattr(fig, "savefig"):
        if fig.get_layout_engine() is not None:
            # Constrained layout is recomputed (and drifts) on every draw: settle it once and
            # freeze it, so PNG and SVG share one layout and saving again gives the same bytes.
            fig.draw_without_rendering()
            fig.set_layout_engine("none")
        with style():
            png = out / f"{name}.png"
            fig.savefig(png, metadata={"Software": f"ebmlab {meta['ebmlab_version']}",
                                       "Description": text}, dpi=150)
            svg = out / f"{name}.svg"
            fig.savefig(svg, metadata={"Creator": f"ebmlab {meta['ebmlab_version']}",
                                       "Description": text, "Date": None})
        paths += [png, svg]
        if isinstance(fig, Figure):
            from .display import remember_png

            remember_png(fig, png.read_bytes())  # shown inline without rendering again
    elif hasattr(fig, "write_html"):
        html = out / f"{name}.html"
        fig.write_html(html, include_plotlyjs="directory", full_html=True,
                       div_id=name, config={"displaylogo": False})
        with open(html, "a", encoding="utf-8") as fh:
            fh.write(f"\n<!-- ebmlab-metadata {text} -->\n")
        paths.append(html)
    else:
        raise TypeError(f"fig must be a matplotlib or plotly figure, got {type(fig).__name__}")
    return paths
