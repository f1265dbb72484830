"""PCD training throughput and time-to-quality against a plain hand-written PyTorch loop.

    .venv/bin/python benchmarks/training.py

Both train the same MLP energy (2 → 128 → 128 → 128 → 1, SiLU) on 8 Gaussians with Adam
(lr 1e-3, betas (0, 0.999)), batch 128, 20 Langevin steps (ε = 0.01, exact noise) per update on
chains from a 8,000-state replay buffer (5 % re-initialised), energy² regulariser 0.1.
Reports training steps per second (median of 3 runs of 300 steps) and the wall time until the
buffer's MMD² (bandwidth 0.5) to held-out data falls below 0.003, checked every 100 steps.
Single-threaded. Writes benchmarks/results/training.json.

    .venv/bin/python benchmarks/training.py --cnn   # only the CNN-on-digits case (~2 min)

The CNN case (notebook 08's recipe, see below) times a PCD training step of ``el.train.fit``
against the same algorithm by hand, alternating the two, and reports the share of a step
spent in Langevin (negative sampling). ebmlab's chain evaluates the energy and gradient at the
start as well, so K Langevin steps cost K + 1 gradient evaluations against the hand loop's K.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import ebmlab as el  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
TRAIN = el.data.toy("8gaussians", 8000, seed=0)
HELD = el.data.toy("8gaussians", 1000, seed=1)
TARGET_MMD = 0.003


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return el.energies.MLPEnergy(2, 128, 3)


class EbmlabRunner:
    def __init__(self, seed: int = 0) -> None:
        self.model = make_model(seed)
        self.obj = el.train.make_objective("pcd", k=20, step_size=0.01, noise_scale=None,
                                           alpha=0.1, buffer_size=8000)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.0, 0.999))
        self.seed = seed
        self.calls = 0

    def run(self, steps: int) -> None:
        self.calls += 1
        el.train.fit(self.model, TRAIN, objective=self.obj, method="pcd", steps=steps,
                     batch_size=128, optimizer=self.opt, seed=self.seed + self.calls)

    def buffer(self) -> torch.Tensor:
        return self.obj.buffer.data[:1000]


class PlainRunner:
    """What a user would write by hand: the same algorithm, no library."""

    def __init__(self, seed: int = 0) -> None:
        self.model = make_model(seed)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.0, 0.999))
        self.gen = torch.Generator().manual_seed(seed)
        self.buf = torch.rand(8000, 2, generator=self.gen) * 8 - 4

    def run(self, steps: int) -> None:
        for _ in range(steps):
            idx = torch.randint(len(TRAIN), (128,), generator=self.gen)
            pos = TRAIN[idx]
            bidx = torch.randint(8000, (128,), generator=self.gen)
            x = self.buf[bidx].clone()
            fresh = torch.rand(128, generator=self.gen) < 0.05
            x[fresh] = torch.rand(int(fresh.sum()), 2, generator=self.gen) * 8 - 4
            for p in self.model.parameters():
                p.requires_grad_(False)
            for _ in range(20):
                x.requires_grad_(True)
                (g,) = torch.autograd.grad(self.model(x).sum(), x)
                x = (x - 0.01 * g + 0.1414 * torch.randn(x.shape, generator=self.gen)).detach()
            for p in self.model.parameters():
                p.requires_grad_(True)
            self.buf[bidx] = x
            ep, en = self.model(pos), self.model(x)
            loss = ep.mean() - en.mean() + 0.1 * ((ep**2).mean() + (en**2).mean())
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def buffer(self) -> torch.Tensor:
        return self.buf[:1000]


def throughput(cls) -> float:
    rates = []
    for rep in range(3):
        r = cls(seed=rep)
        r.run(5)
        t = time.perf_counter()
        r.run(300)
        rates.append(300 / (time.perf_counter() - t))
    return statistics.median(rates)


def time_to_quality(cls, max_steps: int = 4000) -> dict:
    r = cls(seed=0)
    elapsed, steps = 0.0, 0
    while steps < max_steps:
        t = time.perf_counter()
        r.run(100)
        elapsed += time.perf_counter() - t
        steps += 100
        m = el.diagnostics.mmd(r.buffer(), HELD, bandwidth=0.5)
        if m < TARGET_MMD:
            return {"seconds": elapsed, "steps": steps, "mmd": m}
    return {"seconds": None, "steps": steps, "mmd": m}


# -- a CNN energy on 8x8 digits (notebook 08's recipe) ----------------------------------------
# The digits with Gaussian pixel noise 0.1; energy = the fitted Gaussian's + a ConvEnergy
# (16, 32 channels); PCD, 20 ULA steps of 0.005 with exact noise, buffer 1,000, 5 % fresh
# uniform noise, energy² regulariser 0.01, Adam 1e-3, batch 64.

_X = el.data.digits(seed=0).x_train
DIGITS = _X + 0.1 * torch.randn(_X.shape, generator=torch.Generator().manual_seed(0))
MU, COV = DIGITS.mean(0), torch.cov(DIGITS.T.double())
PREC = torch.linalg.inv(COV).float()
CNN = dict(k=20, step_size=0.005, alpha=0.01, buffer_size=1000, reinit=0.05, batch=64)


def make_cnn(seed: int = 0) -> el.energies.ConvEnergy:
    torch.manual_seed(seed)
    return el.energies.ConvEnergy((1, 8, 8), (16, 32))


class CnnEbmlabRunner:
    """``el.train.fit`` with PCD on the CNN energy; times the Langevin part separately."""

    def __init__(self, seed: int = 0) -> None:
        self.model = el.energies.Gaussian(MU.double(), COV).float() + make_cnn(seed)
        c = CNN
        self.obj = el.train.make_objective("pcd", k=c["k"], step_size=c["step_size"],
                                           alpha=c["alpha"], buffer_size=c["buffer_size"],
                                           reinit=c["reinit"], box=(0.0, 1.0))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.0, 0.999))
        self.seed, self.calls, self.langevin = seed, 0, 0.0
        negatives = self.obj.negatives

        def timed(*a, **kw):
            t = time.perf_counter()
            out = negatives(*a, **kw)
            self.langevin += time.perf_counter() - t
            return out

        self.obj.negatives = timed

    def run(self, steps: int) -> None:
        self.calls += 1
        el.train.fit(self.model, DIGITS, objective=self.obj, method="pcd", steps=steps,
                     batch_size=CNN["batch"], optimizer=self.opt, seed=self.seed + self.calls)


class CnnPlainRunner:
    """The same algorithm by hand: the same Gaussian term and network (a plain
    ``nn.Sequential`` of the ConvEnergy's layers), buffer, re-initialisation, Langevin and
    loss, no library."""

    def __init__(self, seed: int = 0) -> None:
        ref = make_cnn(seed)
        f = ref.features
        self.model = torch.nn.Sequential(f[0], f[1], f[2], f[3], torch.nn.Flatten(), ref.head)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.0, 0.999))
        self.gen = torch.Generator().manual_seed(seed)
        self.buf = torch.rand(CNN["buffer_size"], 64, generator=self.gen)
        self.langevin = 0.0

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        d = x - MU
        return 0.5 * ((d @ PREC) * d).sum(1) + self.model(x.view(-1, 1, 8, 8)).squeeze(-1)

    def run(self, steps: int) -> None:
        c = CNN
        b, eps = c["batch"], c["step_size"]
        sd = (2 * eps) ** 0.5
        for _ in range(steps):
            idx = torch.randint(len(DIGITS), (b,), generator=self.gen)
            pos = DIGITS[idx]
            t = time.perf_counter()
            bidx = torch.randint(c["buffer_size"], (b,), generator=self.gen)
            x = self.buf[bidx].clone()
            fresh = torch.rand(b, generator=self.gen) < c["reinit"]
            x[fresh] = torch.rand(int(fresh.sum()), 64, generator=self.gen)
            for p in self.model.parameters():
                p.requires_grad_(False)
            for _ in range(c["k"]):
                x.requires_grad_(True)
                (g,) = torch.autograd.grad(self.energy(x).sum(), x)
                x = (x - eps * g + sd * torch.randn(x.shape, generator=self.gen)).detach()
            for p in self.model.parameters():
                p.requires_grad_(True)
            self.buf[bidx] = x
            self.langevin += time.perf_counter() - t
            ep, en = self.energy(pos), self.energy(x)
            loss = ep.mean() - en.mean() + c["alpha"] * ((ep**2).mean() + (en**2).mean())
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


def cnn_throughput(steps: int = 100, reps: int = 5) -> dict:
    """Training steps per CPU-second (process time, single thread) and the share of a step's
    wall time spent in Langevin, for ebmlab and the plain loop, measured alternately (ebmlab,
    plain, ebmlab, …) so that load on a shared machine hits both alike; medians over ``reps``
    runs each, and the median of the per-pair ratios."""
    out: dict = {"ebmlab": {"rates": [], "shares": []}, "plain": {"rates": [], "shares": []}}
    for rep in range(reps):
        for name, cls in (("ebmlab", CnnEbmlabRunner), ("plain", CnnPlainRunner)):
            r = cls(seed=rep)
            r.run(3)
            r.langevin = 0.0
            t, c = time.perf_counter(), time.process_time()
            r.run(steps)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            out[name]["rates"].append(steps / cpu)  # CPU time: robust to a shared machine
            out[name]["shares"].append(r.langevin / wall)
    ratios = [a / b for a, b in zip(out["ebmlab"]["rates"], out["plain"]["rates"], strict=True)]
    res = {k: {"steps_per_s": statistics.median(v["rates"]),
               "langevin_fraction": statistics.median(v["shares"])} for k, v in out.items()}
    res["ratio"] = statistics.median(ratios)
    res["ratios"] = ratios
    return res


def main() -> int:
    only_cnn = "--cnn" in sys.argv
    res = {} if only_cnn else {
        "throughput_steps_per_s": {"ebmlab": throughput(EbmlabRunner),
                                   "plain": throughput(PlainRunner)},
        "time_to_mmd": {"ebmlab": time_to_quality(EbmlabRunner),
                        "plain": time_to_quality(PlainRunner)},
        "target_mmd": TARGET_MMD}
    cnn = cnn_throughput() | {"recipe": CNN}
    print(f"CNN-on-digits PCD steps per CPU-second: ebmlab {cnn['ebmlab']['steps_per_s']:.1f}, "
          f"plain loop {cnn['plain']['steps_per_s']:.1f} (ratio {cnn['ratio']:.2f}x); Langevin "
          f"share of a step: ebmlab {cnn['ebmlab']['langevin_fraction']:.2f}, plain "
          f"{cnn['plain']['langevin_fraction']:.2f}")
    out = HERE / "results" / "training.json"
    if only_cnn and out.exists():
        res = json.loads(out.read_text())
    res["cnn_digits"] = cnn
    if only_cnn:
        out.write_text(json.dumps(res, indent=2))
        return 0
    out = HERE / "results" / "training.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    tp = res["throughput_steps_per_s"]
    print(f"PCD training steps/s: ebmlab {tp['ebmlab']:.1f}, plain loop {tp['plain']:.1f} "
          f"(ratio {tp['ebmlab'] / tp['plain']:.2f}x)")
    for k, v in res["time_to_mmd"].items():
        print(f"{k:7s} reached MMD² < {TARGET_MMD} after {v['steps']} steps, "
              f"{v['seconds'] if v['seconds'] is None else round(v['seconds'], 1)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
