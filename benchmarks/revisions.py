"""Per-step cost of the samplers in this tree against another git revision, A/B.

    .venv/bin/python benchmarks/revisions.py 6d275e5            # ULA, MALA, HMC at N = 1, 100
    .venv/bin/python benchmarks/revisions.py HEAD~3 --rounds 5

For refactors of the sampler core: is the new code slower per step than the old one? Each
(kernel, N) is timed in a fresh process per revision, alternating revisions, ``--rounds``
times; each process reports the *minimum* over 30 short repeats of the CPU time
(``time.process_time``) per step of ``kernel.run`` on the 8-mode ring. The minimum of CPU time
filters out most interference from other processes, so this comparison stays meaningful on a
shared, loaded machine where wall-clock throughput (``samplers.py``) swings by ±50 %.

The other revision is checked out into a temporary git worktree and imported through
``PYTHONPATH``. Revisions before the sampler-core rewrite (``Sampler.run``, integer ``adapt``)
are handled. Prints a table of µs per step and the ratio old/new (> 1: this tree is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
import ebmlab as el
kind, n_chains = sys.argv[1], int(sys.argv[2])
legacy = not hasattr(el.samplers, "Chain")  # before the sampler core: adapt was an int
adapt = 0 if legacy else False
ring = el.energies.GaussianMixture.ring(8, 4.0, 0.5)
kernel = {"ula": lambda: el.samplers.ULA(step_size=0.01),
          "mala": lambda: el.samplers.MALA(step_size=0.05, adapt=adapt),
          "hmc": lambda: el.samplers.HMC(step_size=0.05, n_leapfrog=10, adapt=adapt)}[kind]()
x0 = torch.randn(n_chains, 2, generator=torch.Generator().manual_seed(1))
n = max((200 if n_chains == 1 else 100) // (10 if kind == "hmc" else 1), 10)
kernel.run(ring, x0=x0, n_steps=n, thin=n, seed=0)
best = float("inf")
for _ in range(30):
    t = time.process_time()
    kernel.run(ring, x0=x0, n_steps=n, thin=n, seed=0)
    best = min(best, (time.process_time() - t) / n * 1e6)
print(json.dumps(best))
"""


def probe(pythonpath: Path, kind: str, n_chains: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(pythonpath))
    out = subprocess.run([sys.executable, "-c", PROBE, kind, str(n_chains)], env=env,
                         capture_output=True, text=True, check=True, cwd=pythonpath)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revision", help="git revision to compare against, e.g. 6d275e5")
    ap.add_argument("--rounds", type=int, default=3, help="alternations per case")
    ap.add_argument("--kernels", default="ula,mala,hmc")
    ap.add_argument("--chains", default="1,100")
    args = ap.parse_args()
    kinds = args.kernels.split(",")
    chains = [int(c) for c in args.chains.split(",")]
    with tempfile.TemporaryDirectory(prefix="ebmlab-rev-") as tmp:
        old = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(old), args.revision], check=True)
        print(f"| kernel | N | this tree (µs/step, best) | {args.revision} (µs/step, best) "
              "| old/new, best | old/new per round |", flush=True)
        print("|---|---|---|---|---|---|", flush=True)
        try:  # rows print as they finish: an interrupted comparison keeps what it measured
            for kind in kinds:
                for n in chains:
                    new_t, old_t = [], []
                    for _ in range(args.rounds):
                        new_t.append(probe(ROOT, kind, n))
                        old_t.append(probe(old, kind, n))
                    ratios = [o / m for m, o in zip(new_t, old_t, strict=True)]
                    print(f"| {kind.upper()} | {n} | {min(new_t):.1f} | {min(old_t):.1f} | "
                          f"{min(old_t) / min(new_t):.2f} | "
                          f"{', '.join(f'{r:.2f}' for r in ratios)} (median "
                          f"{statistics.median(ratios):.2f}) |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)


if __name__ == "__main__":
    main()
