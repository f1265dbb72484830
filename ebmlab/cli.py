"""``ebmlab lab | reproduce | sweep | list | app | student-copy``."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path


def _root() -> Path:
    """The project folder: the current directory if it has ``notebooks/``, else the checkout."""
    here = Path.cwd()
    if (here / "notebooks").is_dir():
        return here
    return Path(__file__).resolve().parent.parent


def cmd_list(args: argparse.Namespace) -> int:
    from .reproduce import discover, parameters_of

    nbs = discover(args.notebooks)
    manifest = Path(args.figures) / "manifest.json"
    figs: dict[str, list[str]] = {}
    if manifest.exists():
        for e in json.loads(manifest.read_text()).get("notebooks", []):
            figs[e["notebook"]] = [Path(f["path"]).name for f in e.get("figures", [])]
    for nb in nbs:
        print(nb.stem)
        for name, p in parameters_of(nb).items():
            print(f"    {name} = {p['default']}" + (f"    # {p['help']}" if p.get("help") else ""))
        made = figs.get(nb.name)
        print("    figures: " + (", ".join(made) if made else "(run `ebmlab reproduce` to make)"))
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import parse_seeds, parse_value, reproduce

    params = {name: parse_value(value) for name, value in (args.param or [])}
    try:
        seeds = None if args.seeds is None else parse_seeds(args.seeds, "--seeds")
        report = reproduce(only=args.only, quick=args.quick, parameters=params, jobs=args.jobs,
                           dask=args.dask, notebooks_dir=args.notebooks, out_dir=args.outputs,
                           fig_root=args.figures, timeout=args.timeout, seeds=seeds)
    except ValueError as err:
        print(f"ebmlab reproduce: error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    import json

    from .sweep import parse_grid, sweep

    out = args.out or str(_root() / "sweeps" / args.notebook)
    try:
        grid = parse_grid(args.param or [])
        report = sweep(args.notebook, grid, seeds=args.seeds, quick=args.quick, jobs=args.jobs,
                       dask=args.dask, out=out, notebooks_dir=args.notebooks,
                       timeout=args.timeout, progress=not args.json)
    except (ValueError, RuntimeError) as err:
        print(f"ebmlab sweep: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ebmlab sweep: interrupted; finished runs are kept, run the same command again "
              "to resume", file=sys.stderr)
        return 130
    print(json.dumps(report.to_json(), indent=1, default=str) if args.json
          else report.summary())
    return 0 if report.ok else 1


def cmd_lab(args: argparse.Namespace) -> int:
    nb_dir = Path(args.notebooks).resolve()
    token = args.token or secrets.token_hex(24)
    first = "00-tour.ipynb" if (nb_dir / "00-tour.ipynb").exists() else None
    if first is None:
        nbs = sorted(p.name for p in nb_dir.glob("[0-9][0-9]-*.ipynb"))
        first = nbs[0] if nbs else None
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={args.port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={nb_dir}"]
    if first:
        cmd.append(f"--ServerApp.default_url=/lab/tree/{first}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if args.no_browser:
        cmd.append("--no-browser")
    where = f"lab/tree/{first}" if first else "lab"
    print(f"JupyterLab on http://127.0.0.1:{args.port}/{where}?token={token}", flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def cmd_student(args: argparse.Namespace) -> int:
    from .student import student_copy

    paths = student_copy(args.notebooks, args.out)
    print(f"{len(paths)} student notebooks (solutions removed) in {args.out}")
    return 0


APPS = {
    "explorer": ("EnergyExplorer", "import ebmlab as el\nel.widgets.EnergyExplorer({arg!r})",
                 "ring"),
    "sampler": ("SamplerLab", "import ebmlab as el\nel.widgets.SamplerLab({arg!r})", "ring"),
    "ising": ("IsingLab", "import ebmlab as el\nel.widgets.IsingLab()", None),
}


def app_notebook(kind: str, folder: Path, energy: str | None = None,
                 settings: str | None = None) -> Path:
    """Write the one-cell notebook that Voila serves for ``ebmlab app <kind>``."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    title, template, default = APPS[kind]
    if kind == "sampler" and settings:
        code = f"import ebmlab as el\nel.widgets.SamplerLab.from_settings({settings!r})"
    else:
        code = template.format(arg=energy or default)
    nb = new_notebook(cells=[new_markdown_cell(f"# ebmlab · {title}"), new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / f"ebmlab-{kind}.ipynb"
    nbformat.write(nb, path)
    return path


def voila_command(notebook: Path, port: int, no_browser: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1",
           "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext",
           "--VoilaConfiguration.file_allowlist=['.*']"]
    if no_browser:
        cmd.append("--no-browser")
    return cmd


def cmd_app(args: argparse.Namespace) -> int:
    import tempfile

    from . import energies

    if args.energy is not None and APPS[args.kind][2] is None:
        print(f"ebmlab app: error: --energy does not apply to the {args.kind} app",
              file=sys.stderr)
        return 2
    if args.energy is not None and args.energy not in energies.names():
        print(f"ebmlab app: error: --energy must be one of {energies.names()}, got "
              f"{args.energy!r}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="ebmlab-app-"))
    nb = app_notebook(args.kind, folder, args.energy, args.settings)
    print(f"ebmlab {args.kind} app on http://127.0.0.1:{args.port}/", flush=True)
    try:
        return subprocess.call(voila_command(nb, args.port, args.no_browser))
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    root = _root()
    p = argparse.ArgumentParser(prog="ebmlab", description="Energy-based models workbench.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--notebooks", default=str(root / "notebooks"), help="notebooks folder")
        sp.add_argument("--figures", default=str(root / "figures"), help="figures folder")

    sp = sub.add_parser("list", help="notebooks, their parameters and their figures")
    common(sp)
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("reproduce", help="execute notebooks headlessly; collect figures, "
                                          "recorded numbers and a manifest")
    common(sp)
    sp.add_argument("--outputs", default=str(root / "outputs"), help="executed notebooks folder")
    sp.add_argument("--quick", action="store_true", help="inject QUICK=True (fast profile)")
    sp.add_argument("--only", action="append", metavar="NN",
                    help="run only notebooks whose name starts with NN (repeatable)")
    sp.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="override a parameter, e.g. -p SEED 3 (repeatable)")
    sp.add_argument("--seeds", metavar="SEEDS",
                    help="run every notebook once per seed, e.g. 0-7 or 0,3,5 (SEED injected; "
                         "outputs in seed-<s>/ folders; table of status and mean ± sd)")
    sp.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run in parallel")
    sp.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster (shared files)")
    sp.add_argument("--timeout", type=float, default=900.0, help="seconds per cell")
    sp.set_defaults(func=cmd_reproduce)

    sp = sub.add_parser("sweep", help="one notebook over a grid of parameters and seeds: "
                        "results.csv and mean ± 95 %% CI plots; resumable")
    sp.add_argument("notebook", help="notebook name or NN prefix, e.g. 04")
    sp.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUES"),
                    help="a swept parameter and its comma-separated values, e.g. "
                         "-p N_REPLICAS 2,4,8 (repeatable: the grid is their product)")
    sp.add_argument("--seeds", default="0", metavar="SEEDS", help="e.g. 0-7 or 0,3,5")
    sp.add_argument("--quick", action="store_true", help="inject QUICK=True (fast profile)")
    sp.add_argument("--jobs", "-j", type=int, default=1,
                    help="runs in parallel (local processes or LocalCluster workers)")
    sp.add_argument("--dask", metavar="ADDRESS",
                    help="'local' (a LocalCluster of --jobs workers) or a scheduler address")
    sp.add_argument("--out", help="sweep folder: runs, results.csv, plots (default sweeps/NN)")
    sp.add_argument("--notebooks", default=str(root / "notebooks"), help="notebooks folder")
    sp.add_argument("--timeout", type=float, default=900.0, help="seconds per cell")
    sp.add_argument("--json", action="store_true", help="print a JSON summary, no progress bar")
    sp.set_defaults(func=cmd_sweep)

    sp = sub.add_parser("lab", help="JupyterLab on the course (127.0.0.1, with a token)")
    sp.add_argument("--notebooks", default=str(root / "notebooks"))
    sp.add_argument("--port", type=int, default=8888)
    sp.add_argument("--token", default=os.environ.get("EBMLAB_TOKEN"))
    sp.add_argument("--no-browser", action="store_true")
    sp.set_defaults(func=cmd_lab)

    sp = sub.add_parser("student-copy", help="the notebooks without their solution cells")
    sp.add_argument("--notebooks", default=str(root / "notebooks"))
    sp.add_argument("--out", default=str(root / "student"))
    sp.set_defaults(func=cmd_student)

    sp = sub.add_parser("app", help="serve a widget as a stand-alone web app (Voila, 127.0.0.1)")
    sp.add_argument("kind", choices=sorted(APPS), help="which widget")
    sp.add_argument("--energy", help="registered landscape to start on")
    sp.add_argument("--settings", help="SamplerLab settings string to restore (sampler only)")
    sp.add_argument("--port", type=int, default=8866)
    sp.add_argument("--no-browser", action="store_true")
    sp.set_defaults(func=cmd_app)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
