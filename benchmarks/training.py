"""PCD training throughput and time-to-quality against a plain hand-written PyTorch loop.

    .venv/bin/python benchmarks/training.py

Both train the same MLP energy (2 → 128 → 128 → 128 → 1, SiLU) on 8 Gaussians with Adam
(lr 1e-3, betas (0, 0.999)), batch 128, 20 Langevin steps (ε = 0.01, exact noise) per update on
chains from a 8,000-state replay buffer (5 % re-initialised), energy² regulariser 0.1.
Reports training steps per second (median of 3 runs of 300 steps) and the wall time until the
buffer's MMD² (bandwidth 0.5) to held-out data falls below 0.003, checked every 100 steps.
Single-threaded. Writes benchmarks/results/training.json.
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


def main() -> int:
    res = {"throughput_steps_per_s": {"ebmlab": throughput(EbmlabRunner),
                                      "plain": throughput(PlainRunner)},
           "time_to_mmd": {"ebmlab": time_to_quality(EbmlabRunner),
                           "plain": time_to_quality(PlainRunner)},
           "target_mmd": TARGET_MMD}
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
