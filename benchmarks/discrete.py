"""Discrete kernels on the 2-D Ising model, side by side in one run, single-threaded.

    .venv/bin/python benchmarks/discrete.py            # about 2 minutes
    .venv/bin/python benchmarks/discrete.py --quick    # smaller lattice, fewer steps

1. Throughput: checkerboard Gibbs sweeps per second through ``Gibbs().run`` (validation,
   structure lookup, divergence check and recording included) against the same heat-bath
   update written by hand in plain PyTorch (rolls of an ``(N, L, L)`` lattice), at
   ``T = 2.5``.
2. Efficiency at the critical temperature, at equal wall time per kernel: ESS of ``|m|``
   and of ``E`` (basic ESS, ``el.diagnostics.ess``) per energy call and per second, and the
   integrated autocorrelation time of ``|m|``, for checkerboard and random-scan Gibbs and
   Metropolis, Gibbs-with-gradients and Wolff, from the same equilibrated start (an oracle
   start, on purpose: this measures mixing in equilibrium, not burn-in). Runs shorter than
   20 autocorrelation times are flagged: their ESS is not trustworthy.

Writes ``benchmarks/results/discrete.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import ebmlab as el  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent


def plain_checkerboard(x: torch.Tensor, L: int, beta: float, n_steps: int,
                       gen: torch.Generator) -> torch.Tensor:
    """The hand-written loop: heat-bath checkerboard sweeps of ``E = -Σ s_i s_j`` at ``β``."""
    s = x.view(-1, L, L).clone()
    r, c = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    masks = [((r + c) % 2 == k) for k in (0, 1)]
    for _ in range(n_steps):
        for m in masks:
            f = s.roll(1, 1) + s.roll(-1, 1) + s.roll(1, 2) + s.roll(-1, 2)
            p_up = torch.sigmoid(2.0 * beta * f)
            new = torch.where(torch.rand(s.shape, generator=gen) < p_up, 1.0, -1.0)
            s = torch.where(m, new, s)
    return s.view(x.shape[0], -1)


def throughput(L: int, n_chains: int, n_steps: int, repeats: int) -> dict:
    """Interleaved repeats (ours, then the plain loop), so that load from other processes
    hits both alike; the ratio is the median of the per-repeat ratios."""
    E = el.energies.Ising(L).tempered(2.5)
    x0 = torch.where(torch.rand(n_chains, L * L, generator=torch.Generator().manual_seed(0))
                     < 0.5, -1.0, 1.0)
    gen = torch.Generator().manual_seed(0)
    ours, plain = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        el.samplers.Gibbs().run(E, x0=x0, n_steps=n_steps, seed=0)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain_checkerboard(x0, L, 1 / 2.5, n_steps, gen)
        plain.append(time.perf_counter() - t)
    return {"L": L, "n_chains": n_chains,
            "ebmlab_sweeps_per_s": n_steps / statistics.median(ours),
            "plain_sweeps_per_s": n_steps / statistics.median(plain),
            "ratio": statistics.median(p / o for p, o in zip(plain, ours, strict=True))}


def efficiency(L: int, n_chains: int, seconds: float, seed: int = 0) -> list[dict]:
    """Every kernel gets the same wall-time budget (steps from a 10-step pilot run)."""
    tc = el.energies.critical_temperature()
    E = el.energies.Ising(L).tempered(tc)
    # An equilibrated start shared by every kernel: Wolff from random spins.
    start = el.samplers.Wolff().run(E, n_chains=n_chains, n_steps=300, seed=seed).final
    out = []
    kernels = {
        "gibbs (checkerboard)": el.samplers.Gibbs(),
        "metropolis (checkerboard)": el.samplers.MetropolisFlip(scan="checkerboard"),
        "gibbs (random scan)": el.samplers.Gibbs(scan="random"),
        "metropolis (random scan)": el.samplers.MetropolisFlip(),
        "gibbs-with-gradients": el.samplers.GibbsWithGradients(),
        "wolff": el.samplers.Wolff(),
    }
    for name, k in kernels.items():
        pilot = k.run(E, x0=start, n_steps=10, seed=seed + 1)
        n_steps = max(20, int(seconds / (pilot.wall_time / 10)))
        t = k.run(E, x0=start, n_steps=n_steps, seed=seed + 1)
        m = t.samples.double().mean(-1).abs()
        e = t.energy.double()
        ess_m = float(el.diagnostics.ess(m, kind="basic")[0])
        ess_e = float(el.diagnostics.ess(e, kind="basic")[0])
        tau = n_steps * n_chains / ess_m  # integrated autocorrelation time of |m|, in steps
        calls = t.n_energy_evals + t.n_grad_evals
        out.append({"kernel": name, "L": L, "n_chains": n_chains, "n_steps": n_steps,
                    "ess_abs_m": ess_m, "ess_energy": ess_e, "tau_abs_m": tau,
                    "reliable": n_steps >= 20 * tau,
                    "ess_abs_m_per_call": ess_m / calls, "ess_abs_m_per_s": ess_m / t.wall_time,
                    "ess_energy_per_s": ess_e / t.wall_time, "calls": calls,
                    "wall_time": t.wall_time, "acceptance": float(t.acceptance.mean())})
        print(f"  {name}: {n_steps} steps, {t.wall_time:.1f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    L = 8 if args.quick else 16
    rep = 3 if args.quick else 5
    print("throughput …", flush=True)
    div = 2 if args.quick else 1
    thr = [throughput(Lt, n, steps // div, rep)
           for Lt, n, steps in ((16, 64, 200), (64, 64, 40), (32, 1024, 20))]
    seconds = 4.0 if args.quick else 15.0
    print(f"efficiency at T_c, L = {L} …", flush=True)
    eff = efficiency(L, 32, seconds)
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "cpu": platform.processor() or platform.machine(),
                          "threads": torch.get_num_threads()},
              "throughput": thr, "efficiency": eff}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "discrete.json").write_text(json.dumps(result, indent=1))

    print("\n| L | chains | ebmlab (sweeps/s) | plain loop (sweeps/s) | ebmlab ÷ plain |")
    print("|---|---|---|---|---|")
    for r in thr:
        print(f"| {r['L']} | {r['n_chains']} | {r['ebmlab_sweeps_per_s']:.0f} | "
              f"{r['plain_sweeps_per_s']:.0f} | {r['ratio']:.2f}× |")
    print(f"\nAt T_c, L = {L}, 32 chains from an equilibrated start, {seconds:g} s each:\n")
    print("| kernel | steps | τ(|m|) (steps) | ESS(|m|)/call | ESS(|m|)/s | ESS(E)/s | "
          "acceptance |")
    print("|---|---|---|---|---|---|---|")
    for r in eff:
        flag = "" if r["reliable"] else " (run < 20 τ)"
        print(f"| {r['kernel']} | {r['n_steps']} | {r['tau_abs_m']:.3g}{flag} | "
              f"{r['ess_abs_m_per_call']:.3g} | {r['ess_abs_m_per_s']:.3g} | "
              f"{r['ess_energy_per_s']:.3g} | {r['acceptance']:.2f} |")

if __name__ == "__main__":
    main()
