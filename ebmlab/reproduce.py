"""Reproduce the course: discover notebooks, parametrise, execute with papermill (a local
process pool or a Dask cluster), collect figures and write ``figures/manifest.json``.

A failing notebook never stops the others: its executed copy (with the error) is kept in
``outputs/`` and the report names the notebook and the failing cell.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._checks import check_int

FIGURE_SUFFIXES = (".png", ".svg", ".html", ".pdf")


# -- discovery -------------------------------------------------------------------------


def discover(notebooks_dir: str | os.PathLike = "notebooks",
             only: Sequence[str] | None = None) -> list[Path]:
    """Course notebooks ``NN-topic.ipynb`` in order; ``only`` keeps those whose stem starts
    with (or equals) one of the given selectors, e.g. ``["01", "03-diagnostics"]``."""
    root = Path(notebooks_dir)
    if not root.is_dir():
        raise ValueError(f"notebooks_dir {str(root)!r} is not a directory")
    found = sorted(p for p in root.glob("*.ipynb")
                   if p.stem[:2].isdigit() and not p.name.startswith("."))
    if only:
        picked = [p for p in found if any(p.stem == s or p.stem.startswith(s) for s in only)]
        missing = [s for s in only if not any(p.stem == s or p.stem.startswith(s)
                                              for p in found)]
        if missing:
            raise ValueError(f"--only {missing} matched no notebook in {root}; available: "
                             f"{', '.join(p.stem for p in found)}")
        found = picked
    return found


def parameters_of(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Declared parameters of a notebook (papermill's inspection of its ``parameters`` cell)."""
    import papermill as pm

    return {k: dict(v) for k, v in pm.inspect_notebook(str(path)).items()}


def parse_value(text: str) -> Any:
    """``"3" -> 3``, ``"0.5" -> 0.5``, ``"True" -> True``, ``"[1, 2]" -> [1, 2]``; else a string.
    """
    lowered = {"true": True, "false": False, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


# -- execution -------------------------------------------------------------------------


@dataclass
class Result:
    """Outcome of one notebook run (one entry of the manifest)."""

    notebook: str
    status: str  # "ok" | "failed"
    duration_s: float
    parameters: dict[str, Any]
    output: str
    figures: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    failed_cell: str | None = None
    retried: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.ok:
            return f"ok      {self.notebook} ({self.duration_s:.1f} s, {len(self.figures)} figures)"
        where = f" in cell {self.failed_cell}" if self.failed_cell else ""
        return (f"FAILED  {self.notebook}{where}: {self.error}\n"
                f"        executed copy with the error: {self.output}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def execute_notebook(path: str, output: str, fig_dir: str, parameters: dict[str, Any],
                     timeout: float, single_thread: bool) -> Result:
    """Run one notebook with papermill; never raises for a notebook's own failure."""
    import papermill as pm

    if single_thread:  # kernels inherit the environment: one torch thread each
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
    src, fig = Path(path), Path(fig_dir)
    if fig.exists():
        shutil.rmtree(fig)
    fig.mkdir(parents=True, exist_ok=True)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    params = dict(parameters, FIG_DIR=str(fig))
    start = time.perf_counter()
    error = cell = None
    retried = False
    for attempt in (1, 2):
        error = cell = None
        try:
            pm.execute_notebook(str(src), output, parameters=params, cwd=str(src.parent),
                                execution_timeout=timeout, progress_bar=False,
                                log_output=False, kernel_name="python3")
        except pm.PapermillExecutionError as err:
            cell = f"In [{err.exec_count}]" if err.exec_count else f"#{err.cell_index}"
            error = f"{err.ename}: {err.evalue}".strip()
        except Exception as err:  # timeouts, dead kernels, unreadable notebooks
            error = f"{type(err).__name__}: {err}".strip()
            # A cell that never returns is a known nbclient/papermill stall (lost kernel
            # messages), not the notebook's fault: run it once more in a fresh kernel.
            if attempt == 1 and "Timeout" in type(err).__name__:
                retried = True
                shutil.rmtree(fig)  # no half-written figures from the stalled attempt
                fig.mkdir(parents=True)
                continue
        break
    duration = time.perf_counter() - start
    figures = [{"path": str(p), "sha256": sha256(p)} for p in sorted(fig.rglob("*"))
               if p.is_file() and p.suffix in FIGURE_SUFFIXES]
    return Result(src.name, "failed" if error else "ok", round(duration, 2), params, output,
                  figures, error, cell, retried)


# -- the runner -----------------------------------------------------------------------


@dataclass
class Report:
    results: list[Result]
    manifest: Path

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        lines = [r.describe() for r in self.results]
        n_bad = len(self.failed)
        lines.append(f"{len(self.results) - n_bad} of {len(self.results)} notebooks ran; "
                     f"{n_bad} failed" + (": " + ", ".join(r.notebook for r in self.failed)
                                          if n_bad else ""))
        lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)


