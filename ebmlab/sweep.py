"""Sweep one notebook over a grid of parameters and seeds; collect what it records.

``ebmlab sweep 04 -p N_REPLICAS 2,4,8,16 --seeds 0-7 --quick --dask local --out DIR``

Every run (one point of the grid, one seed) is a papermill execution of the notebook through
the same ``execute_notebook`` as ``ebmlab reproduce``. Runs are content-addressed: the key
hashes the notebook's bytes, the injected parameters, the seed and the ebmlab version, and
each finished run leaves ``DIR/runs/<key>/run.json`` the moment it finishes. Re-running the
same sweep (or a larger one) reuses every finished run whose key is unchanged, so an
interrupted sweep resumes where it stopped; failed runs are kept, listed and re-run next time.

``DIR/results.csv`` has one row per run: the swept parameters, ``seed``, ``status``,
``duration_s``, ``error``, then one column per number the notebook recorded with
``el.record`` (lists and dicts as JSON). ``DIR/results.parquet`` too when pyarrow is
installed. ``DIR/plots/<name>.{png,svg,html}`` shows each recorded number against the swept
parameter: mean and a 95 % Student-t interval over seeds (``mean ± t₀.₉₇₅,ₙ₋₁ · sd/√n``).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import logging
import math
import os
import re
import signal
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._checks import check_int
from .reproduce import (
    Result,
    _progress,
    check_seeds,
    discover,
    execute_notebook,
    parameters_of,
    parse_value,
)

META_COLUMNS = ("seed", "status", "duration_s", "error")


# -- the grid ----------------------------------------------------------------------------


def split_values(text: str) -> list[str]:
    """``"2,4,8" -> ["2", "4", "8"]``; commas inside brackets or quotes do not split, so
    ``"[0.5,0.5],[0.3,0.7]"`` gives two list values."""
    out, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    if any(v == "" for v in out):
        raise ValueError(f"empty value in {text!r}")
    return out


def _fits(value: Any, default: Any) -> bool:
    """Can the parameters cell take ``value`` where its default is ``default``?"""
    if default is None:
        return True
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return True


def check_grid(notebook: Path, grid: dict[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Every swept name is declared by ``notebook`` and every value fits its default's type."""
    declared = parameters_of(notebook)
    if not grid:
        raise ValueError("sweep needs at least one parameter to sweep: -p NAME v1,v2,...")
    out = {}
    for name, values in grid.items():
        if name in ("SEED", "FIG_DIR"):
            raise ValueError(f"{name} is set by the sweep itself (use --seeds for SEED)")
        if name not in declared:
            raise ValueError(f"parameter {name!r} is not declared by {notebook.name}; it "
                             f"declares {', '.join(declared)}")
        values = list(values)
        if not values:
            raise ValueError(f"parameter {name!r} needs at least one value")
        default = parse_value(declared[name]["default"])
        bad = [v for v in values if not _fits(v, default)]
        if bad:
            raise ValueError(f"parameter {name!r} of {notebook.name} takes values like its "
                             f"default {default!r} ({type(default).__name__}); got {bad}")
        if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
            raise ValueError(f"parameter {name!r} lists a value more than once: {values}")
        out[name] = values
    return out


def run_key(notebook: Path, params: dict[str, Any]) -> str:
    """Content address of one run: notebook bytes, injected parameters, ebmlab version."""
    from . import __version__

    h = hashlib.sha256(notebook.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:20]


# -- the runs ----------------------------------------------------------------------------


@dataclass
class Run:
    key: str
    point: dict[str, Any]  # the swept parameters
    seed: int
    result: Result | None = None
    reused: bool = False

    def row(self) -> dict[str, Any]:
        r = self.result
        row: dict[str, Any] = dict(self.point)
        row.update(seed=self.seed, status=r.status if r else "not run",
                   duration_s=r.duration_s if r else None,
                   error=(r.error or "") if r else "")
        for k, v in (r.results if r else {}).items():
            row[k] = v if isinstance(v, (int, float, str, bool)) or v is None \
                else json.dumps(v)
        return row


