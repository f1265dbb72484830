"""Sampler throughput (chain-steps per second), side by side in one run, single-threaded.

    .venv/bin/python benchmarks/samplers.py            # full (about 5 minutes)
    .venv/bin/python benchmarks/samplers.py --quick    # fewer repeats

Compares, on the 8-mode ring (N = 1, 100, 10,000 chains) and a 100-D correlated Gaussian
(N = 1,000), for ULA, MALA and HMC (10 leapfrog steps):

- ``ebmlab``: ``kernel.run``, i.e. the chain driver (validation, divergence checks, recording);
- ``plain-autograd`` / ``plain-analytic``: the loop a user would write by hand in PyTorch;
- ``blackjax`` and ``torchebm`` when installed (``pip install -e '.[bench]'``);
- ``floor``: a fused single-pass C loop (ULA on the ring only), compiled here with ``cc``.

Reports medians over repeats and ratios to each baseline; writes ``benchmarks/results/
samplers.json`` and prints a markdown table.
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
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

import torch  # noqa: E402

import ebmlab as el  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
RING = el.energies.GaussianMixture.ring(8, 4.0, 0.5)
EPS = {"ula": 0.01, "mala": 0.05, "hmc": 0.05}
LEAPFROG = 10


def gaussian100() -> el.energies.Gaussian:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(100, 100, generator=g, dtype=torch.float64) / 10
    cov = a @ a.T + 0.5 * torch.eye(100, dtype=torch.float64)
    return el.energies.Gaussian(torch.zeros(100), cov)


GAUSS = gaussian100()


# -- timing ----------------------------------------------------------------------------


def measure(fn, n_chains: int, repeats: int, budget: float = 0.25) -> float:
    """Median chain-steps/s of ``fn(n_steps)`` over repeats, ``n_steps`` sized to ``budget`` s."""
    t = time.perf_counter()
    fn(5)
    per = max((time.perf_counter() - t) / 5, 1e-7)
    n_steps = int(min(max(budget / per, 10), 20000))
    fn(n_steps)  # warm-up at the timed size (JAX compiles once per number of steps)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(n_steps)
        rates.append(n_chains * n_steps / (time.perf_counter() - t))
    return statistics.median(rates)


# -- ebmlab ------------------------------------------------------------------------------


def ebmlab_runner(kind: str, energy, x0: torch.Tensor):
    S = {"ula": el.samplers.ULA(step_size=EPS[kind]),
         "mala": el.samplers.MALA(step_size=EPS[kind], adapt=False),
         "hmc": el.samplers.HMC(step_size=EPS[kind], n_leapfrog=LEAPFROG, adapt=False)}[kind]

    def run(n):
        S.run(energy, x0=x0, n_steps=n, thin=n, seed=0)
    return run


def ebmlab_step_overhead(kind: str) -> float:
    """Microseconds per step with one chain on the ring, through the chain driver (what a
    widget frame pays)."""
    S = {"ula": el.samplers.ULA(step_size=0.01), "mala": el.samplers.MALA(step_size=0.05)}[kind]
    chain = el.samplers.Chain(S, RING, torch.zeros(1, 2), seed=0)
    chain.advance(50)
    best = []
    for _ in range(5):
        t = time.perf_counter()
        chain.advance(2000)
        best.append((time.perf_counter() - t) / 2000 * 1e6)
    return statistics.median(best)


# -- the plain hand-written PyTorch loops ---------------------------------------------------


def ring_energy_plain(x, mu, inv_var, logw):
    d = x[:, None, :] - mu  # (N, K, 2)
    return -torch.logsumexp(logw - 0.5 * inv_var * (d * d).sum(-1), 1)


def ring_grad_plain(x, mu, inv_var, logw):
    d = x[:, None, :] - mu
    logits = logw - 0.5 * inv_var * (d * d).sum(-1)
    r = torch.softmax(logits, 1)
    return -torch.logsumexp(logits, 1), inv_var * (r[..., None] * d).sum(1)


def plain_runner(kind: str, mode: str, case: str, x0: torch.Tensor):
    if case == "ring":
        mu = RING.means.float()
        iv = float(RING.inv_var[0])
        logw = torch.full((8,), -math.log(8.0)) - math.log(2 * math.pi / iv)

        def energy(x):
            return ring_energy_plain(x, mu, iv, logw)

        def analytic(x):
            return ring_grad_plain(x, mu, iv, logw)
    else:
        prec = GAUSS.precision.float()

        def energy(x):
            return 0.5 * ((x @ prec) * x).sum(-1)

        def analytic(x):
            g = x @ prec
            return 0.5 * (g * x).sum(-1), g

    def autograd(x):
        x = x.detach().requires_grad_(True)
        e = energy(x)
        (g,) = torch.autograd.grad(e.sum(), x)
        return e.detach(), g

    vg = autograd if mode == "autograd" else analytic
    eps = EPS[kind]

    def run(n):
        gen = torch.Generator().manual_seed(0)
        x = x0.clone()
        e, g = vg(x)
        for _ in range(n):
            if kind == "ula":
                x = x - eps * g + math.sqrt(2 * eps) * torch.randn(x.shape, generator=gen)
                e, g = vg(x)
            elif kind == "mala":
                y = x - eps * g + math.sqrt(2 * eps) * torch.randn(x.shape, generator=gen)
                ey, gy = vg(y)
                fwd = ((y - x + eps * g) ** 2).sum(-1)
                bwd = ((x - y + eps * gy) ** 2).sum(-1)
                log_a = e - ey + (fwd - bwd) / (4 * eps)
                acc = torch.log(torch.rand(log_a.shape, generator=gen)) < log_a
                x = torch.where(acc[:, None], y, x)
                e = torch.where(acc, ey, e)
                g = torch.where(acc[:, None], gy, g)
            else:
                p = torch.randn(x.shape, generator=gen)
                h0 = e + 0.5 * (p * p).sum(-1)
                y, gy = x, g
                for _ in range(LEAPFROG):
                    p = p - 0.5 * eps * gy
                    y = y + eps * p
                    ey, gy = vg(y)
                    p = p - 0.5 * eps * gy
                h1 = ey + 0.5 * (p * p).sum(-1)
                acc = torch.log(torch.rand(h0.shape, generator=gen)) < h0 - h1
                x = torch.where(acc[:, None], y, x)
                e = torch.where(acc, ey, e)
                g = torch.where(acc[:, None], gy, g)
    return run


# -- peers --------------------------------------------------------------------------------


def blackjax_runner(kind: str, case: str, x0: torch.Tensor):
    try:
        import blackjax
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if case == "ring":
        mu = jnp.asarray(RING.means.numpy(), dtype=jnp.float32)
        iv = float(RING.inv_var[0])

        def logdensity(x):
            d = x - mu
            return jax.scipy.special.logsumexp(-0.5 * iv * (d * d).sum(-1))
    else:
        prec = jnp.asarray(GAUSS.precision.numpy(), dtype=jnp.float32)

        def logdensity(x):
            return -0.5 * x @ prec @ x
    eps = EPS[kind]
    if kind == "ula":
        grad = jax.grad(logdensity)

        def one(key, x):  # ULA by hand: BlackJAX has no plain full-gradient Langevin kernel
            return x + eps * grad(x) + jnp.sqrt(2 * eps) * jax.random.normal(key, x.shape)

        def init(x):
            return x

        def step(key, s):
            return one(key, s)
    else:
        alg = (blackjax.mala(logdensity, eps) if kind == "mala" else
               blackjax.hmc(logdensity, eps, jnp.ones(x0.shape[1]), LEAPFROG))
        init = alg.init

        def step(key, s):
            return alg.step(key, s)[0]

    n = x0.shape[0]
    vstep = jax.vmap(step)

    @jax.jit
    def run_n(key, states, n_steps_arr):
        def body(carry, k):
            keys = jax.random.split(k, n)
            return vstep(keys, carry), None
        keys = jax.random.split(key, n_steps_arr.shape[0])
        out, _ = jax.lax.scan(body, states, keys)
        return out

    states = jax.vmap(init)(jnp.asarray(x0.numpy()))
    def run(steps):
        out = run_n(jax.random.PRNGKey(0), states, jnp.zeros(steps))
        jax.block_until_ready(out)
    return run


def torchebm_runner(kind: str, case: str, x0: torch.Tensor):
    if kind == "mala":
        return None  # TorchEBM has no MALA
    try:
        from torchebm.core import BaseModel
        from torchebm.samplers import HamiltonianMonteCarlo, LangevinDynamics
    except ImportError:
        return None
    energy = RING if case == "ring" else GAUSS

    class Wrapped(BaseModel):
        def forward(self, x):
            return energy(x)

    model = Wrapped()
    eps = EPS[kind]
    if kind == "ula":
        sampler = LangevinDynamics(model, step_size=eps, noise_scale=math.sqrt(2 * eps))
    else:
        sampler = HamiltonianMonteCarlo(model, step_size=eps, n_leapfrog_steps=LEAPFROG)

    def run(n):
        sampler.sample(x=x0.clone(), n_steps=n)
    return run


_FLOOR = None


def floor_runner(kind: str, case: str, x0: torch.Tensor):
    """ULA on the ring in fused C (the compute floor), if a C compiler is available."""
    global _FLOOR
    if kind != "ula" or case != "ring" or shutil.which("cc") is None:
        return None
    if _FLOOR is None:
        out = Path(tempfile.mkdtemp()) / "floor.so"
        subprocess.run(["cc", "-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-shared",
                        "-fPIC", str(HERE / "floor.c"), "-o", str(out), "-lm"], check=True)
        lib = ctypes.CDLL(str(out))
        fp_ = ctypes.POINTER(ctypes.c_float)
        lib.ula_ring.argtypes = [fp_, fp_, ctypes.c_int, ctypes.c_int, ctypes.c_float, fp_,
                                 fp_, ctypes.c_int, ctypes.c_float, ctypes.c_uint32]
        _FLOOR = lib
    mx = RING.means[:, 0].float().contiguous()
    my = RING.means[:, 1].float().contiguous()
    fp = ctypes.POINTER(ctypes.c_float)

    def run(n):
        px = x0[:, 0].float().contiguous().clone()
        py = x0[:, 1].float().contiguous().clone()
        _FLOOR.ula_ring(ctypes.cast(px.data_ptr(), fp), ctypes.cast(py.data_ptr(), fp),
                        px.shape[0], n, EPS["ula"],
                        ctypes.cast(mx.data_ptr(), fp), ctypes.cast(my.data_ptr(), fp), 8,
                        float(RING.inv_var[0]), 12345)
    return run


# -- main -----------------------------------------------------------------------------------


CASES = [("ring", 1), ("ring", 100), ("ring", 10_000), ("gauss100", 1000)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "samplers.json"))
    args = ap.parse_args()
    repeats = 3 if args.quick else 5
    results = []
    for case, n in CASES:
        energy = RING if case == "ring" else GAUSS
        dim = energy.dim
        x0 = (energy.sample(n, seed=0) if case == "ring"
              else torch.randn(n, dim, generator=torch.Generator().manual_seed(0)))
        for kind in ("ula", "mala", "hmc"):
            runners = {
                "ebmlab": ebmlab_runner(kind, energy, x0),
                "plain-autograd": plain_runner(kind, "autograd", case, x0),
                "plain-analytic": plain_runner(kind, "analytic", case, x0),
                "blackjax": blackjax_runner(kind, case, x0),
                "torchebm": torchebm_runner(kind, case, x0),
                "floor": floor_runner(kind, case, x0),
            }
            row = {"case": case, "n_chains": n, "sampler": kind}
            for name, fn in runners.items():
                if fn is None:
                    continue
                try:
                    row[name] = measure(fn, n, repeats)
                except Exception as err:  # a peer failing is reported, not fatal
                    row[name] = None
                    row[f"{name}-error"] = f"{type(err).__name__}: {err}"[:200]
            results.append(row)
            print(fmt_row(row), flush=True)
    overhead = {k: ebmlab_step_overhead(k) for k in ("ula", "mala")}
    meta = {"python": platform.python_version(), "torch": torch.__version__,
            "machine": platform.machine(), "cpu_count": os.cpu_count(), "threads": 1,
            "ebmlab": el.__version__, "repeats": repeats, "step_overhead_us_1chain": overhead}
    for mod in ("jax", "blackjax", "torchebm"):
        try:
            meta[mod] = __import__(mod).__version__
        except ImportError:
            meta[mod] = None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print()
    print(markdown(results, meta))
    return 0


def fmt_row(row: dict) -> str:
    parts = [f"{row['case']:8s} N={row['n_chains']:<6d} {row['sampler']:5s}"]
    for k in ("ebmlab", "plain-autograd", "plain-analytic", "blackjax", "torchebm", "floor"):
        if row.get(k):
            parts.append(f"{k} {row[k] / 1e6:8.3f}M/s")
    return "  ".join(parts)


def markdown(results: list[dict], meta: dict) -> str:
    def ratio(row, k):
        return f"{row['ebmlab'] / row[k]:.2f}×" if row.get(k) and row.get("ebmlab") else "–"

    lines = ["| case | N | sampler | ebmlab (M chain-steps/s) | vs plain autograd | "
             "vs plain analytic | vs BlackJAX | vs TorchEBM | floor / ebmlab |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        floor = f"{r['floor'] / r['ebmlab']:.1f}×" if r.get("floor") else "–"
        lines.append(f"| {r['case']} | {r['n_chains']} | {r['sampler'].upper()} | "
                     f"{r['ebmlab'] / 1e6:.3f} | {ratio(r, 'plain-autograd')} | "
                     f"{ratio(r, 'plain-analytic')} | {ratio(r, 'blackjax')} | "
                     f"{ratio(r, 'torchebm')} | {floor} |")
    o = meta["step_overhead_us_1chain"]
    lines.append("")
    lines.append(f"Single-chain `step` on the ring: ULA {o['ula']:.1f} µs, "
                 f"MALA {o['mala']:.1f} µs.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