def plan(notebooks: Iterable[Path], quick: bool, overrides: dict[str, Any]) -> dict[Path, dict]:
    """Parameters to inject into each notebook; unknown overrides are an error."""
    out: dict[Path, dict] = {}
    used: set[str] = set()
    for nb in notebooks:
        declared = parameters_of(nb)
        params: dict[str, Any] = {}
        if quick and "QUICK" in declared:
            params["QUICK"] = True
        for k, v in overrides.items():
            if k in declared:
                params[k] = v
                used.add(k)
        out[nb] = params
    unknown = sorted(set(overrides) - used)
    if unknown:
        raise ValueError(f"parameter(s) {unknown} are not declared by any selected notebook")
    return out


def reproduce(only: Sequence[str] | None = None, quick: bool = False,
              parameters: dict[str, Any] | None = None, jobs: int = 1, dask: str | None = None,
              notebooks_dir: str | os.PathLike = "notebooks",
              out_dir: str | os.PathLike = "outputs", fig_root: str | os.PathLike = "figures",
              timeout: float = 900.0, progress: bool = True) -> Report:
    """Execute the selected notebooks; write executed copies, figures and the manifest."""
    jobs = check_int("jobs", jobs, ge=1)
    nbs = discover(notebooks_dir, only)
    if not nbs:
        raise ValueError(f"no notebooks found in {notebooks_dir}")
    todo = plan(nbs, quick, dict(parameters or {}))
    out_dir, fig_root = Path(out_dir).resolve(), Path(fig_root).resolve()
    single = jobs > 1 or dask is not None
    tasks = [(str(nb.resolve()), str(out_dir / nb.name), str(fig_root / nb.stem), params,
              float(timeout), single) for nb, params in todo.items()]
    results: dict[str, Result] = {}
    bar = _progress(len(tasks), progress)
    if dask is not None:
        results = _run_dask(dask, tasks, bar)
    elif jobs == 1 or len(tasks) == 1:
        for t in tasks:
            bar.set_postfix_str(Path(t[0]).name)
            r = execute_notebook(*t)
            results[r.notebook] = r
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                                 mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(execute_notebook, *t): t for t in tasks}
            for fut in as_completed(futs):
                t = futs[fut]
                try:
                    r = fut.result()
                except Exception as err:  # a worker crash is reported, not raised
                    r = Result(Path(t[0]).name, "failed", 0.0, t[3], t[1],
                               error=f"{type(err).__name__}: {err}")
                results[r.notebook] = r
                bar.set_postfix_str(r.notebook)
                bar.update(1)
    bar.close()
    ordered = [results[Path(t[0]).name] for t in tasks]
    manifest = write_manifest(fig_root / "manifest.json", ordered)
    return Report(ordered, manifest)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="notebooks", unit="nb", disable=not enabled, file=sys.stderr)


def _run_dask(address: str, tasks: list[tuple], bar) -> dict[str, Result]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RuntimeError("--dask needs the 'distributed' package: pip install "
                           "'ebmlab[dask]'") from None
    results: dict[str, Result] = {}
    with Client(address) as client:  # workers must see the same file system
        futs = [client.submit(execute_notebook, *t, pure=False) for t in tasks]
        for fut in dask_completed(futs):
            r = fut.result()
            results[r.notebook] = r
            bar.update(1)
    return results


def write_manifest(path: Path, results: list[Result]) -> Path:
    """Merge these results into ``manifest.json`` (entries of other notebooks are kept)."""
    import torch

    from . import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    if path.exists():
        try:
            entries = {e["notebook"]: e for e in json.loads(path.read_text())["notebooks"]}
        except (ValueError, KeyError, TypeError):
            entries = {}
    for r in results:
        entries[r.notebook] = asdict(r)
    doc = {
        "ebmlab_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "notebooks": [entries[k] for k in sorted(entries)],
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)  # atomic
    return path
