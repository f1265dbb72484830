"""Every course notebook runs in QUICK mode for seeds 0–2 (``EBMLAB_TEST_SEEDS`` overrides,
e.g. ``0-7``) through the same code path as `ebmlab reproduce --seeds`, proving its own
claims (asserts) for each seed, recording its headline numbers and writing its figures. No run
may need the stall retry: the notebook engine polls the kernel in short slices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ebmlab.reproduce import check_seeds, discover, reproduce

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [p.stem for p in discover(ROOT / "notebooks")]
SEEDS = check_seeds(os.environ.get("EBMLAB_TEST_SEEDS", "0-2"), "EBMLAB_TEST_SEEDS")


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reproduce")
    report = reproduce(quick=True, jobs=2, notebooks_dir=ROOT / "notebooks",
                       out_dir=tmp / "outputs", fig_root=tmp / "figures", timeout=180,
                       progress=False, seeds=SEEDS)
    print(report.summary())
    return {(r.notebook, r.seed): r for r in report.results}


@pytest.mark.notebook
# The first test's setup runs every notebook x seed (the session fixture): the suite-wide
# 900 s per-test timeout would cut it off as the course grows; a stalled cell is caught by
# the per-cell timeout (180 s) instead.
@pytest.mark.timeout(max(900, 120 * len(NOTEBOOKS) * len(SEEDS)))
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_quick(quick_runs, stem, seed):
    r = quick_runs[(f"{stem}.ipynb", seed)]
    assert r.ok, r.describe()
    assert r.parameters["QUICK"] is True and r.parameters["SEED"] == seed
    assert not r.retried, f"{stem} seed {seed} stalled and needed the retry"
    pngs = [f for f in r.figures if f["path"].endswith(".png")]
    assert pngs, f"{stem} wrote no figures"
    # Every PNG has its SVG twin.
    assert {p["path"][:-4] for p in pngs} <= {f["path"][:-4] for f in r.figures
                                             if f["path"].endswith(".svg")}
    assert r.results, f"{stem} recorded no headline numbers with el.record"
