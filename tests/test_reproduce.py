"""The reproduce runner: selection, parameters, failures reported while the others complete."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ebmlab import cli
from ebmlab.reproduce import (
    Result,
    discover,
    parameters_of,
    parse_seeds,
    parse_value,
    reproduce,
    seed_table,
)

SAVE = """
import ebmlab as el
fig = el.viz.plot_curves([1, 2], {"y": [SEED, SEED + 1]}, "x", "y")
el.viz.savefig(fig, "curve")
el.record("seed_plus_half", SEED + 0.5)
"""
# Records (a NaN among them), then an assert fails; the cell after it never runs.
BROKEN = ("import ebmlab as el\nel.record('loss', float('nan'))\nel.record('n', 3)",
          "assert 1 + 1 == 3, 'arithmetic is broken'",
          "el.record('after', 1)")


def write_nb(path, *cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(new_markdown_cell("# test"))
    params = new_code_cell('QUICK = False\nSEED = 0\nFIG_DIR = "figures/x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells += [new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_nb(nbs / "01-good.ipynb", "assert QUICK is True", SAVE)
    write_nb(nbs / "02-broken.ipynb", *BROKEN)
    write_nb(nbs / "03-good.ipynb", SAVE)
    (nbs / "scratch.ipynb").write_text("not a course notebook")
    return tmp_path


def test_discover_and_select(course):
    nbs = course / "notebooks"
    assert [p.stem for p in discover(nbs)] == ["01-good", "02-broken", "03-good"]
    assert [p.stem for p in discover(nbs, ["03"])] == ["03-good"]
    with pytest.raises(ValueError, match="99"):
        discover(nbs, ["99"])
    assert set(parameters_of(nbs / "01-good.ipynb")) == {"QUICK", "SEED", "FIG_DIR"}


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("[1, 2]") == [1, 2] and parse_value("ring") == "ring"


def test_failing_notebook_is_reported_and_others_complete(course, capsys):
    argv = ["reproduce", "--quick", "--jobs", "2", "-p", "SEED", "3",
            "--notebooks", str(course / "notebooks"), "--figures", str(course / "figures"),
            "--outputs", str(course / "outputs"), "--timeout", "120"]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED  02-broken.ipynb in cell In [4]: AssertionError: arithmetic is broken" in out
    assert "recorded before the failure: loss = nan, n = 3" in out
    assert "2 of 3 notebooks ran; 1 failed: 02-broken.ipynb" in out
    # The others ran to the end and wrote their figures; the broken one's copy is kept.
    for stem in ("01-good", "03-good"):
        assert (course / "figures" / stem / "curve.png").exists()
        assert (course / "figures" / stem / "curve.svg").exists()
    executed = nbformat.read(course / "outputs" / "02-broken.ipynb", as_version=4)
    assert any(o.get("ename") == "AssertionError" for c in executed.cells
               if c.cell_type == "code" for o in c.get("outputs", []))
    # What was recorded before the failing cell survives it, in strict JSON (NaN as a string).
    on_disk = json.loads((course / "figures" / "02-broken" / "results.json").read_text(),
                         parse_constant=pytest.fail)
    assert on_disk == {"loss": "NaN", "n": 3}
    text = (course / "figures" / "manifest.json").read_text()
    manifest = json.loads(text, parse_constant=pytest.fail)
    entries = {e["notebook"]: e for e in manifest["notebooks"]}
    broken = entries["02-broken.ipynb"]
    assert broken["status"] == "failed" and broken["results"] == {"loss": "NaN", "n": 3}
    assert broken["error"] == "AssertionError: arithmetic is broken"
    # Cells run: parameters, injected parameters, the records, the assert.
    assert broken["failed_cell"] == "In [4]"
    good = entries["01-good.ipynb"]
    assert good["status"] == "ok" and good["parameters"]["SEED"] == 3
    assert good["parameters"]["QUICK"] is True
    assert good["results"] == {"seed_plus_half": 3.5}
    assert all(len(f["sha256"]) == 64 for f in good["figures"])
    # Every path in the manifest is relative to the project root (the folder of notebooks/).
    assert sorted(f["path"] for f in good["figures"]) == ["figures/01-good/curve.png",
                                                         "figures/01-good/curve.svg"]
    assert good["output"] == "outputs/01-good.ipynb"
    assert good["parameters"]["FIG_DIR"] == "figures/01-good"
    assert str(course) not in text


def test_same_seed_same_figures_and_manifest_merges(course):
    kw = dict(notebooks_dir=course / "notebooks", out_dir=course / "o", fig_root=course / "f",
              progress=False, timeout=120)
    first = reproduce(only=["03"], parameters={"SEED": 5}, **kw)
    again = reproduce(only=["03"], parameters={"SEED": 5}, **kw)
    assert first.ok and again.ok
    assert [f["sha256"] for f in first.results[0].figures] == \
        [f["sha256"] for f in again.results[0].figures]
    other = reproduce(only=["03"], parameters={"SEED": 6}, **kw)
    assert [f["sha256"] for f in other.results[0].figures] != \
        [f["sha256"] for f in first.results[0].figures]
    assert first.results[0].results == again.results[0].results == {"seed_plus_half": 5.5}
    assert other.results[0].results == {"seed_plus_half": 6.5}
    reproduce(only=["01"], quick=True, **kw)
    manifest = json.loads((course / "f" / "manifest.json").read_text())
    assert [e["notebook"] for e in manifest["notebooks"]] == ["01-good.ipynb", "03-good.ipynb"]


def test_unknown_parameter_is_an_error(course, capsys):
    code = cli.main(["reproduce", "--notebooks", str(course / "notebooks"), "-p", "SEEED", "1",
                     "--figures", str(course / "f"), "--outputs", str(course / "o")])
    assert code == 2
    assert "SEEED" in capsys.readouterr().err


def test_list_shows_parameters(course, capsys):
    assert cli.main(["list", "--notebooks", str(course / "notebooks"),
                     "--figures", str(course / "figures")]) == 0
    out = capsys.readouterr().out
    assert "01-good" in out and "SEED = 0" in out


def test_lab_command_binds_localhost_with_token(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd: seen.setdefault("cmd", cmd) and 0)
    assert cli.main(["lab", "--token", "abc", "--no-browser"]) == 0
    cmd = seen["cmd"]
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--IdentityProvider.token=abc" in cmd
    assert any(c.startswith("--ServerApp.root_dir=") and c.endswith("notebooks") for c in cmd)


def test_dask_cluster_runs_notebooks_per_seed(course):
    # (notebook, seed) pairs are plain tasks: the same Dask path runs them.
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        report = reproduce(only=["01", "02"], quick=True, dask=cluster.scheduler_address,
                           seeds=[4, 7], notebooks_dir=course / "notebooks",
                           out_dir=course / "o", fig_root=course / "f", progress=False,
                           timeout=120)
    status = {(r.notebook, r.seed): r.status for r in report.results}
    assert status == {("01-good.ipynb", 4): "ok", ("01-good.ipynb", 7): "ok",
                      ("02-broken.ipynb", 4): "failed", ("02-broken.ipynb", 7): "failed"}
    assert [r.results for r in report.results[:2]] == [{"seed_plus_half": 4.5},
                                                       {"seed_plus_half": 7.5}]
    assert (course / "f" / "seed-7" / "01-good" / "curve.png").exists()
    assert (course / "o" / "seed-4" / "02-broken.ipynb").exists()


def test_a_stalled_cell_is_retried_once_in_a_fresh_kernel(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    marker = tmp_path / "stalled-once"
    write_nb(nbs / "01-stall.ipynb",
             f"import pathlib, time\nm = pathlib.Path({str(marker)!r})\n"
             "if not m.exists():\n    m.touch()\n    time.sleep(60)")
    report = reproduce(notebooks_dir=nbs, out_dir=tmp_path / "o", fig_root=tmp_path / "f",
                       timeout=4, progress=False)
    r = report.results[0]
    assert r.ok and r.retried, r.describe()


def test_student_copy_drops_solutions(tmp_path, capsys):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("QUICK = False"),
                             new_code_cell("# your answer"), new_code_cell("answer = 42")])
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.cells[3].metadata["tags"] = ["solution"]
    nbformat.write(nb, nbs / "01-x.ipynb")
    assert cli.main(["student-copy", "--notebooks", str(nbs), "--out", str(tmp_path / "s")]) == 0
    out = nbformat.read(tmp_path / "s" / "01-x.ipynb", as_version=4)
    sources = [c.source for c in out.cells]
    assert "# your answer" in sources and "answer = 42" not in sources
    assert "1 student notebooks" in capsys.readouterr().out
    # Every course notebook with an exercise has a solution cell to remove.
    from ebmlab.reproduce import discover

    root = Path(__file__).resolve().parent.parent
    for path in discover(root / "notebooks"):
        text = path.read_text()
        if "## Exercise" in text:
            assert '"solution"' in text, path.name


# -- el.record -----------------------------------------------------------------------


@pytest.fixture
def no_fig_dir(monkeypatch):
    """No FIG_DIR known: no configure(), no FIG_DIR global in __main__, no environment."""
    import sys

    from ebmlab.viz import save

    monkeypatch.setitem(save._CONFIG, "fig_dir", None)
    monkeypatch.delattr(sys.modules["__main__"], "FIG_DIR", raising=False)
    monkeypatch.delenv("EBMLAB_FIG_DIR", raising=False)


def test_record_converts_values_and_writes_strict_json(tmp_path, monkeypatch, no_fig_dir):
    import numpy as np
    import torch

    import ebmlab as el
    from ebmlab.results import Recorder

    assert isinstance(el.record, Recorder)
    monkeypatch.setenv("EBMLAB_FIG_DIR", str(tmp_path / "fig"))
    rec = Recorder()
    assert rec("log_z_error", torch.tensor(0.25, requires_grad=True)) is None
    rec("ess", np.int64(512))
    rec("converged", np.bool_(True))
    rec("curve", [1, 2.5, float("inf"), {"tail": -float("inf")}])
    rec("loss", float("nan"))
    rec("ess", 600)  # recording a name again replaces its value
    expected = {"log_z_error": 0.25, "ess": 600, "converged": True,
                "curve": [1, 2.5, "Infinity", {"tail": "-Infinity"}], "loss": "NaN"}
    text = (tmp_path / "fig" / "results.json").read_text()
    assert json.loads(text, parse_constant=pytest.fail) == expected
    assert rec.values() == expected
    assert [p.name for p in (tmp_path / "fig").iterdir()] == ["results.json"]  # no temp files
    assert float(rec.values()["loss"]) != float(rec.values()["loss"])  # "NaN" reads back NaN


def test_record_rejects_bad_names_and_values(no_fig_dir):
    import torch

    from ebmlab.results import Recorder

    rec = Recorder()
    for bad in ("", "   ", 3, None):
        with pytest.raises(ValueError, match="name must be a non-empty string"):
            rec(bad, 1.0)
    with pytest.raises(ValueError, match=r"shape \(3,\).*tolist"):
        rec("x", torch.zeros(3))
    with pytest.raises(ValueError, match=r"value of 'x'\[1\] must be"):
        rec("x", [1, object()])
    with pytest.raises(ValueError, match="keys must be strings"):
        rec("x", {1: 2})
    assert rec.values() == {}


def test_record_without_fig_dir_keeps_values_in_memory(tmp_path, monkeypatch, no_fig_dir):
    from ebmlab.results import Recorder

    monkeypatch.chdir(tmp_path)
    rec = Recorder()
    rec("acc", 0.9)
    assert rec.values() == {"acc": 0.9}
    assert list(tmp_path.rglob("*")) == []  # nothing written anywhere
    rec.clear()
    assert rec.values() == {}


def test_record_follows_configured_fig_dir_and_fails_atomically(tmp_path, monkeypatch,
                                                                 no_fig_dir):
    import ebmlab as el
    from ebmlab import results
    from ebmlab.results import Recorder

    el.viz.configure(fig_dir=tmp_path / "nb")  # the notebook's FIG_DIR, as savefig uses it
    rec = Recorder()
    rec("a", 1)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        rec("b", 2)
    # The file still holds the earlier complete state and no temporary file is left behind.
    assert json.loads((tmp_path / "nb" / "results.json").read_text()) == {"a": 1}
    assert [p.name for p in (tmp_path / "nb").iterdir()] == ["results.json"]


# -- --seeds ---------------------------------------------------------------------------


def test_parse_seeds():
    assert parse_seeds("0-7") == list(range(8))
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_seeds(" 0-2, 9 ") == [0, 1, 2, 9]
    for bad, why in [("", "got ''"), ("a-b", "'a-b' is not a seed"), ("7-0", "backwards"),
                     ("1,1", r"seed\(s\) \[1\] more than once"), ("-1", "'-1' is not a seed"),
                     ("0-3,", "'' is not a seed")]:
        with pytest.raises(ValueError, match=r"--seeds.*" + why):
            parse_seeds(bad)


def test_bad_seeds_are_a_clear_error_before_anything_runs(course, capsys):
    base = ["reproduce", "--notebooks", str(course / "notebooks"),
            "--figures", str(course / "f"), "--outputs", str(course / "o")]
    assert cli.main(base + ["--seeds", "0..7"]) == 2
    err = capsys.readouterr().err
    assert "ebmlab reproduce: error: --seeds takes" in err and "'0..7'" in err
    assert cli.main(base + ["--seeds", "0-1", "-p", "SEED", "3"]) == 2
    assert "-p SEED" in capsys.readouterr().err
    write_nb(course / "notebooks" / "04-seedless.ipynb", "x = 1")
    nb = nbformat.read(course / "notebooks" / "04-seedless.ipynb", as_version=4)
    nb.cells[1].source = "QUICK = False"
    nbformat.write(nb, course / "notebooks" / "04-seedless.ipynb")
    assert cli.main(base + ["--seeds", "0-1", "--only", "04"]) == 2
    assert "['04-seedless.ipynb']" in capsys.readouterr().err
    assert not (course / "o").exists() and not (course / "f").exists()


SEEDY = ("import torch\nimport ebmlab as el\n"
         "el.record('twice', torch.tensor(2.0 * SEED))\nel.record('tag', f's{SEED}')",
         "assert SEED != 2, f'seed {SEED} is unlucky'",
         "el.record('after', SEED)")


def test_seeds_run_each_seed_and_report_status_and_values(tmp_path, capsys):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_nb(nbs / "01-seedy.ipynb", *SEEDY)
    code = cli.main(["reproduce", "--seeds", "1-3", "--jobs", "2", "--notebooks", str(nbs),
                     "--figures", str(tmp_path / "figures"),
                     "--outputs", str(tmp_path / "outputs"), "--timeout", "120"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["notebook", "/", "recorded", "seed", "1", "seed", "2", "seed",
                                "3", "mean", "±", "sd"]
    assert lines[1].split() == ["01-seedy.ipynb", "ok", "FAILED", "ok", "2/3", "passed"]
    assert lines[2].split() == ["twice", "2", "4", "6", "4", "±", "2"]
    assert lines[3].split() == ["tag", "s1", "s2", "s3", "(not", "a", "number)"]
    assert lines[4].split() == ["after", "1", "—", "3", "2", "±", "1.414", "(n=2)"]
    assert ("FAILED  01-seedy.ipynb seed 2 in cell In [4]: AssertionError: seed 2 is unlucky"
            in out)
    assert "2 of 3 runs passed (1 notebook(s) x 3 seed(s)); 1 failed" in out
    # Separate folders per seed; the single-run layout is untouched.
    for s in (1, 2, 3):
        assert (tmp_path / "outputs" / f"seed-{s}" / "01-seedy.ipynb").exists()
        got = json.loads((tmp_path / "figures" / f"seed-{s}" / "01-seedy" / "results.json")
                         .read_text())
        assert got["twice"] == 2.0 * s
    assert not (tmp_path / "outputs" / "01-seedy.ipynb").exists()
    manifest = json.loads((tmp_path / "figures" / "manifest.json").read_text(),
                          parse_constant=pytest.fail)
    assert manifest["notebooks"] == []
    [entry] = manifest["seeds"]
    assert entry["notebook"] == "01-seedy.ipynb" and entry["seeds"] == [1, 2, 3]
    assert (entry["passed"], entry["failed"]) == (2, 1)
    twice = entry["results"]["twice"]
    assert twice["by_seed"] == {"1": 2.0, "2": 4.0, "3": 6.0}
    assert (twice["mean"], twice["sd"], twice["n"]) == (4.0, 2.0, 3)
    assert "mean" not in entry["results"]["tag"]
    runs = {r["seed"]: r for r in entry["runs"]}
    assert [runs[s]["status"] for s in (1, 2, 3)] == ["ok", "failed", "ok"]
    assert runs[2]["failed_cell"] == "In [4]"
    assert runs[2]["error"] == "AssertionError: seed 2 is unlucky"
    assert runs[2]["results"] == {"twice": 4.0, "tag": "s2"}
    assert runs[3]["parameters"] == {"SEED": 3, "FIG_DIR": "figures/seed-3/01-seedy"}
    assert runs[3]["output"] == "outputs/seed-3/01-seedy.ipynb"


def test_seed_table_mean_sd_and_missing_values():
    def run(seed, ok, **results):
        return Result("01-x.ipynb", "ok" if ok else "failed", 1.0, {"SEED": seed}, "o",
                      results=results)

    table = seed_table([run(0, True, err=0.1, ess=100), run(1, True, err=0.3, ess="NaN"),
                        run(2, False, err=0.2)], [0, 1, 2])
    rows = [line.split() for line in table.splitlines()]
    assert rows[1] == ["01-x.ipynb", "ok", "ok", "FAILED", "2/3", "passed"]
    assert rows[2] == ["err", "0.1", "0.3", "0.2", "0.2", "±", "0.1"]
    assert rows[3] == ["ess", "100", "nan", "—", "nan", "±", "nan", "(n=2)"]