@dataclass
class SweepReport:
    notebook: str
    grid: dict[str, list[Any]]
    seeds: list[int]
    runs: list[Run]
    out: Path
    files: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.result is None or not r.result.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n, n_re = len(self.runs), sum(r.reused for r in self.runs)
        lines = [f"{self.notebook}: {n - len(self.failed)} of {n} runs ok "
                 f"({n_re} reused from earlier sweeps, {n - n_re} executed)"]
        for r in self.failed:
            msg = r.result.describe(with_results=False) if r.result else "not run"
            lines.append(f"  FAILED {r.point} seed {r.seed}: {msg}")
        lines += [f"  {k}: {v}" for k, v in self.files.items()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"notebook": self.notebook, "grid": self.grid, "seeds": self.seeds,
                "ok": self.ok, "n_runs": len(self.runs),
                "n_reused": sum(r.reused for r in self.runs),
                "failed": [{"point": r.point, "seed": r.seed,
                            "error": r.result.error if r.result else "not run"}
                           for r in self.failed],
                "files": self.files}


def _load_run(path: Path) -> Result | None:
    try:
        return Result(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # a half-written or foreign file: run again


def _save_run(run_dir: Path, result: Result) -> None:
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(asdict(result), default=str, indent=1))
    os.replace(tmp, run_dir / "run.json")  # atomic: a crash never leaves half a record


def sweep(notebook: str, grid: dict[str, Sequence[Any]], seeds: str | Sequence[int] = "0",
          quick: bool = False, jobs: int = 1, dask: str | None = None,
          out: str | os.PathLike = "sweeps", notebooks_dir: str | os.PathLike = "notebooks",
          timeout: float = 900.0, progress: bool = True, plots: bool = True) -> SweepReport:
    """Run ``notebook`` (a name or ``NN`` prefix) for every point of ``grid`` and every seed.

    ``dask``: ``"local"`` starts a ``distributed.LocalCluster`` of ``jobs`` single-threaded
    worker processes on 127.0.0.1; an address uses a running cluster (workers must share this
    file system). A worker that crashes is retried once, then its run is listed as failed.
    """
    jobs = check_int("jobs", jobs, ge=1)
    seed_list = check_seeds(seeds, "seeds")
    found = discover(notebooks_dir, [notebook])
    if len(found) != 1:
        raise ValueError(f"notebook {notebook!r} matches {len(found)} notebooks "
                         f"({', '.join(p.stem for p in found)}); give a longer name")
    nb = found[0].resolve()
    declared = parameters_of(nb)
    if "SEED" not in declared:
        raise ValueError(f"{nb.name} declares no SEED parameter, so it cannot be swept over seeds")
    grid = check_grid(nb, grid)
    out = Path(out).resolve()
    (out / "runs").mkdir(parents=True, exist_ok=True)

    runs, tasks = [], []
    names = list(grid)
    for combo in itertools.product(*(grid[n] for n in names)):
        point = dict(zip(names, combo, strict=True))
        for seed in seed_list:
            params = dict(point, SEED=seed)
            if quick and "QUICK" in declared:
                params["QUICK"] = True
            run = Run(run_key(nb, params), point, seed)
            run_dir = out / "runs" / run.key
            done = _load_run(run_dir / "run.json")
            if done is not None and done.ok:
                run.result, run.reused = done, True
            else:
                run_dir.mkdir(parents=True, exist_ok=True)
                tasks.append((run, (str(nb), str(run_dir / nb.name), str(run_dir / "figures"),
                                    params, float(timeout), True)))
            runs.append(run)
    (out / "sweep.json").write_text(json.dumps(
        {"notebook": nb.name, "grid": grid, "seeds": seed_list, "quick": quick}, indent=1))

    bar = _progress(len(tasks), progress)
    try:
        _execute(tasks, jobs, dask, bar, out)
    finally:
        bar.close()
        report = SweepReport(nb.name, grid, seed_list, runs, out)
        report.files.update(write_table(report))
    if plots:
        report.files.update(plot_sweep(report))
    return report


def _finish(run: Run, result: Result, out: Path) -> None:
    run.result = result
    _save_run(out / "runs" / run.key, result)


