"""Reproduce the course: discover notebooks, parametrise, execute with papermill (a local
process pool or a Dask cluster), collect figures and recorded numbers (``el.record`` ->
``<fig dir>/results.json``) and write ``figures/manifest.json``.

A failing notebook never stops the others: its executed copy (with the error) is kept in
``outputs/`` and the report names the notebook and the failing cell.

With ``seeds`` every notebook runs once per seed (``SEED`` injected); each run has its own
folders, ``outputs/seed-<s>/<nb>.ipynb`` and ``figures/seed-<s>/<stem>/``, and the manifest's
``seeds`` section holds per-run status and values and, per recorded number, mean and sd.

Paths in the manifest are relative to the project root (the folder holding ``notebooks/``)
when they lie inside it, else absolute.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._checks import check_int
from .results import as_number, load, to_json

FIGURE_SUFFIXES = (".png", ".svg", ".html", ".pdf")
START_TIMEOUT = 180  # s for a kernel to start: generous, a loaded 2-core machine needs it


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


def parse_seeds(text: str, name: str = "--seeds") -> list[int]:
    """``"0-7" -> [0, ..., 7]``, ``"0,3,5" -> [0, 3, 5]``, ``"0-2,9" -> [0, 1, 2, 9]``."""
    usage = f"{name} takes non-negative seeds like '0-7', '0,3,5' or '0-3,9'"
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{usage}; got {text!r}")
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise ValueError(f"{usage}; got {text!r} ({part.strip()!r} is not a seed or a range)")
        lo, hi = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if hi < lo:
            raise ValueError(f"{usage}; got {text!r} (the range {part.strip()!r} runs backwards)")
        seeds += range(lo, hi + 1)
    return check_seeds(seeds, name)


def check_seeds(seeds: Sequence[int], name: str = "seeds") -> list[int]:
    """A non-empty list of distinct non-negative integers, or a ``ValueError`` naming ``name``."""
    if isinstance(seeds, str):
        return parse_seeds(seeds, name)
    out = [check_int(f"{name}[{i}]", s, ge=0) for i, s in enumerate(seeds)]
    if not out:
        raise ValueError(f"{name} must name at least one seed, got {list(seeds)!r}")
    twice = sorted({s for s in out if out.count(s) > 1})
    if twice:
        raise ValueError(f"{name} names seed(s) {twice} more than once")
    return out


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
    results: dict[str, Any] = field(default_factory=dict)  # el.record values (results.json)
    error: str | None = None
    failed_cell: str | None = None
    retried: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def seed(self) -> Any:
        """The injected ``SEED`` (None when the notebook ran with its own default)."""
        return self.parameters.get("SEED")

    def describe(self, with_seed: bool = False, with_results: bool = True) -> str:
        name = f"{self.notebook} seed {self.seed}" if with_seed else self.notebook
        if self.ok:
            head = f"ok      {name} ({self.duration_s:.1f} s, {len(self.figures)} figures)"
        else:
            where = f" in cell {self.failed_cell}" if self.failed_cell else ""
            head = (f"FAILED  {name}{where}: {self.error}\n"
                    f"        executed copy with the error: {self.output}")
        if with_results and self.results:
            label = "recorded" if self.ok else "recorded before the failure"
            head += f"\n        {label}: " + ", ".join(f"{k} = {_fmt(v)}"
                                                      for k, v in self.results.items())
        return head


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

    from . import notebook_engine

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
                                log_output=False, kernel_name="python3",
                                start_timeout=START_TIMEOUT,
                                engine_name=notebook_engine.register())
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
    try:
        results = load(fig)
    except ValueError as err:  # written atomically by el.record, so this is a real fault
        results, error = {}, error or f"unreadable {fig / 'results.json'}: {err}"
    return Result(src.name, "failed" if error else "ok", round(duration, 2), params, output,
                  figures, results, error, cell, retried)


# -- the runner -----------------------------------------------------------------------


@dataclass
class Report:
    results: list[Result]
    manifest: Path
    seeds: list[int] | None = None  # set when every notebook ran once per seed

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        if self.seeds is not None:
            return self._seed_summary()
        lines = [r.describe() for r in self.results]
        n_bad = len(self.failed)
        lines.append(f"{len(self.results) - n_bad} of {len(self.results)} notebooks ran; "
                     f"{n_bad} failed" + (": " + ", ".join(r.notebook for r in self.failed)
                                          if n_bad else ""))
        lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)

    def _seed_summary(self) -> str:
        lines = [seed_table(self.results, self.seeds)]
        if self.failed:
            lines += ["", "failures:"]
            lines += [r.describe(with_seed=True, with_results=False) for r in self.failed]
        n_nb = len({r.notebook for r in self.results})
        n_bad = len(self.failed)
        lines.append(f"{len(self.results) - n_bad} of {len(self.results)} runs passed "
                     f"({n_nb} notebook(s) x {len(self.seeds)} seed(s)); {n_bad} failed")
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
              timeout: float = 900.0, progress: bool = True,
              seeds: str | Sequence[int] | None = None,
              root: str | os.PathLike | None = None) -> Report:
    """Execute the selected notebooks; write executed copies, figures, results and the manifest.

    ``seeds`` (``"0-7"``, ``"0,3,5"`` or a list of ints) runs every notebook once per seed,
    each with ``SEED`` injected and its own ``seed-<s>/`` folders. ``root`` (default: the
    folder holding ``notebooks_dir``) is what manifest paths are relative to.
    """
    jobs = check_int("jobs", jobs, ge=1)
    seed_list = None if seeds is None else check_seeds(seeds, "seeds")
    overrides = dict(parameters or {})
    if seed_list is not None and "SEED" in overrides:
        raise ValueError("give the seed either as a parameter (-p SEED) or with --seeds, not "
                         f"both (got SEED={overrides['SEED']!r} and seeds={seed_list})")
    nbs = discover(notebooks_dir, only)
    if not nbs:
        raise ValueError(f"no notebooks found in {notebooks_dir}")
    todo = plan(nbs, quick, overrides)
    if seed_list is not None:
        lacking = [nb.name for nb in nbs if "SEED" not in parameters_of(nb)]
        if lacking:
            raise ValueError(f"--seeds needs a SEED parameter, which {lacking} do not declare")
    root = Path(root).resolve() if root is not None else Path(notebooks_dir).resolve().parent
    out_dir, fig_root = Path(out_dir).resolve(), Path(fig_root).resolve()
    single = jobs > 1 or dask is not None
    tasks = []  # (notebook, output, fig_dir, parameters, timeout, single_thread)
    for nb, params in todo.items():
        for seed in seed_list if seed_list is not None else [None]:
            sub = Path() if seed is None else Path(f"seed-{seed}")
            p = params if seed is None else dict(params, SEED=seed)
            tasks.append((str(nb.resolve()), str(out_dir / sub / nb.name),
                          str(fig_root / sub / nb.stem), p, float(timeout), single))
    bar = _progress(len(tasks), progress)
    if dask is not None:
        results = _run_dask(dask, tasks, bar)
    else:
        results = _run_local(jobs, tasks, bar)
    bar.close()
    if seed_list is None:
        manifest = write_manifest(fig_root / "manifest.json", results, root=root)
    else:
        manifest = write_manifest(fig_root / "manifest.json", seeded=seed_summary(results),
                                  root=root)
    return Report(results, manifest, seed_list)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="notebooks", unit="run", disable=not enabled, file=sys.stderr)


def _crashed(task: tuple, err: BaseException) -> Result:
    """A worker that died (not a notebook's own failure) is reported, not raised."""
    return Result(Path(task[0]).name, "failed", 0.0, task[3], task[1],
                  error=f"{type(err).__name__}: {err}")


def _run_local(jobs: int, tasks: list[tuple], bar) -> list[Result]:
    """Results in task order: in this process for one job, else a spawn process pool."""
    if jobs == 1 or len(tasks) == 1:
        out = []
        for t in tasks:
            bar.set_postfix_str(Path(t[1]).name)
            out.append(execute_notebook(*t))
            bar.update(1)
        return out
    import multiprocessing as mp

    results: list[Result | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                             mp_context=mp.get_context("spawn")) as pool:
        futs = {pool.submit(execute_notebook, *t): i for i, t in enumerate(tasks)}
        for fut in as_completed(futs):
            i = futs[fut]
            try:
                results[i] = fut.result()
            except Exception as err:
                results[i] = _crashed(tasks[i], err)
            bar.set_postfix_str(results[i].notebook)
            bar.update(1)
    return results


def _run_dask(address: str, tasks: list[tuple], bar) -> list[Result]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RuntimeError("--dask needs the 'distributed' package: pip install "
                           "'ebmlab[dask]'") from None
    results: list[Result | None] = [None] * len(tasks)
    with Client(address) as client:  # workers must see the same file system
        futs = {client.submit(execute_notebook, *t, pure=False): i for i, t in enumerate(tasks)}
        for fut in dask_completed(list(futs)):
            i = futs[fut]
            try:
                results[i] = fut.result()
            except Exception as err:
                results[i] = _crashed(tasks[i], err)
            bar.update(1)
    return results


# -- seeds: per-run status and values, mean and sd across seeds --------------------------


def _fmt(value: Any, width: int = 12) -> str:
    number = as_number(value)
    if number is not None:
        return f"{number:.4g}"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def seed_summary(results: list[Result]) -> list[dict[str, Any]]:
    """Per notebook: its seeds, how many passed, each run, and per recorded number its
    values by seed with mean and sample sd (``n`` = runs that recorded it, failed ones too)."""
    by_nb: dict[str, list[Result]] = {}
    for r in results:
        by_nb.setdefault(r.notebook, []).append(r)
    out = []
    for nb, runs in by_nb.items():
        names = list(dict.fromkeys(k for r in runs for k in r.results))
        stats: dict[str, dict[str, Any]] = {}
        for name in names:
            by_seed = {str(r.seed): r.results[name] for r in runs if name in r.results}
            entry: dict[str, Any] = {"n": len(by_seed), "by_seed": by_seed}
            numbers = [as_number(v) for v in by_seed.values()]
            if all(x is not None for x in numbers):
                mean, sd = _mean_sd(numbers)
                entry.update(mean=to_json(mean), sd=None if sd is None else to_json(sd))
            stats[name] = entry
        out.append({"notebook": nb, "seeds": [r.seed for r in runs],
                    "passed": sum(r.ok for r in runs), "failed": sum(not r.ok for r in runs),
                    "results": stats,
                    "runs": [dict(asdict(r), seed=r.seed) for r in runs]})
    return out


def seed_table(results: list[Result], seeds: list[int]) -> str:
    """Notebook x seed: ok / FAILED, then one row per recorded number with its value per seed
    and ``mean ± sd`` across the seeds that recorded it."""
    summary = seed_summary(results)
    runs = {(r.notebook, r.seed): r for r in results}
    head = ["notebook / recorded"] + [f"seed {s}" for s in seeds] + ["mean ± sd"]
    rows: list[list[str]] = []
    for entry in summary:
        nb = entry["notebook"]
        rows.append([nb] + [("ok" if runs[nb, s].ok else "FAILED") if (nb, s) in runs else "—"
                            for s in seeds] + [f"{entry['passed']}/{len(seeds)} passed"])
        for name, st in entry["results"].items():
            cells = [_fmt(st["by_seed"][str(s)]) if str(s) in st["by_seed"] else "—"
                     for s in seeds]
            if "mean" in st:
                agg = _fmt(st["mean"]) + ("" if st["sd"] is None else f" ± {_fmt(st['sd'])}")
                if st["n"] < len(seeds):
                    agg += f" (n={st['n']})"
            else:
                agg = "(not a number)"
            rows.append([f"  {name}"] + cells + [agg])
    widths = [max(len(row[i]) for row in [head] + rows) for i in range(len(head) - 1)]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]

    return "\n".join([line(head)] + [line(r).rstrip() for r in rows])


