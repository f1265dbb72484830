"""The one chain driver. Every chain in ebmlab — ``kernel.run``, parallel tempering, the
widgets' frame loop, training's negative samples — advances through ``Chain.advance``:
warm-up adaptation, thinning, callbacks, divergence handling (``raise`` / ``drop``),
progress, Ctrl-C and cost counting from each step's ``Info``.

Default starts know nothing of the target: ``N(0, 2² I)`` (``init="gaussian"``), or the
points you pass as ``x0``. ``init="tempered-grid"`` (2-D only) draws from the target itself,
tempered at ``T = 4`` on a grid: an oracle start, for demonstrations that are not about
burn-in or finding modes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import check_choice, check_int, check_real, make_generator
from .kernel import Kernel
from .moves import DualAveraging
from .state import Info, State

INIT_SCALE = 2.0
INITS = ("gaussian", "tempered-grid")


class SamplerDivergence(RuntimeError):
    """A sampler produced non-finite values; the message says where and the likely cause."""


def scalar_step(step_size) -> float:
    """A step size as a float; per-chain step sizes report the first chain's (``T = 1``)."""
    if isinstance(step_size, torch.Tensor):
        return float(step_size.reshape(-1)[0])
    return float(step_size)


def initial_points(energy, n: int, gen: torch.Generator, init: str = "gaussian",
                   scale: float = INIT_SCALE, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Starting points ``(n, D)`` for ``n`` chains.

    ``"gaussian"`` (the default): ``N(0, scale² I)``, independent of the energy — burn-in and
    mode finding stay visible. ``"tempered-grid"`` (2-D): draws from ``exp(-E/4)`` on a
    128 × 128 grid over the energy's plotting box (uniform within each cell) — it knows the
    target; use it only where the lesson is not about mixing.
    """
    n = check_int("n_chains", n, ge=1)
    check_choice("init", init, INITS)
    scale = check_real("init_scale", scale, gt=0.0)
    dtype = dtype or torch.get_default_dtype()
    device = torch.device("cpu") if device is None else torch.device(device)
    if init == "gaussian":
        return scale * torch.randn(n, energy.dim, generator=gen, dtype=dtype, device=device)
    if energy.dim != 2:
        raise ValueError(f"init='tempered-grid' needs a 2-D energy, got dim={energy.dim}")
    from ..grid import energy_on_grid, make_grid

    g = make_grid(energy.box, 128)
    e = energy_on_grid(energy, g, 4.0).reshape(-1)
    w = torch.exp(-(e - e.min())).nan_to_num(0.0)
    idx = torch.multinomial(w, n, replacement=True, generator=gen)
    hx, hy = float(g.xs[1] - g.xs[0]), float(g.ys[1] - g.ys[0])
    jitter = torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5
    pts = g.points[idx] + jitter * torch.tensor([hx, hy], dtype=torch.float64)
    return pts.to(dtype=dtype, device=device)


@dataclass
class Trace:
    """Result of a run: kept samples ``(n_kept, N, D)`` and what they cost."""

    samples: torch.Tensor
    energy: torch.Tensor  # (n_kept, N)
    acceptance: torch.Tensor  # (N,) mean acceptance probability per chain over kept steps
    final: torch.Tensor  # (N, D)
    step_size: float  # the (frozen) step size used for the kept steps
    step_sizes: torch.Tensor  # (warmup + n_steps,) step size at every step
    wall_time: float
    n_grad_evals: int  # batched gradient evaluations (each covers every chain), init included
    n_energy_evals: int  # batched energy-only evaluations
    sampler: str
    hyperparameters: dict[str, Any]
    n_steps: int
    warmup: int
    thin: int
    seed: int | None
    init: str = "gaussian"
    n_divergent: int = 0  # proposals rejected for non-finite energy or energy error > 1000
    n_dropped: int = 0  # chains frozen by on_divergence="drop"
    interrupted: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_chains(self) -> int:
        return self.final.shape[0]

    def flat(self) -> torch.Tensor:
        """All kept samples of all chains: ``(n_kept · N, D)``."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def to_arviz(self, var_name: str = "x"):
        """The kept samples as an ArviZ ``InferenceData``: ``posterior[var_name]`` with dims
        ``(chain, draw, {var_name}_dim)``, ``sample_stats.lp = -E`` (the unnormalised log
        density) and ``sample_stats.acceptance_rate`` (per chain, repeated over draws), so
        ``az.summary``, ``az.plot_trace``, ``az.plot_rank`` and ``az.ess`` work on it."""
        import arviz as az
        import numpy as np

        x = self.samples.detach().to("cpu", torch.float64).numpy().transpose(1, 0, 2)
        e = self.energy.detach().to("cpu", torch.float64).numpy().T
        acc = np.broadcast_to(self.acceptance.detach().to("cpu", torch.float64).numpy()[:, None],
                              e.shape)
        return az.from_dict(
            posterior={var_name: x}, sample_stats={"lp": -e, "acceptance_rate": acc.copy()},
            dims={var_name: [f"{var_name}_dim"]},
            attrs={"sampler": self.sampler, "step_size": self.step_size,
                   "n_grad_evals": self.n_grad_evals, "warmup": self.warmup, "thin": self.thin,
                   "seed": -1 if self.seed is None else self.seed, "inference_library": "ebmlab"})

    def __repr__(self) -> str:
        return (f"Trace({self.sampler}, samples={tuple(self.samples.shape)}, "
                f"step_size={self.step_size:.4g}, acceptance={float(self.acceptance.mean()):.3f}, "
                f"grad_evals={self.n_grad_evals}, wall_time={self.wall_time:.2f}s"
                + (f", divergent={self.n_divergent}" if self.n_divergent else "")
                + (f", dropped={self.n_dropped}" if self.n_dropped else "") + ")")


class _Recorder:
    """Keeps every ``thin``-th sampling step, preallocated: ``(n_steps // thin, n, D)``."""

    def __init__(self, n_steps: int, thin: int, x: torch.Tensor, e: torch.Tensor) -> None:
        self.thin, self.n_kept = thin, n_steps // thin
        self.samples = torch.empty((self.n_kept, *x.shape), dtype=x.dtype, device=x.device)
        self.energy = torch.empty((self.n_kept, *e.shape), dtype=e.dtype, device=e.device)
        self.kept = self.seen = 0

    def __call__(self, x: torch.Tensor, e: torch.Tensor) -> None:
        self.seen += 1
        if self.seen % self.thin == 0 and self.kept < self.n_kept:
            self.samples[self.kept] = x
            self.energy[self.kept] = e
            self.kept += 1


class Chain:
    """Live chains: a kernel, an energy, the state, a seeded generator, and what it cost.

    ``advance`` is the only place in ebmlab where kernel steps are taken in a loop. Widgets
    call it once per frame; ``run`` calls it for warm-up and then for sampling.
    """

    def __init__(self, kernel: Kernel, energy, x0: torch.Tensor,
                 seed: int | torch.Generator | None = 0, on_divergence: str = "raise") -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be an ebmlab kernel object (e.g. "
                            f"el.samplers.MALA()), got {type(kernel).__name__}")
        self.on_divergence = check_choice("on_divergence", on_divergence, ("raise", "drop"))
        self.kernel, self.energy = kernel, energy
        self.gen = make_generator(seed, x0.device if isinstance(x0, torch.Tensor) else "cpu")
        self.state: State = kernel.init(energy, x0, self.gen)
        cost = kernel.init_cost()
        self.n_grad, self.n_energy = cost.n_grad, cost.n_energy
        self.steps = 0  # transitions taken
        x = self.state.x
        self.frozen = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        self._any_frozen = False
        self._divergent = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        n = kernel.view(self.state)[0].shape[0]
        self.acc_sum = torch.zeros(n, dtype=self.state.energy.dtype, device=x.device)
        self.acc_steps = 0  # sampling steps summed into acc_sum
        self.step_sizes: list[float] = []
        self.n_restarted = 0
        self.interrupted = False
        self.last_info: Info | None = None

    # -- read-outs -------------------------------------------------------------------------
    @property
    def positions(self) -> torch.Tensor:
        """The chains a Trace records ``(n, D)`` (the ``T = 1`` replica in tempering)."""
        return self.kernel.view(self.state)[0]

    @property
    def acceptance(self) -> torch.Tensor:
        """Mean acceptance probability per recorded chain over the sampling steps so far."""
        return self.acc_sum / max(self.acc_steps, 1)

    @property
    def n_divergent(self) -> int:
        """Proposals rejected as divergent so far, over all chains."""
        return int(self._divergent.sum())

    @property
    def step_size(self) -> float:
        return scalar_step(self.state.step_size)

    # -- the loop --------------------------------------------------------------------------
    def advance(self, n_steps: int, *, warmup: bool = False,
                record: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                callback: Callable[[int, State], Any] | None = None,
                progress: Any = None) -> int:
        """Take up to ``n_steps`` transitions; returns how many were taken.

        ``warmup=True``: tune ``ε`` by dual averaging (kernels with ``adapt``), restart
        chains whose acceptance stalled below 1 % from healthy ones (their draws are
        discarded, so the kept chains remain valid Markov chains) and leave acceptance
        statistics untouched; the step size is then frozen. ``record(x, e)`` receives the
        recorded chains after every sampling step; ``callback(i, state)`` after every step
        (return ``False`` to stop); ``progress`` is a tqdm bar or ``None``. Ctrl-C stops
        cleanly (``self.interrupted``).
        """
        n_steps = check_int("n_steps", n_steps, ge=0)
        kernel, energy = self.kernel, self.energy
        tune = warmup and kernel.adapts and bool(kernel.hyper.get("adapt", False))
        adapt = DualAveraging(self.step_size, kernel.hyper["target_accept"]) if tune else None
        recent = (torch.ones_like(self.state.energy)
                  if warmup and kernel.adapts else None)  # acceptance EMA per chain
        done = 0
        try:
            with torch.no_grad():
                for i in range(n_steps):
                    prev = self.state
                    state, info = kernel.step(energy, prev, self.gen)
                    self.n_grad += info.n_grad
                    self.n_energy += info.n_energy
                    if info.diverged is not None:
                        self._divergent += info.diverged
                    # One reduction and one host sync: a NaN or ±inf anywhere makes the sum
                    # non-finite; only then look for the bad chains.
                    if self._any_frozen or not math.isfinite(float(state.energy.sum())):
                        state = self._divergence(state, prev)
                        info = Info(accept_prob=torch.where(self.frozen, 0.0, info.accept_prob),
                                    n_grad=info.n_grad, n_energy=info.n_energy,
                                    diverged=info.diverged, extra=info.extra)
                    self.steps += 1
                    self.step_sizes.append(scalar_step(state.step_size))
                    if warmup:
                        if recent is not None:
                            recent.mul_(0.95).add_(torch.nan_to_num(info.accept_prob),
                                                   alpha=0.05)
                            if (i + 1) % 25 == 0 or i == n_steps - 1:
                                state = self._restart_stuck(state, recent)
                        if adapt is not None:
                            a = float(torch.nan_to_num(info.accept_prob, nan=0.0).mean())
                            eps = adapt.final if i == n_steps - 1 else adapt.update(a)
                            state = state.replace(step_size=eps)
                    else:
                        xv, ev = kernel.view(state)
                        acc = info.accept_prob
                        self.acc_sum += acc if acc.shape[0] == xv.shape[0] else acc[: xv.shape[0]]
                        self.acc_steps += 1
                        if record is not None:
                            record(xv, ev)
                    self.state, self.last_info = state, info
                    done += 1
                    if progress is not None:
                        progress.update(1)
                    if callback is not None and callback(self.steps - 1, state) is False:
                        break
        except KeyboardInterrupt:
            self.interrupted = True
        return done

    def _divergence(self, state: State, prev: State) -> State:
        bad = ~torch.isfinite(state.energy)
        n_bad = int(bad.sum())
        if n_bad and self.on_divergence == "raise":
            raise SamplerDivergence(self.kernel.divergence_message(
                self.steps, n_bad, bad.numel(), scalar_step(prev.step_size)))
        self.frozen |= bad
        self._any_frozen = True
        return state.where(self.frozen, prev)

    def _restart_stuck(self, state: State, recent: torch.Tensor) -> State:
        stuck = recent < 0.01
        n_stuck = int(stuck.sum())
        healthy = torch.nonzero(~stuck).squeeze(1)
        if n_stuck == 0 or healthy.numel() == 0:
            return state
        pick = torch.randint(healthy.numel(), (n_stuck,), generator=self.gen,
                             device=healthy.device)
        idx = torch.arange(state.x.shape[0], device=state.x.device)
        idx[stuck] = healthy[pick]
        recent[stuck] = 1.0
        self.n_restarted += n_stuck
        return state.take(idx)


def run(kernel: Kernel, energy, x0: torch.Tensor | None = None, n_chains: int | None = None,
        n_steps: int = 1000, warmup: int = 0, thin: int = 1, seed: int | None = 0,
        init: str = "gaussian", callback: Callable[[int, State], Any] | None = None,
        on_divergence: str = "raise", progress: bool = False) -> Trace:
    """Run ``warmup + n_steps`` transitions of ``kernel`` on ``energy``; keep every
    ``thin``-th sampling step.

    Start at ``x0: (N, D)``, or draw ``n_chains`` starts by ``init`` (see
    ``initial_points``). Adaptation runs only in warm-up and is then frozen. ``thin`` bounds
    memory: ``(n_steps // thin, N, D)`` samples are stored. ``on_divergence="drop"`` freezes
    chains that become non-finite instead of raising ``SamplerDivergence``.
    """
    n_steps = check_int("n_steps", n_steps, ge=1)
    warmup = check_int("warmup", warmup, ge=0)
    thin = check_int("thin", thin, ge=1)
    check_choice("on_divergence", on_divergence, ("raise", "drop"))
    check_choice("init", init, INITS)
    gen = make_generator(seed, x0.device if isinstance(x0, torch.Tensor) else "cpu")
    if x0 is None:
        if n_chains is None:
            raise ValueError("give x0 (N, D) or n_chains")
        x0 = initial_points(energy, n_chains, gen, init)
        init_name = init
    else:
        if n_chains is not None and n_chains != getattr(x0, "shape", (None,))[0]:
            raise ValueError(f"n_chains={n_chains} does not match x0 with {x0.shape[0]} rows")
        init_name = "x0"
    chain = Chain(kernel, energy, x0, gen, on_divergence)
    xv, ev = kernel.view(chain.state)
    rec = _Recorder(n_steps, thin, xv, ev)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=warmup + n_steps, desc=type(kernel).__name__, unit="step")
    start = time.perf_counter()
    try:
        stopped = False

        def cb(i: int, s: State) -> Any:
            nonlocal stopped
            if callback is not None and callback(i, s) is False:
                stopped = True
                return False
            return None

        chain.advance(warmup, warmup=True, callback=cb, progress=bar)
        if not (stopped or chain.interrupted):
            chain.advance(n_steps, record=rec, callback=cb, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - start
    extras = {"n_restarted": chain.n_restarted} if chain.n_restarted else {}
    return Trace(
        samples=rec.samples[: rec.kept], energy=rec.energy[: rec.kept],
        acceptance=chain.acceptance, final=chain.positions, step_size=chain.step_size,
        step_sizes=torch.tensor(chain.step_sizes, dtype=torch.float64), wall_time=wall,
        n_grad_evals=chain.n_grad, n_energy_evals=chain.n_energy,
        sampler=type(kernel).__name__, hyperparameters=dict(kernel.hyper), n_steps=n_steps,
        warmup=warmup, thin=thin, seed=seed if isinstance(seed, int) else None, init=init_name,
        n_divergent=int(chain.n_divergent), n_dropped=int(chain.frozen[: xv.shape[0]].sum()),
        interrupted=chain.interrupted or rec.kept < rec.n_kept,
        extras=extras | kernel.trace_extras(chain.state))
