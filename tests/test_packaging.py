"""Packaging and conventions: environment.yml in step with pyproject, clean notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in pyproject["dependencies"]}
    wanted |= {_name(r) for r in pyproject["optional-dependencies"]["dev"]}
    env = (ROOT / "environment.yml").read_text()
    listed = {_name(m.group(1)) for m in re.finditer(r"^\s+-\s+([A-Za-z][\w.-]*[^\n]*)$", env,
                                                    re.M)}
    missing = {CONDA_NAMES.get(n, n) for n in wanted} - listed
    assert not missing, f"environment.yml lacks {sorted(missing)}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_conventions(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert re.fullmatch(r"\d\d-[a-z0-9-]+", path.stem), "name notebooks NN-topic.ipynb"
    assert cells[0]["cell_type"] == "markdown", "start with a markdown title"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "notebooks are stored without outputs"
    first = code[0]
    assert "parameters" in first["metadata"].get("tags", []), "first code cell is `parameters`"
    src = "".join(first["source"])
    for name in ("QUICK", "SEED", "FIG_DIR"):
        assert re.search(rf"^{name}\s*=", src, re.M), f"parameters cell lacks {name}"
    assert f'"figures/{path.stem}"' in src
    assert any("assert" in "".join(c["source"]) for c in code), "notebooks check their claims"
