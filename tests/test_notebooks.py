"""Every course notebook runs in QUICK mode through the same code path as `ebmlab reproduce`,
proving its own claims (asserts) and writing its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebmlab.reproduce import discover, reproduce

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [p.stem for p in discover(ROOT / "notebooks")]


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reproduce")
    report = reproduce(quick=True, jobs=2, notebooks_dir=ROOT / "notebooks",
                       out_dir=tmp / "outputs", fig_root=tmp / "figures", timeout=180,
                       progress=False)
    print(report.summary())
    return {r.notebook: r for r in report.results}


@pytest.mark.notebook
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_quick(quick_run, stem):
    r = quick_run[f"{stem}.ipynb"]
    assert r.ok, r.describe()
    assert r.parameters["QUICK"] is True
    pngs = [f for f in r.figures if f["path"].endswith(".png")]
    assert pngs, f"{stem} wrote no figures"
    # Every PNG has its SVG twin.
    assert {p["path"][:-4] for p in pngs} <= {f["path"][:-4] for f in r.figures
                                             if f["path"].endswith(".svg")}
