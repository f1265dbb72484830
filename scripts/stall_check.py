"""Consecutive headless runs of the whole course, looking for stalls (issue: "headless runs
never hang").

    .venv/bin/python scripts/stall_check.py            # 20 runs, SEED 0..19, --jobs 2
    .venv/bin/python scripts/stall_check.py --runs 5 --first-seed 100

Each run is ``ebmlab reproduce --quick --jobs 2 -p SEED k`` into a temporary folder. A *stall*
is a cell whose kernel replied (its own ``shell.execute_reply`` timestamp) more than 5 s before
papermill saw the reply (the cell's ``end_time``): the lost-wake-up bug the notebook engine
removes. A genuinely slow cell has no early reply, so it is not counted. Also reported per
run: notebooks that needed the stall retry, failures, the slowest cell, and kernel noise in
the CLI output. Run it on a quiet machine: it is a reliability check, not a benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAG_S = 5.0


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def stalls_in(notebook: Path) -> tuple[list[float], float]:
    """Reply-to-client lags above ``LAG_S`` and the slowest cell's duration (s)."""
    lags, slowest = [], 0.0
    for cell in json.loads(notebook.read_text())["cells"]:
        pm = cell.get("metadata", {}).get("papermill", {})
        slowest = max(slowest, float(pm.get("duration") or 0.0))
        reply = cell.get("metadata", {}).get("execution", {}).get("shell.execute_reply")
        end = pm.get("end_time")
        if reply and end:
            lag = (_when(end) - _when(reply)).total_seconds()
            if lag > LAG_S:
                lags.append(round(lag, 1))
    return lags, slowest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per cell")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ebmlab = [sys.executable, "-m", "ebmlab.cli"]
    n_stalled = 0
    for k in range(args.runs):
        seed = args.first_seed + k
        with tempfile.TemporaryDirectory(prefix="ebmlab-stall-") as tmp:
            t0 = time.perf_counter()
            proc = subprocess.run(ebmlab + ["reproduce", "--quick", "--jobs", str(args.jobs),
                                            "--timeout", str(args.timeout), "-p", "SEED",
                                            str(seed), "--outputs", f"{tmp}/outputs",
                                            "--figures", f"{tmp}/figures"],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            man = json.loads(Path(f"{tmp}/figures/manifest.json").read_text())
            entries = man["notebooks"]
            entries = entries.values() if isinstance(entries, dict) else entries
            retried = [e.get("notebook") for e in entries if e.get("retried")]
            failed = [e.get("notebook") for e in entries if e.get("status") != "ok"]
            stalls, slowest = [], (0.0, "")
            for nb in sorted(Path(f"{tmp}/outputs").glob("*.ipynb")):
                lags, slow = stalls_in(nb)
                stalls += [(nb.stem, lag) for lag in lags]
                slowest = max(slowest, (round(slow, 1), nb.stem))
        noisy = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                 if "without encryption" in ln or "KeyboardInterrupt" in ln]
        n_stalled += bool(stalls or retried)
        print(f"run {k + 1:2d} seed {seed}: {wall:5.0f} s, exit {proc.returncode}, "
              f"stalls={stalls}, retried={retried}, failed={failed}, slowest cell={slowest}"
              + (f", kernel noise: {noisy[:2]}" if noisy else ""), flush=True)
    print(f"{args.runs - n_stalled} of {args.runs} runs without a stall or retry")
    return 0 if n_stalled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
