"""Widget latency: parameter change -> updated figure, and SamplerLab / TemperingLab frames
per second (both on the ``Lab`` frame loop: ``chain.advance(k)`` and an in-place redraw).

    .venv/bin/python benchmarks/widgets.py

Measures the Python side of an interaction — everything between a control changing and the
figure update leaving the kernel: grid evaluation on 200 × 200, contour extraction, read-outs,
the in-place trace update, and the JSON encoding of the new data (what the comm sends). The
browser's own Plotly render is not included; tests/browser checks that it happens.
Writes benchmarks/results/widgets.json and prints a markdown table.
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
from plotly.io.json import to_json_plotly  # noqa: E402

import ebmlab as el  # noqa: E402
from ebmlab.widgets import EnergyExplorer, SamplerLab, TemperingLab  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent


def encoded(fig) -> int:
    """Encode every trace's data as the comm would; returns the byte count."""
    return sum(len(to_json_plotly(t.to_plotly_json())) for t in fig.data)


def explorer_latency(name: str, repeats: int = 15) -> dict:
    e = EnergyExplorer(name, n=200)
    slider = e.temperature
    values = [0.5, 0.7, 1.0, 1.4, 2.0]
    times, sizes = [], []
    for i in range(repeats):
        t = time.perf_counter()
        slider.value = values[i % len(values)] * (1.0 + 1e-3 * i)
        sizes.append(encoded(e.fig))
        times.append((time.perf_counter() - t) * 1e3)
    return {"landscape": name, "median_ms": statistics.median(times),
            "p90_ms": sorted(times)[int(0.9 * len(times))], "kb": sizes[-1] / 1024}


def lab_fps(n_chains: int, frames: int = 30) -> dict:
    lab = SamplerLab("ring", ("rwm", "mala", "hmc"), n_chains=n_chains, steps_per_frame=2)
    for _ in range(3):
        lab.frame()
    times = []
    for _ in range(frames):
        t = time.perf_counter()
        lab.frame()
        encoded(lab.fig)
        times.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(times)
    return {"n_chains": n_chains, "median_frame_ms": med, "fps": 1000.0 / med,
            "p90_frame_ms": sorted(times)[int(0.9 * len(times))]}


def tempering_fps(n_chains: int, n_replicas: int = 8, frames: int = 30) -> dict:
    lab = TemperingLab("bimodal", n_replicas=n_replicas, max_temperature=30.0,
                       n_chains=n_chains, steps_per_frame=2)
    for _ in range(3):
        lab.frame()
    times = []
    for _ in range(frames):
        t = time.perf_counter()
        lab.frame()
        encoded(lab.fig)
        times.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(times)
    return {"n_chains": n_chains, "n_replicas": n_replicas, "median_frame_ms": med,
            "fps": 1000.0 / med, "p90_frame_ms": sorted(times)[int(0.9 * len(times))]}


def main() -> int:
    explorer = [explorer_latency(n) for n in el.energies.names()]
    lab = [lab_fps(n) for n in (1000, 10_000)]
    tempering = [tempering_fps(n) for n in (200, 2000)]
    out = HERE / "results" / "widgets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"explorer": explorer, "samplerlab": lab,
                               "temperinglab": tempering}, indent=2))
    print("| landscape | median redraw (ms) | p90 (ms) | update size (KiB) |")
    print("|---|---|---|---|")
    for r in explorer:
        print(f"| {r['landscape']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['kb']:.0f} |")
    allmed = statistics.median(r["median_ms"] for r in explorer)
    print(f"\nMedian over landscapes: {allmed:.1f} ms\n")
    print("| SamplerLab chains | median frame (ms) | frames / s | p90 frame (ms) |")
    print("|---|---|---|---|")
    for r in lab:
        print(f"| {r['n_chains']} | {r['median_frame_ms']:.1f} | {r['fps']:.0f} | "
              f"{r['p90_frame_ms']:.1f} |")
    print("\n| TemperingLab chains × replicas | median frame (ms) | frames / s | p90 (ms) |")
    print("|---|---|---|---|")
    for r in tempering:
        print(f"| {r['n_chains']} × {r['n_replicas']} | {r['median_frame_ms']:.1f} | "
              f"{r['fps']:.0f} | {r['p90_frame_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