def _execute(tasks: list[tuple[Run, tuple]], jobs: int, dask: str | None, bar,
             out: Path) -> None:
    if not tasks:
        return
    if dask is None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        if jobs == 1:
            with _interrupt_flag() as interrupted:
                for run, args in tasks:
                    _finish(run, execute_notebook(*args), out)
                    bar.update(1)
                    if interrupted:  # Ctrl-C inside a run may be absorbed by the kernel
                        raise KeyboardInterrupt  # client: stop after saving that run
            return
        pending = list(tasks)
        for attempt in (1, 2):  # a crashed worker breaks the pool: its runs get one retry
            crashed = []
            with ProcessPoolExecutor(max_workers=min(jobs, len(pending)),
                                     mp_context=mp.get_context("spawn")) as pool:
                futs = {pool.submit(execute_notebook, *args): (run, args)
                        for run, args in pending}
                for fut in as_completed(futs):
                    run, args = futs[fut]
                    try:
                        _finish(run, fut.result(), out)
                        bar.update(1)
                    except (BrokenProcessPool, OSError, EOFError) as err:
                        crashed.append((run, args, err))
            if not crashed:
                return
            pending = [(r, a) for r, a, _ in crashed]
            if attempt == 2:
                for run, args, err in crashed:
                    _finish(run, _crash_result(args, err), out)
                    bar.update(1)
        return
    _execute_dask(tasks, jobs, dask, bar, out)


@contextlib.contextmanager
def _interrupt_flag():
    """A list that becomes non-empty on SIGINT (which still raises KeyboardInterrupt, but
    papermill/nbclient may turn that into a failed cell and carry on)."""
    flag: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def on_sigint(signum, frame):
        flag.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _crash_result(args: tuple, err: BaseException) -> Result:
    return Result(Path(args[0]).name, "failed", 0.0, args[3], args[1],
                  error=f"worker crashed twice: {type(err).__name__}: {err}")


def _execute_dask(tasks, jobs: int, dask: str, bar, out: Path) -> None:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RuntimeError("--dask needs the 'distributed' package: pip install "
                           "'ebmlab[dask]'") from None
    cluster = None
    if dask == "local":
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR,
                               env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        address = cluster.scheduler_address
    else:
        address = dask
    try:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise RuntimeError(f"cannot reach the Dask scheduler at {address!r} (tried for "
                               f"20 s): {err}") from None
        with client:
            # retries=1: a run whose worker dies is resubmitted once by the scheduler.
            futs = {client.submit(execute_notebook, *args, pure=False, retries=1): run
                    for run, args in tasks}
            args_of = {id(run): args for run, args in tasks}
            for fut in dask_completed(list(futs)):
                run = futs[fut]
                try:
                    result = fut.result()
                except Exception as err:
                    result = _crash_result(args_of[id(run)], err)
                _finish(run, result, out)
                bar.update(1)
    finally:
        if cluster is not None:
            cluster.close()


# -- the table and the plots ----------------------------------------------------------------


def write_table(report: SweepReport) -> dict[str, str]:
    rows = [r.row() for r in report.runs]
    cols = list(report.grid) + list(META_COLUMNS)
    for row in rows:
        cols += [k for k in row if k not in cols]
    path = report.out / "results.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for row in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v)
                        for k, v in row.items()})
    files = {"table": str(path)}
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return files
    pq = report.out / "results.parquet"
    pd.read_csv(path).to_parquet(pq)
    files["parquet"] = str(pq)
    return files


def interval95(values: Sequence[float]) -> tuple[float, float, float, int]:
    """Mean and a 95 % Student-t interval ``mean ± t·sd/√n`` of finite ``values``
    (``(mean, mean)`` when there is one value; NaN when none)."""
    from scipy import stats

    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = sum(v) / n
    if n == 1:
        return m, m, m, 1
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return m, m - half, m + half, n


