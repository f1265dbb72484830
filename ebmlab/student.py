"""Student copies of the course: the notebooks without the cells tagged ``solution``."""

from __future__ import annotations

import os
from pathlib import Path

from .reproduce import discover


def student_copy(notebooks_dir: str | os.PathLike = "notebooks",
                 out_dir: str | os.PathLike = "student") -> list[Path]:
    """Write every course notebook to ``out_dir`` without its ``solution`` cells (and without
    outputs); returns the written paths. The task cell before each solution stays."""
    import nbformat

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in discover(notebooks_dir):
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs, c.execution_count = [], None
        target = out / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written
