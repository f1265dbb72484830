"""The one Feynman–Kac particle engine: particles move through a sequence of targets
``π_0 → π_1 → … → π_K`` with importance weights, resampling and MCMC mutations.

A *model* says what the sequence is (``FeynmanKacModel``): exact draws from ``π_0`` and its
``log Z_0``, the energy of each target, the incremental log-potential
``log G_k(x) = log γ_k(x) - log γ_{k-1}(x)`` of a particle, and how to choose the next
"time" (a fixed schedule or an adaptive rule). AIS is the engine with a fixed schedule and no
resampling; adaptive-tempering SMC is the engine with an ESS-driven schedule and resampling.
Diffusion correctors and reward tilts are further models: their potentials and their
time-dependent kernels (``kernel`` may be a function of the time) plug in here, no new loop.

One step ``k``:  ``log w += log G_k(x)``,  ``log Ẑ += log Σ_i W_i^{k-1} G_k(x_i)``; resample
when ``ESS < threshold · N``; then ``n_mutations`` kernel moves that leave ``π_k`` invariant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from .._checks import check_choice, check_int, check_real, make_generator
from .kernel import Kernel
from .moves import feedback_step
from .state import State

RESAMPLERS = ("systematic", "multinomial", "residual")


# -- resampling ---------------------------------------------------------------------------


def _normalise(weights: torch.Tensor) -> torch.Tensor:
    w = weights.double()
    return w / w.sum()


def systematic_resample(weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Indices ``(N,)`` by systematic resampling: one uniform ``u``, points ``(u + i)/N``.
    Particle ``i`` is copied ``⌊N wᵢ⌋`` or ``⌈N wᵢ⌉`` times (expected ``N wᵢ``)."""
    w = _normalise(weights)
    n = w.numel()
    u0 = torch.rand(1, generator=gen, dtype=torch.float64, device=w.device)
    u = (u0 + torch.arange(n, dtype=torch.float64, device=w.device)) / n
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    return torch.searchsorted(cdf, u).clamp_max(n - 1)


def multinomial_resample(weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Indices ``(N,)`` drawn i.i.d. from the weights (the textbook scheme; most variance)."""
    w = _normalise(weights)
    return torch.multinomial(w, w.numel(), replacement=True, generator=gen)


def residual_resample(weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Indices ``(N,)``: ``⌊N wᵢ⌋`` deterministic copies of particle ``i``, the remaining
    ``R = N - Σ⌊N wᵢ⌋`` drawn multinomially from the residual weights ``N wᵢ - ⌊N wᵢ⌋``."""
    w = _normalise(weights)
    n = w.numel()
    counts = torch.floor(n * w).long()
    r = n - int(counts.sum())
    idx = torch.repeat_interleave(torch.arange(n, device=w.device), counts)
    if r > 0:
        resid = n * w - counts.double()
        extra = torch.multinomial(resid / resid.sum(), r, replacement=True, generator=gen)
        idx = torch.cat([idx, extra])
    return idx


_RESAMPLE: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "systematic": systematic_resample, "multinomial": multinomial_resample,
    "residual": residual_resample}


def ess(log_w: torch.Tensor) -> float:
    """Effective sample size ``1 / Σ W_i²`` of normalised weights ``W = softmax(log w)``."""
    w = torch.softmax(log_w, 0)
    return float(1.0 / (w * w).sum())


# -- the model protocol ----------------------------------------------------------------------


