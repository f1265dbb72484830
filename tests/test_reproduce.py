"""The reproduce runner: selection, parameters, failures reported while the others complete."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ebmlab import cli
from ebmlab.reproduce import discover, parameters_of, parse_value, reproduce

SAVE = """
import ebmlab as el
fig = el.viz.plot_curves([1, 2], {"y": [SEED, SEED + 1]}, "x", "y")
el.viz.savefig(fig, "curve")
"""


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
    write_nb(nbs / "02-broken.ipynb", "x = 1", "raise ValueError('deliberately broken')")
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
    assert "FAILED  02-broken.ipynb in cell In [4]: ValueError: deliberately broken" in out
    assert "2 of 3 notebooks ran; 1 failed: 02-broken.ipynb" in out
    # The others ran to the end and wrote their figures; the broken one's copy is kept.
    for stem in ("01-good", "03-good"):
        assert (course / "figures" / stem / "curve.png").exists()
        assert (course / "figures" / stem / "curve.svg").exists()
    executed = nbformat.read(course / "outputs" / "02-broken.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
    manifest = json.loads((course / "figures" / "manifest.json").read_text())
    entries = {e["notebook"]: e for e in manifest["notebooks"]}
    assert entries["02-broken.ipynb"]["status"] == "failed"
    # Cells run: parameters, injected parameters, x = 1, raise.
    assert entries["02-broken.ipynb"]["failed_cell"] == "In [4]"
    good = entries["01-good.ipynb"]
    assert good["status"] == "ok" and good["parameters"]["SEED"] == 3
    assert good["parameters"]["QUICK"] is True
    assert {f["path"].rsplit("/", 1)[1] for f in good["figures"]} == {"curve.png", "curve.svg"}
    assert all(len(f["sha256"]) == 64 for f in good["figures"])


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


def test_dask_cluster_runs_notebooks(course):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        report = reproduce(only=["01", "02"], quick=True, dask=cluster.scheduler_address,
                           notebooks_dir=course / "notebooks", out_dir=course / "o",
                           fig_root=course / "f", progress=False, timeout=120)
    status = {r.notebook: r.status for r in report.results}
    assert status == {"01-good.ipynb": "ok", "02-broken.ipynb": "failed"}
    assert (course / "f" / "01-good" / "curve.png").exists()


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