def summarise(report: SweepReport) -> list[dict[str, Any]]:
    """Per recorded number and grid point: mean, 95 % interval and n over the seeds (ok runs)."""
    names: list[str] = []
    for r in report.runs:
        if r.result and r.result.ok:
            names += [k for k, v in r.result.results.items()
                      if k not in names and isinstance(v, (int, float))
                      and not isinstance(v, bool)]
    out = []
    for name in names:
        for combo in itertools.product(*report.grid.values()):
            point = dict(zip(report.grid, combo, strict=True))
            vals = [r.result.results.get(name) for r in report.runs
                    if r.point == point and r.result and r.result.ok]
            vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            mean, lo, hi, n = interval95(vals)
            out.append({"name": name, **point, "mean": mean, "lo": lo, "hi": hi, "n": n})
    return out


def plot_sweep(report: SweepReport) -> dict[str, str]:
    """One figure per recorded number: mean and 95 % interval over seeds against the first
    swept parameter, one line per combination of the others. PNG + SVG + interactive HTML."""
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    from .viz import savefig
    from .viz.style import OKABE_ITO as PALETTE

    stats_rows = summarise(report)
    plot_dir = report.out / "plots"
    names = list(dict.fromkeys(s["name"] for s in stats_rows))
    (report.out / "summary.json").write_text(json.dumps(stats_rows, indent=1, default=str))
    files = {"summary": str(report.out / "summary.json")}
    if not names:
        return files
    xname, others = list(report.grid)[0], list(report.grid)[1:]
    xs = report.grid[xname]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    pos = list(xs) if numeric else list(range(len(xs)))
    for name in names:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
        traces = []
        groups = list(itertools.product(*(report.grid[o] for o in others))) or [()]
        for i, g in enumerate(groups):
            sel = dict(zip(others, g, strict=True))
            rows = [next(s for s in stats_rows if s["name"] == name and s[xname] == x
                         and all(s[o] == sel[o] for o in others)) for x in xs]
            mean = [r["mean"] for r in rows]
            lo = [r["mean"] - r["lo"] for r in rows]
            hi = [r["hi"] - r["mean"] for r in rows]
            label = ", ".join(f"{k}={v}" for k, v in sel.items()) or "mean ± 95 % CI"
            color = PALETTE[i % len(PALETTE)]
            ax.errorbar(pos, mean, yerr=[lo, hi], marker="o", capsize=4, color=color,
                        label=label)
            traces.append(go.Scatter(x=list(map(str, xs)) if not numeric else list(xs),
                                     y=mean, name=label, mode="lines+markers",
                                     line={"color": color},
                                     error_y={"type": "data", "symmetric": False,
                                              "array": hi, "arrayminus": lo}))
        n_seeds = len(report.seeds)
        ax.set_xlabel(xname)
        ax.set_ylabel(name)
        ax.set_title(f"{report.notebook}: {name}\nmean and 95 % t-interval over "
                     f"{n_seeds} seed{'s' if n_seeds > 1 else ''}", fontsize=9)
        if numeric and len(set(xs)) > 2 and min(xs) > 0 and max(xs) / min(xs) >= 8:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_minor_locator(plt.NullLocator())
        if not numeric or len(xs) <= 8:  # ticks at the swept values, not in between
            ax.set_xticks(pos, [str(x) for x in xs])
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        for f in savefig(fig, stem, fig_dir=plot_dir):
            files[f"{name} ({Path(f).suffix[1:]})"] = str(f)
        plt.close(fig)
        gfig = go.Figure(traces, layout={"title": f"{report.notebook}: {name}",
                                         "xaxis_title": xname, "yaxis_title": name,
                                         "template": "plotly_white"})
        html = plot_dir / f"{stem}.html"
        # plotly.min.js written once next to the pages: offline, and not 3.5 MB per plot
        gfig.write_html(html, include_plotlyjs="directory", full_html=True)
        files[f"{name} (html)"] = str(html)
    return files


def parse_grid(pairs: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
    """``[("N_REPLICAS", "2,4,8")] -> {"N_REPLICAS": [2, 4, 8]}`` (the CLI's ``-p``)."""
    grid: dict[str, list[Any]] = {}
    for name, text in pairs:
        if name in grid:
            raise ValueError(f"-p {name} given twice; list all its values once: -p {name} a,b,c")
        grid[name] = [parse_value(v) for v in split_values(text)]
    return grid