class FeynmanKacModel(Protocol):
    """A sequence of targets indexed by a time ``t`` from ``t0`` to ``t_end``."""

    t0: float
    t_end: float
    log_z0: float

    def initial(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Exact draws ``(n, D)`` from ``π_{t0}``."""

    def energy(self, t: float):
        """The energy of ``π_t`` (what the mutation kernel targets)."""

    def next_time(self, t: float, state: State, log_w: torch.Tensor) -> float:
        """The next time (a schedule's next entry, or an adaptive choice)."""

    def log_potential(self, t: float, t_next: float, state: State) -> torch.Tensor:
        """``log G(x) = log γ_{t_next}(x) - log γ_t(x)``: ``(N,)`` float64."""

    def retarget(self, energy, state: State) -> tuple[State, int, int]:
        """The state's energy/gradient under ``energy``; returns ``(state, n_grad,
        n_energy)``: the evaluations it cost."""

    # Two optional hooks (a model without them runs exactly as before):
    #
    # ``log_potential_move(t, t_next, before, after) -> (N,)``: a potential that depends on
    #     the move itself, ``log G(x_before, x_after)``, added after the mutations of the
    #     step ``t -> t_next`` (``before`` is the state after resampling, ``after`` the moved
    #     one). Models whose kernel is a proposal, not a π-invariant move (reverse-time
    #     diffusion steps), weight this way; the final move's potential lands in the result.
    # ``may_resample(t_next) -> bool``: resampling is considered at this step only when it
    #     returns True (resampling intervals, e.g. every k-th step of a steered diffusion).


@dataclass
class ParticleResult:
    """What a particle run returns.

    ``log_z`` = ``log Z_0 + Σ_k log Σ_i W_i^{k-1} G_k(x_i)``; ``stderr`` its standard error
    by the delta method, ``sd(w)/(√N mean(w))`` per segment between resamplings, segments
    combined as if independent (exact for AIS, which never resamples; an approximation
    after resampling). ``samples`` with ``weights()`` approximate the final target.
    """

    log_z: float
    stderr: float
    samples: torch.Tensor  # (N, D)
    log_weights: torch.Tensor  # (N,)
    times: list[float]  # t_0 … t_K (β for tempering)
    ess_history: list[float]  # ESS after each reweighting (before resampling)
    resampled: list[bool]
    log_weight_path: torch.Tensor  # (K+1, N) cumulative log-weights within segments
    acceptance: float  # mean acceptance of the mutations
    n_grad_evals: int  # batched gradient evaluations of the target, all steps
    n_energy_evals: int
    particles: list[tuple[float, torch.Tensor]] = field(default_factory=list)  # snapshots
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def betas(self) -> list[float]:
        return self.times

    @property
    def ess(self) -> float:
        return ess(self.log_weights)

    def weights(self) -> torch.Tensor:
        """Normalised weights of ``samples`` (uniform right after a resampling)."""
        return torch.softmax(self.log_weights, 0)

    def __repr__(self) -> str:
        return (f"ParticleResult(log_z={self.log_z:.4f} ± {self.stderr:.2g}, "
                f"steps={len(self.times) - 1}, resamplings={sum(self.resampled)}, "
                f"grad_evals={self.n_grad_evals})")


def _segment_rel_var(log_w: torch.Tensor) -> float:
    w = torch.exp(log_w - log_w.max())
    return float(w.var() / (w.numel() * w.mean() ** 2))


def run_particles(model: FeynmanKacModel, kernel: Kernel | Callable[[float], Kernel],
                  n_particles: int, *, n_mutations: int = 1, resampling: str = "systematic",
                  ess_threshold: float = 0.0, tune: bool = True, target_accept: float = 0.7,
                  max_steps: int = 100_000, snapshots: int = 0,
                  seed: int | torch.Generator | None = 0) -> ParticleResult:
    """Run the particle engine (see the module docstring).

    ``kernel``: a kernel object, or ``t -> kernel`` for time-dependent moves.
    ``ess_threshold``: resample when ``ESS < ess_threshold · N`` (0: never, 1: always).
    ``tune``: between steps, ``ε ← ε exp(2(ā - target_accept))`` for Metropolis kernels —
    uses only past moves, but couples the particles (see ``feedback_step``); pass ``False``
    for the exactly unbiased estimator. ``snapshots=k``: keep ``(t, x)`` every ``k`` steps.
    A model may add a move-dependent potential (``log_potential_move``) and restrict when
    resampling is considered (``may_resample``): see ``FeynmanKacModel``.
    """
    n = check_int("n_particles", n_particles, ge=2)
    n_mutations = check_int("n_mutations", n_mutations, ge=0)
    check_choice("resampling", resampling, RESAMPLERS)
    ess_threshold = check_real("ess_threshold", ess_threshold, ge=0.0, le=1.0)
    target_accept = check_real("target_accept", target_accept, gt=0.0, lt=1.0)
    max_steps = check_int("max_steps", max_steps, ge=1)
    snapshots = check_int("snapshots", snapshots, ge=0)
    kernel_at = kernel if callable(kernel) and not isinstance(kernel, Kernel) else (
        lambda _t, k=kernel: k)
    gen = make_generator(seed)
    resample = _RESAMPLE[resampling]
    move_potential = getattr(model, "log_potential_move", None)
    may_resample = getattr(model, "may_resample", None)
    t = model.t0
    with torch.no_grad():
        x = model.initial(n, gen)
        k0 = kernel_at(t)
        if not isinstance(k0, Kernel):
            raise TypeError(f"kernel must be a kernel object or t -> kernel, got {k0!r}")
        state = k0.init(model.energy(t), x, gen)
        cost = k0.init_cost()
        n_grad, n_energy = cost.n_grad, cost.n_energy
        step = float(k0.hyper.get("step_size", 0.0))
        log_w = torch.zeros(n, dtype=torch.float64, device=x.device)
        log_z = float(model.log_z0)
        rel_var = 0.0
        times, ess_hist, resampled = [t], [float(n)], []
        path = [log_w.clone()]
        accepts: list[float] = []
        snaps: list[tuple[float, torch.Tensor]] = []
        while t < model.t_end:
            if len(times) > max_steps:
                raise RuntimeError(f"the particle run needed more than max_steps={max_steps} "
                                   "steps; loosen the schedule (e.g. lower target_cess)")
            t_next = model.next_time(t, state, log_w)
            inc = model.log_potential(t, t_next, state)
            log_z += float(torch.logsumexp(torch.log_softmax(log_w, 0) + inc, 0))
            log_w = log_w + inc
            t = t_next
            energy = model.energy(t)
            state, dg, de = model.retarget(energy, state)
            n_grad, n_energy = n_grad + dg, n_energy + de
            e_now = ess(log_w)
            ess_hist.append(e_now)
            path.append(log_w.clone())
            do = e_now < ess_threshold * n
            if do and may_resample is not None:
                do = bool(may_resample(t))
            resampled.append(do)
            if do:
                rel_var += _segment_rel_var(log_w)
                state = state.take(resample(torch.softmax(log_w, 0), gen).to(x.device))
                log_w = torch.zeros_like(log_w)
            k = kernel_at(t)
            before = state
            for _ in range(n_mutations):
                if step > 0:
                    state = state.replace(step_size=step)
                state, info = k.step(energy, state, gen)
                n_grad, n_energy = n_grad + info.n_grad, n_energy + info.n_energy
                a = float(torch.nan_to_num(info.accept_prob).mean())
                accepts.append(a)
                if tune and k.adapts:
                    step = feedback_step(step, a, target_accept)
            if not bool(torch.isfinite(state.energy).all()):
                raise RuntimeError(f"the particle run diverged at t={t:.4g} (step "
                                   f"{len(times)}): reduce the kernel's step size "
                                   f"(now {step:.3g})")
            if move_potential is not None:
                inc = move_potential(times[-1], t, before, state)
                log_z += float(torch.logsumexp(torch.log_softmax(log_w, 0) + inc, 0))
                log_w = log_w + inc
            times.append(t)
            if snapshots and (len(times) % snapshots == 0 or t >= model.t_end):
                snaps.append((t, state.x.clone()))
    rel_var += _segment_rel_var(log_w)
    return ParticleResult(
        log_z=log_z, stderr=math.sqrt(rel_var), samples=state.x, log_weights=log_w,
        times=times, ess_history=ess_hist, resampled=resampled,
        log_weight_path=torch.stack(path), acceptance=sum(accepts) / max(len(accepts), 1),
        n_grad_evals=n_grad, n_energy_evals=n_energy, particles=snaps)
