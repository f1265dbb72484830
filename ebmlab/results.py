"""``el.record(name, value)``: a notebook records its headline numbers.

Each call stores the value in memory (``el.record.values()``) and, when the notebook's figure
folder is known, rewrites ``<FIG_DIR>/results.json`` atomically (temporary file, then
``os.replace``), so the numbers recorded before a failing cell survive it. The folder is found
the way ``el.viz.savefig`` finds it: ``el.viz.configure(fig_dir=...)``, else the notebook's
``FIG_DIR`` parameter (which ``ebmlab reproduce`` injects), else ``$EBMLAB_FIG_DIR``; with none
of them (a plain script) the values stay in memory only.

Values are JSON: bool, int, float, str, None, and lists / dicts (string keys) of them; a 0-d
torch tensor or numpy scalar becomes a Python number. A non-finite float is kept, written as
the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (the spelling ``float()`` reads
back), so ``results.json`` stays strict JSON.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_json(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON data (non-finite floats as strings); ``ValueError`` otherwise."""
    if hasattr(value, "item") and hasattr(value, "ndim"):  # torch tensor, numpy scalar/array
        if value.ndim != 0:
            raise ValueError(f"{where} must be a number, string, list or dict; got an array of "
                             f"shape {tuple(value.shape)} (pass .tolist() to record all of it)")
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        v = float(value)
        if math.isfinite(v):
            return v
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} keys must be strings, got {k!r}")
            out[k] = to_json(v, f"{where}[{k!r}]")
        return out
    raise ValueError(f"{where} must be a bool, int, float, str, None, a 0-d tensor or a "
                     f"list/dict of them; got {type(value).__name__} {value!r:.80}")


def as_number(value: Any) -> float | None:
    """A recorded value as a float if it is a number (``"NaN"`` etc. included), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return None


def current_fig_dir() -> Path | None:
    """The figure folder ``savefig`` would use, or None when none was given."""
    from .viz import save

    configured = save._CONFIG.get("fig_dir")
    if configured is not None:
        return Path(configured)
    main = sys.modules.get("__main__")
    fig_dir = getattr(main, "FIG_DIR", None)
    if isinstance(fig_dir, (str, os.PathLike)):
        return Path(fig_dir)
    env = os.environ.get("EBMLAB_FIG_DIR")
    return Path(env) if env else None


def load(fig_dir: str | os.PathLike) -> dict[str, Any]:
    """The values in ``<fig_dir>/results.json`` ({} if there is none)."""
    path = Path(fig_dir) / RESULTS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data


def _write(fig_dir: Path, name: str, value: Any) -> Path:
    fig_dir.mkdir(parents=True, exist_ok=True)
    try:
        data = load(fig_dir)
    except ValueError:  # unreadable: start afresh rather than fail the notebook
        data = {}
    data[name] = value
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".tmp", dir=fig_dir)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, fig_dir / RESULTS_FILE)  # atomic: readers see old or new, never half
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return fig_dir / RESULTS_FILE


class Recorder:
    """``record(name, value)`` keeps a headline number; ``record.values()`` returns them."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __call__(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        stored = to_json(value, f"value of {name!r}")
        self._values[name] = stored
        fig_dir = current_fig_dir()
        if fig_dir is not None:
            _write(fig_dir, name, stored)

    def values(self) -> dict[str, Any]:
        """Everything recorded in this process, as written to ``results.json``."""
        return dict(self._values)

    def clear(self) -> None:
        """Forget the values held in memory (files already written are left alone)."""
        self._values.clear()

    def __repr__(self) -> str:
        return f"<ebmlab.record: {len(self._values)} value(s); see record.values()>"


record = Recorder()