# -- the manifest ---------------------------------------------------------------------


def _relative(path: str, root: Path | None) -> str:
    p = Path(path)
    if root is None or not p.is_absolute():
        return path
    try:
        return p.relative_to(root).as_posix()
    except ValueError:  # outside the project: keep it absolute
        return path


def _portable(entry: dict[str, Any], root: Path | None) -> dict[str, Any]:
    """A manifest entry with its paths (output, figures, FIG_DIR) relative to ``root``."""
    entry = dict(entry)
    if isinstance(entry.get("output"), str):
        entry["output"] = _relative(entry["output"], root)
    if "figures" in entry:
        entry["figures"] = [dict(f, path=_relative(f["path"], root)) for f in entry["figures"]]
    if isinstance(entry.get("parameters"), dict):
        params = entry["parameters"] = dict(entry["parameters"])
        if isinstance(params.get("FIG_DIR"), str):
            params["FIG_DIR"] = _relative(params["FIG_DIR"], root)
    if "runs" in entry:
        entry["runs"] = [_portable(run, root) for run in entry["runs"]]
    return entry


def write_manifest(path: Path, results: Iterable[Result] = (),
                   seeded: list[dict[str, Any]] | None = None,
                   root: str | os.PathLike | None = None) -> Path:
    """Merge these results into ``manifest.json``: single runs into ``notebooks``, per-seed
    summaries (``seed_summary``) into ``seeds``; entries of other notebooks are kept."""
    import torch

    from . import __version__

    path = Path(path)
    root = Path(root).resolve() if root is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    old: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}

    def entries(section: str) -> dict[str, dict]:
        try:
            return {e["notebook"]: e for e in old.get(section, [])}
        except (KeyError, TypeError, AttributeError):
            return {}

    singles, by_seed = entries("notebooks"), entries("seeds")
    for r in results:
        singles[r.notebook] = asdict(r)
    for e in seeded or []:
        by_seed[e["notebook"]] = e
    doc = {
        "ebmlab_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "notebooks": [_portable(singles[k], root) for k in sorted(singles)],
        "seeds": [_portable(by_seed[k], root) for k in sorted(by_seed)],
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)  # atomic
    return path
