"""Discrete kernels on the 2-D Ising model and the RBM, side by side in one run,
single-threaded.

    .venv/bin/python benchmarks/discrete.py            # about 5 minutes on a quiet machine
    .venv/bin/python benchmarks/discrete.py --quick    # 64 and 128 only, fewer repeats

1. Spin updates per second on one ``L × L`` lattice (``L = 64 … 512``) at ``T_c`` for
   checkerboard Gibbs (heat bath; ``L²`` updates per sweep) and Wolff (spins flipped per
   second, i.e. cluster sizes summed), four ways:
   - **ebmlab**: ``el.samplers.Chain(kernel, Ising(L, dtype=float32).tempered(T_c), x0)
     .advance(n)`` — the driver every notebook and widget uses, divergence check included;
   - **plain PyTorch**: the same algorithm written by hand (rolls of an ``(L, L)`` float32
     lattice; Wolff's cluster grown frontier by frontier through pre-drawn bonds, as ours);
   - **NumPy**: the same, with ``np.roll`` and a ``default_rng`` float32 stream;
   - **C floor** (``benchmarks/floor_ising.c``, ``cc -O3 -march=native``): int8 spins updated
     in place with tabulated flip probabilities and xorshift uniforms; Wolff grown with an
     explicit stack (each spin visited once per cluster), the usual sequential algorithm.
   Repeats are interleaved (every implementation once, then again), so load from other
   processes hits all alike; ratios are medians of per-repeat ratios.
2. RBM block Gibbs (``h ~ p(h | v)``, ``v ~ p(v | h)``) steps per second: ebmlab's
   ``Gibbs`` through ``Chain.advance`` against the loop written by hand
   (``torch.bernoulli(torch.sigmoid(v @ W + b_h))`` and back), float32.
3. Efficiency at the critical temperature, at equal wall time per kernel: ESS of ``|m|``
   and of ``E`` (basic ESS, ``el.diagnostics.ess``) per energy call and per second, and the
   integrated autocorrelation time of ``|m|``, for checkerboard and random-scan Gibbs and
   Metropolis, Gibbs-with-gradients and Wolff, from the same equilibrated start (an oracle
   start, on purpose: this measures mixing in equilibrium, not burn-in). Runs shorter than
   20 autocorrelation times are flagged: their ESS is not trustworthy.

Writes ``benchmarks/results/discrete.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ebmlab as el  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
TC = el.energies.critical_temperature()
SHIFTS = ((-1, 1), (1, 1), (-1, 0), (1, 0))  # right, left, down, up neighbour of (L, L)


# -- the C floor --------------------------------------------------------------------------------

_FLOOR = None


def floor_lib():
    """``benchmarks/floor_ising.c`` compiled with ``cc`` (``None`` without a compiler)."""
    global _FLOOR
    if _FLOOR is None and shutil.which("cc") is not None:
        out = Path(tempfile.mkdtemp()) / "floor_ising.so"
        subprocess.run(["cc", "-O3", "-march=native", "-shared", "-fPIC",
                        str(HERE / "floor_ising.c"), "-o", str(out), "-lm"], check=True)
        lib = ctypes.CDLL(str(out))
        i8 = ctypes.POINTER(ctypes.c_int8)
        lib.gibbs_checkerboard.argtypes = [i8, ctypes.c_int, ctypes.c_int, ctypes.c_float,
                                           ctypes.c_uint32]
        lib.wolff.argtypes = [i8, ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_uint32]
        lib.wolff.restype = ctypes.c_long
        _FLOOR = lib
    return _FLOOR


def _i8(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))


# -- checkerboard Gibbs, four ways ------------------------------------------------------------


def torch_checkerboard(s: torch.Tensor, beta: float, sweeps: int, gen: torch.Generator):
    """Heat-bath checkerboard sweeps of ``(L, L)`` float32 spins, written by hand."""
    L = s.shape[0]
    r, c = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    masks = [((r + c) % 2 == k) for k in (0, 1)]
    for _ in range(sweeps):
        for m in masks:
            f = s.roll(1, 0) + s.roll(-1, 0) + s.roll(1, 1) + s.roll(-1, 1)
            p_up = torch.sigmoid(2.0 * beta * f)
            new = torch.where(torch.rand(s.shape, generator=gen) < p_up, 1.0, -1.0)
            s = torch.where(m, new, s)
    return s


def numpy_checkerboard(s: np.ndarray, beta: float, sweeps: int, rng: np.random.Generator):
    L = s.shape[0]
    r, c = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    masks = [((r + c) % 2 == k) for k in (0, 1)]
    for _ in range(sweeps):
        for m in masks:
            f = np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1)
            p_up = 1.0 / (1.0 + np.exp(np.float32(-2.0 * beta) * f))
            new = np.where(rng.random(s.shape, dtype=np.float32) < p_up, np.float32(1),
                           np.float32(-1))
            s = np.where(m, new, s)
    return s


# -- Wolff, four ways -----------------------------------------------------------------------------


def torch_wolff(s: torch.Tensor, beta: float, clusters: int, gen: torch.Generator):
    """Single-cluster Wolff flips of ``(L, L)`` float32 spins, frontier by frontier through
    pre-drawn bonds (the algorithm of ``el.samplers.Wolff``), written by hand. Returns the
    spins and the number flipped."""
    L = s.shape[0]
    p_add = -math.expm1(-2.0 * beta)
    flipped = 0
    for _ in range(clusters):
        open_ = [(s.roll(*sh) == s) & (torch.rand(s.shape, generator=gen) < p_add)
                 for sh in SHIFTS]
        cluster = torch.zeros(L * L, dtype=torch.bool)
        cluster[torch.randint(L * L, (1,), generator=gen)] = True
        cluster = cluster.view(L, L)
        frontier = cluster
        while bool(frontier.any()):
            reach = open_[0] & frontier.roll(*SHIFTS[0])
            for k in range(1, 4):
                reach |= open_[k] & frontier.roll(*SHIFTS[k])
            frontier = reach & ~cluster
            cluster = cluster | frontier
        s = torch.where(cluster, -s, s)
        flipped += int(cluster.sum())
    return s, flipped


def numpy_wolff(s: np.ndarray, beta: float, clusters: int, rng: np.random.Generator):
    L = s.shape[0]
    p_add = -math.expm1(-2.0 * beta)
    flipped = 0
    for _ in range(clusters):
        open_ = [(np.roll(s, *sh) == s) & (rng.random(s.shape, dtype=np.float32) < p_add)
                 for sh in SHIFTS]
        cluster = np.zeros((L, L), dtype=bool)
        i = rng.integers(L * L)
        cluster[i // L, i % L] = True
        frontier = cluster
        while frontier.any():
            reach = open_[0] & np.roll(frontier, *SHIFTS[0])
            for k in range(1, 4):
                reach |= open_[k] & np.roll(frontier, *SHIFTS[k])
            frontier = reach & ~cluster
            cluster = cluster | frontier
        s = np.where(cluster, -s, s)
        flipped += int(cluster.sum())
    return s, flipped


def spin_updates(kind: str, L: int, repeats: int, target_s: float) -> dict:
    """Spin updates per second of ebmlab, plain PyTorch, NumPy and the C floor on one
    lattice at ``T_c`` (``kind``: ``"gibbs"`` or ``"wolff"``), interleaved repeats."""
    beta = 1.0 / TC
    lib = floor_lib()
    rng0 = np.random.default_rng(L)
    start = np.where(rng0.random((L, L)) < 0.5, 1, -1).astype(np.int8)
    if lib is not None:  # equilibrate at T_c: Wolff clusters in C until 20 L² spins flipped
        flipped, k = 0, 0
        while flipped < 20 * L * L:
            flipped += lib.wolff(_i8(start), L, 100, beta, 7 + k)
            k += 1
    energy = el.energies.Ising(L, dtype=torch.float32).tempered(TC)
    kernel = el.samplers.Gibbs() if kind == "gibbs" else el.samplers.Wolff()
    x0 = torch.from_numpy(start.astype(np.float32)).view(1, -1)

    def ebmlab_run(n, seed=1):
        ch = el.samplers.Chain(kernel, energy, x0.clone(), seed=seed)
        if kind == "gibbs":
            t = time.perf_counter()
            ch.advance(n)
            return time.perf_counter() - t, n * L * L
        t = time.perf_counter()
        ch.advance(n)
        dt = time.perf_counter() - t
        # The same run again (same seed: same clusters), counting the spins each step flips.
        ch2 = el.samplers.Chain(kernel, energy, x0.clone(), seed=seed)
        prev = [ch2.state.x]
        count = [0]

        def cb(_i, state):
            count[0] += int((state.x != prev[0]).sum())
            prev[0] = state.x

        ch2.advance(n, callback=cb)
        return dt, count[0]

    def torch_run(n, seed=2):
        s = torch.from_numpy(start.astype(np.float32))
        gen = torch.Generator().manual_seed(seed)
        t = time.perf_counter()
        if kind == "gibbs":
            torch_checkerboard(s, beta, n, gen)
            return time.perf_counter() - t, n * L * L
        _, flips = torch_wolff(s, beta, n, gen)
        return time.perf_counter() - t, flips

    def numpy_run(n, seed=3):
        s = start.astype(np.float32)
        rng = np.random.default_rng(seed)
        t = time.perf_counter()
        if kind == "gibbs":
            numpy_checkerboard(s, beta, n, rng)
            return time.perf_counter() - t, n * L * L
        _, flips = numpy_wolff(s, beta, n, rng)
        return time.perf_counter() - t, flips

    def floor_run(n, seed=11):
        s = start.copy()
        t = time.perf_counter()
        if kind == "gibbs":
            lib.gibbs_checkerboard(_i8(s), L, n, beta, seed)
            return time.perf_counter() - t, n * L * L
        flips = lib.wolff(_i8(s), L, n, beta, seed)
        return time.perf_counter() - t, flips

    impls = {"ebmlab": ebmlab_run, "torch": torch_run, "numpy": numpy_run}
    if lib is not None:
        impls["floor"] = floor_run
    if kind == "wolff":
        return _wolff_rates(impls, L, repeats, target_s)
    # Size each implementation's run to about target_s from a pilot.
    sizes = {}
    for name, fn in impls.items():
        n = 2
        while True:
            dt, _ = fn(n)
            if dt > target_s / 4 or n >= 10**6:
                break
            n *= 4
        sizes[name] = max(1, int(n * target_s / max(dt, 1e-9)))
    rates: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            dt, updates = fn(sizes[name])
            rates[name].append(updates / dt)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = {k: statistics.median(e / o for e, o in zip(rates["ebmlab"], v, strict=True))
             for k, v in rates.items() if k != "ebmlab"}
    return {"kernel": kind, "L": L, "T": TC, "updates_per_s": med,
            "ebmlab_over": ratio, "steps": sizes}


def _wolff_rates(impls: dict, L: int, rounds: int, target_s: float) -> dict:
    """Wolff cluster sizes at T_c are broad (1 … L² spins), so a rate from a few clusters is
    mostly luck: every implementation runs ``rounds`` interleaved chunks of clusters with
    fresh seeds, each chunk sized to ``target_s`` from a one-cluster pilot, and the rate is
    all spins flipped over all the time. The mean cluster size of each is reported: they
    estimate the same quantity, so a large disagreement flags a noisy comparison."""
    per_cluster = {}
    for name, fn in impls.items():
        dt, _ = fn(1, 1000)
        per_cluster[name] = max(dt, 1e-6)
    total_t = {k: 0.0 for k in impls}
    total_f = {k: 0 for k in impls}
    total_c = {k: 0 for k in impls}
    for r in range(rounds):
        for name, fn in impls.items():
            k = max(1, int(target_s / per_cluster[name]))
            dt, flips = fn(k, 17 + 101 * r)
            total_t[name] += dt
            total_f[name] += flips
            total_c[name] += k
            per_cluster[name] = max(dt / k, 1e-6)
    rate = {k: total_f[k] / total_t[k] for k in impls}
    return {"kernel": "wolff", "L": L, "T": TC, "updates_per_s": rate,
            "ebmlab_over": {k: rate["ebmlab"] / v for k, v in rate.items() if k != "ebmlab"},
            "clusters": total_c,
            "mean_cluster_size": {k: total_f[k] / total_c[k] for k in impls}}


# -- RBM block Gibbs --------------------------------------------------------------------------


def hand_rbm(v, W, bv, bh, steps, gen):
    """Block Gibbs written by hand: ``h ~ p(h | v)``, ``v ~ p(v | h)``."""
    for _ in range(steps):
        h = torch.bernoulli(torch.sigmoid(v @ W + bh), generator=gen)
        v = torch.bernoulli(torch.sigmoid(h @ W.T + bv), generator=gen)
    return v


def rbm_block_gibbs(nv: int, nh: int, n: int, repeats: int, target_s: float) -> dict:
    rbm = el.energies.RBM(nv, nh, seed=0, weight_scale=0.1, dtype=torch.float32)
    with torch.no_grad():
        rbm.b_visible.normal_(0, 0.5)
        rbm.b_hidden.normal_(0, 0.5)
    W, bv, bh = (p.detach() for p in (rbm.W, rbm.b_visible, rbm.b_hidden))
    v0 = torch.bernoulli(torch.full((n, nv), 0.5), generator=torch.Generator().manual_seed(0))
    kernel = el.samplers.Gibbs()

    def ours(k):
        ch = el.samplers.Chain(kernel, rbm, v0, seed=1)
        t = time.perf_counter()
        ch.advance(k)
        return time.perf_counter() - t

    def hand(k):
        gen = torch.Generator().manual_seed(1)
        t = time.perf_counter()
        with torch.no_grad():
            hand_rbm(v0, W, bv, bh, k, gen)
        return time.perf_counter() - t

    k = 4
    while ours(k) < target_s / 4 and k < 10**6:
        k *= 4
    k = max(2, int(k * target_s / max(ours(k), 1e-9)))
    a, b = [], []
    for _ in range(repeats):
        a.append(k / ours(k))
        b.append(k / hand(k))
    return {"n_visible": nv, "n_hidden": nh, "n_chains": n, "steps": k,
            "ebmlab_steps_per_s": statistics.median(a), "hand_steps_per_s": statistics.median(b),
            "ratio": statistics.median(x / y for x, y in zip(a, b, strict=True))}


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


def isinglab_frames(L: int, sweeps: int, frames: int = 40) -> dict:
    """``IsingLab`` frames (checkerboard Gibbs, ``sweeps`` per frame, the frame budget off):
    ``chain.advance``, the lattice PNG, the SVG traces and read-outs — the Python side of a
    frame; wall time and process CPU time (the latter is what a quiet core would take)."""
    lab = el.widgets.IsingLab(L=L, temperature=TC, steps_per_frame=sweeps,
                              frame_budget_ms=1e9)
    for _ in range(5):
        lab.frame()
    wall, cpu, kb = [], [], []
    for _ in range(frames):
        w, c = time.perf_counter(), time.process_time()
        lab.frame()
        wall.append((time.perf_counter() - w) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
        kb.append((len(lab.image.value) + len(lab.traces.value)) / 1024)
    med_w, med_c = statistics.median(wall), statistics.median(cpu)
    return {"L": L, "sweeps_per_frame": sweeps, "interval_ms": lab.interval_ms,
            "median_frame_ms": med_w, "median_frame_cpu_ms": med_c,
            "p90_frame_ms": sorted(wall)[int(0.9 * len(wall))], "update_kb": statistics.median(kb),
            "fps_wall": min(1000.0 / lab.interval_ms, 1000.0 / med_w),
            "fps_cpu": min(1000.0 / lab.interval_ms, 1000.0 / med_c)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("spins", "rbm", "efficiency", "widget"), action="append",
                    help="run only these sections (repeatable); the others keep their "
                         "previous results in the JSON")
    args = ap.parse_args()
    only = set(args.only or ("spins", "rbm", "efficiency", "widget"))
    out = HERE / "results" / "discrete.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result = {k: v for k, v in result.items()
              if k in ("spins", "rbm", "efficiency", "widget", "browser")}
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                         "numpy": np.__version__, "cpu": platform.processor()
                         or platform.machine(), "threads": torch.get_num_threads(),
                         "load_average": os.getloadavg()}
    rep = 3 if args.quick else 5
    if "spins" in only:
        sizes = (64, 128) if args.quick else (64, 128, 256, 512)
        spins = []
        for kind in ("gibbs", "wolff"):
            for L in sizes:
                print(f"spin updates: {kind}, L = {L} …", flush=True)
                spins.append(spin_updates(kind, L, rep, 0.15 if args.quick else 0.4))
        result["spins"] = spins
    if "rbm" in only:
        print("RBM block Gibbs …", flush=True)
        result["rbm"] = [rbm_block_gibbs(nv, nh, n, rep, 0.15 if args.quick else 0.4)
                         for nv, nh, n in ((64, 20, 1000), (784, 500, 100), (784, 64, 1000))]
    L, seconds = (8, 4.0) if args.quick else (16, 15.0)
    if "efficiency" in only:
        print(f"efficiency at T_c, L = {L} …", flush=True)
        result["efficiency"] = efficiency(L, 32, seconds)
    if "widget" in only:
        print("IsingLab frames …", flush=True)
        result["widget"] = [isinglab_frames(L, k) for L, k in ((128, 5), (256, 2), (512, 1))]
    result["load_average_end"] = os.getloadavg()
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print_tables(result)


def print_tables(result: dict) -> None:
    if "spins" in result:
        print("\nSpin updates per second (millions), one lattice at T_c; ratios ebmlab ÷ other "
              "(> 1: ebmlab faster):\n")
        print("| kernel | L | ebmlab | plain PyTorch | NumPy | C floor | vs PyTorch | vs NumPy "
              "| vs floor |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in result["spins"]:
            u, q = r["updates_per_s"], r["ebmlab_over"]
            fl = f"{u['floor'] / 1e6:.1f}" if "floor" in u else "–"
            qf = f"{q['floor']:.3f}×" if "floor" in q else "–"
            print(f"| {r['kernel']} | {r['L']} | {u['ebmlab'] / 1e6:.2f} | "
                  f"{u['torch'] / 1e6:.2f} | {u['numpy'] / 1e6:.2f} | {fl} | "
                  f"{q['torch']:.2f}× | {q['numpy']:.2f}× | {qf} |")
    wolff = [r for r in result.get("spins", []) if r["kernel"] == "wolff"]
    if wolff:
        print("\nWolff: clusters timed and mean cluster size per implementation "
              "(ebmlab / PyTorch / NumPy / floor):\n")
        for r in wolff:
            c, m = r["clusters"], r["mean_cluster_size"]
            print(f"- L = {r['L']}: clusters " + " / ".join(str(c[k]) for k in c)
                  + "; mean size " + " / ".join(f"{m[k]:.0f}" for k in m))
    if "rbm" in result:
        print("\nRBM block Gibbs, float32:\n")
        print("| visible | hidden | chains | ebmlab (steps/s) | hand-written (steps/s) | "
              "ebmlab ÷ hand |")
        print("|---|---|---|---|---|---|")
        for r in result["rbm"]:
            print(f"| {r['n_visible']} | {r['n_hidden']} | {r['n_chains']} | "
                  f"{r['ebmlab_steps_per_s']:.0f} | {r['hand_steps_per_s']:.0f} | "
                  f"{r['ratio']:.2f}× |")
    if "widget" in result:
        print("\nIsingLab frames (Python side: advance, lattice PNG, SVG traces), checkerboard "
              "Gibbs at T_c:\n")
        print("| L | sweeps / frame | median frame, wall (ms) | median frame, CPU (ms) | "
              "p90 wall (ms) | update (KiB) | frames / s (wall) | frames / s (CPU) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in result["widget"]:
            print(f"| {r['L']} | {r['sweeps_per_frame']} | {r['median_frame_ms']:.1f} | "
                  f"{r['median_frame_cpu_ms']:.1f} | {r['p90_frame_ms']:.1f} | "
                  f"{r['update_kb']:.1f} | {r['fps_wall']:.0f} | {r['fps_cpu']:.0f} |")
    if "efficiency" in result:
        eff = result["efficiency"]
        print(f"\nAt T_c, L = {eff[0]['L']}, {eff[0]['n_chains']} chains from an equilibrated "
              "start, equal wall time each:\n")
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
