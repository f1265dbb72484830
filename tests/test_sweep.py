"""``ebmlab sweep``: a grid of parameters x seeds over a tiny probe notebook (it records
``value = SCALE * (SEED + 1)``), on a real 2-worker Dask LocalCluster and on local processes;
the table, the mean ± 95 % intervals against a hand computation, resuming (content-addressed
runs) after an interruption, failed runs listed and kept, and bad input refused up front."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scipy import stats

from ebmlab.sweep import check_grid, interval95, parse_grid, split_values, sweep

PROBE_DIR = Path(__file__).parent / "data" / "sweep"
PROBE = PROBE_DIR / "01-probe.ipynb"


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_values_split_at_top_level_commas_only():
    assert split_values("2,4,8") == ["2", "4", "8"]
    assert split_values("[0.5,0.5],[0.3, 0.7]") == ["[0.5,0.5]", "[0.3, 0.7]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert parse_grid([("SCALE", "1,2.5")]) == {"SCALE": [1, 2.5]}
    with pytest.raises(ValueError, match="empty value"):
        split_values("1,,2")
    with pytest.raises(ValueError, match="given twice"):
        parse_grid([("SCALE", "1"), ("SCALE", "2")])


def test_bad_grids_are_refused_before_any_run(tmp_path):
    with pytest.raises(ValueError, match="'NOPE' is not declared.*SCALE"):
        check_grid(PROBE, {"NOPE": [1]})
    with pytest.raises(ValueError, match="'SCALE'.*default 1.0"):
        check_grid(PROBE, {"SCALE": ["big"]})
    with pytest.raises(ValueError, match="'MODE'.*default 'ok'"):
        check_grid(PROBE, {"MODE": [3]})
    with pytest.raises(ValueError, match="--seeds"):
        check_grid(PROBE, {"SEED": [1, 2]})
    with pytest.raises(ValueError, match="more than once"):
        check_grid(PROBE, {"SCALE": [1.0, 1.0]})
    with pytest.raises(ValueError, match="seeds"):
        sweep("01", {"SCALE": [1.0]}, seeds="3-1", notebooks_dir=PROBE_DIR, out=tmp_path)
    with pytest.raises(ValueError, match="matched no notebook"):
        sweep("07", {"SCALE": [1.0]}, notebooks_dir=PROBE_DIR, out=tmp_path)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_interval_is_the_student_t_interval():
    v = [1.0, 2.0, 4.0]
    m, lo, hi, n = interval95(v)
    sd = math.sqrt(sum((x - 7 / 3) ** 2 for x in v) / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert n == 3 and m == pytest.approx(7 / 3)
    assert (lo, hi) == pytest.approx((7 / 3 - half, 7 / 3 + half))
    assert interval95([5.0])[:3] == (5.0, 5.0, 5.0)
    assert math.isnan(interval95([])[0])


@pytest.mark.notebook
def test_sweep_on_a_local_dask_cluster_then_resume(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "sw"
    rep = sweep("01", {"SCALE": [1.0, 3.0]}, seeds="0-1", quick=True, jobs=2, dask="local",
                out=out, notebooks_dir=PROBE_DIR, timeout=120, progress=False)
    assert rep.ok, rep.summary()
    table = rows(out)
    assert len(table) == 4
    assert list(table[0])[:5] == ["SCALE", "seed", "status", "duration_s", "error"]
    for r in table:
        assert r["status"] == "ok"
        assert float(r["value"]) == float(r["SCALE"]) * (int(r["seed"]) + 1)
        assert r["quick"] == "True"  # QUICK was injected
        assert json.loads(r["pair"]) == [int(r["seed"]), float(r["SCALE"])]
    # The summary is the hand-computed mean and t-interval over seeds, per grid point.
    summ = json.loads((out / "summary.json").read_text())
    s3 = next(s for s in summ if s["name"] == "value" and s["SCALE"] == 3.0)
    half = stats.t.ppf(0.975, 1) * math.sqrt(((3 - 4.5) ** 2 + (6 - 4.5) ** 2) / 1) / math.sqrt(2)
    assert s3["mean"] == pytest.approx(4.5) and s3["n"] == 2
    assert (s3["lo"], s3["hi"]) == pytest.approx((4.5 - half, 4.5 + half))
    for ext in ("png", "svg", "html"):
        assert (out / "plots" / f"value.{ext}").stat().st_size > 1000
    assert "quick" not in {s["name"] for s in summ}  # booleans are not plotted as numbers

    # A larger sweep reuses the four finished runs and executes only the new seed.
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/run.json")}
    rep2 = sweep("01", {"SCALE": [1.0, 3.0]}, seeds="0-2", quick=True, jobs=1,
                 out=out, notebooks_dir=PROBE_DIR, timeout=120, progress=False, plots=False)
    assert rep2.ok and len(rep2.runs) == 6
    assert sum(r.reused for r in rep2.runs) == 4
    assert {r.seed for r in rep2.runs if not r.reused} == {2}
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert len(rows(out)) == 6


@pytest.mark.notebook
def test_failed_runs_are_listed_kept_and_rerun(tmp_path):
    out = tmp_path / "sw"
    rep = sweep("01", {"MODE": ["fail"]}, seeds="0-2", out=out, notebooks_dir=PROBE_DIR,
                timeout=120, progress=False, plots=False)
    assert not rep.ok
    assert [(r.seed, r.result.status) for r in rep.runs] == [(0, "ok"), (1, "failed"),
                                                              (2, "ok")]
    assert "probe failure for seed 1" in rep.summary()
    table = rows(out)
    assert [r["status"] for r in table] == ["ok", "failed", "ok"]
    assert "probe failure" in table[1]["error"] and table[1]["value"] == ""
    failed_dir = out / "runs" / rep.runs[1].key
    assert (failed_dir / "01-probe.ipynb").exists()  # the executed copy with the error
    rep2 = sweep("01", {"MODE": ["fail"]}, seeds="0-2", out=out, notebooks_dir=PROBE_DIR,
                 timeout=120, progress=False, plots=False)
    assert [r.reused for r in rep2.runs] == [True, False, True]  # only the failure re-runs


@pytest.mark.notebook
def test_an_interrupted_sweep_resumes_without_rerunning_finished_runs(tmp_path):
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "ebmlab.cli", "sweep", "01", "-p", "SCALE", "1,2,3,4",
           "--notebooks", str(PROBE_DIR), "--out", str(out), "--timeout", "120"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 240
    while not list(out.glob("runs/*/run.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    finished = list(out.glob("runs/*/run.json"))
    assert 1 <= len(finished) < 4, err  # it stopped early...
    assert proc.returncode == 130, err  # ...because it was interrupted, and said so
    assert "resume" in err
    # The run the interrupt landed in may be saved as failed (re-run on resume) or ok.
    finished = [p for p in finished if json.loads(p.read_text())["status"] == "ok"]
    assert finished
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    done = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_runs"] == 4 and summary["n_reused"] == len(finished)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert sorted(float(r["value"]) for r in rows(out)) == [1.0, 2.0, 3.0, 4.0]
