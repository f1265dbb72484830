"""One interface for every batched MCMC sampler.

A sampler is built with its hyperparameters and exposes

- ``init(energy, x0, seed) -> State`` and ``step(energy, state) -> State``: one transition
  for all chains at once (``x: (N, D)``), for live use in widgets;
- ``run(energy, x0=None, n_chains=..., n_steps=..., warmup=0, thin=1, seed=...) -> Trace``.

Chains are a batch dimension; every random draw comes from the state's seeded
``torch.Generator``; device and dtype follow ``x0``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .._checks import check_choice, check_int, make_generator
from ..energies.base import Energy, Param


def _scalar(step_size) -> float:
    """A step size as a float; per-chain step sizes report the first chain's (``T = 1``)."""
    if isinstance(step_size, torch.Tensor):
        return float(step_size.reshape(-1)[0])
    return float(step_size)


class SamplerDivergence(RuntimeError):
    """A sampler produced non-finite values; the message says where and the likely cause."""


class State:
    """Batched sampler state: positions ``x: (N, D)``, energies ``(N,)``, gradients ``(N, D)``.

    ``momentum`` is used by kinetic samplers; ``accept_prob`` holds the last transition's
    acceptance probabilities ``(N,)``; ``step_size`` is a float.
    """

    __slots__ = ("x", "energy", "grad", "momentum", "accept_prob", "step_size", "gen", "n_grad",
                 "n_divergent", "extra")

    def __init__(self, x, energy, grad, step_size, gen, momentum=None, accept_prob=None,
                 n_grad=0, n_divergent=0, extra=None):
        self.x = x
        self.energy = energy
        self.grad = grad
        self.step_size = step_size
        self.gen = gen
        self.momentum = momentum
        self.accept_prob = accept_prob
        self.n_grad = n_grad
        self.n_divergent = n_divergent
        self.extra = extra  # sampler-specific state (e.g. parallel tempering's ladder)

    def replace(self, **kw) -> State:
        new = State.__new__(State)
        for k in State.__slots__:
            setattr(new, k, kw[k] if k in kw else getattr(self, k))
        return new

    def __repr__(self) -> str:
        return (f"State(n_chains={self.x.shape[0]}, dim={self.x.shape[1]}, "
                f"step_size={self.step_size:g})")


@dataclass
class Trace:
    """Result of ``Sampler.run``: kept samples ``(n_kept, N, D)`` and what it cost."""

    samples: torch.Tensor
    energy: torch.Tensor  # (n_kept, N)
    acceptance: torch.Tensor  # (N,) mean acceptance probability per chain over kept steps
    final: torch.Tensor  # (N, D)
    step_size: float  # the (frozen) step size used for the kept steps
    step_sizes: torch.Tensor  # (warmup + n_steps,) step size at every step
    wall_time: float
    n_grad_evals: int  # gradient evaluations per chain, warm-up included
    sampler: str
    hyperparameters: dict[str, Any]
    n_steps: int
    warmup: int
    thin: int
    seed: int | None
    n_divergent: int = 0  # rejected proposals with non-finite energy or energy error > 1000
    n_dropped: int = 0  # chains frozen by on_divergence="drop"
    interrupted: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_chains(self) -> int:
        return self.final.shape[0]

    def flat(self) -> torch.Tensor:
        """All kept samples of all chains: ``(n_kept · N, D)``."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def __repr__(self) -> str:
        return (f"Trace({self.sampler}, samples={tuple(self.samples.shape)}, "
                f"step_size={self.step_size:.4g}, acceptance={float(self.acceptance.mean()):.3f}, "
                f"grad_evals={self.n_grad_evals}, wall_time={self.wall_time:.2f}s"
                + (f", divergent={self.n_divergent}" if self.n_divergent else "")
                + (f", dropped={self.n_dropped}" if self.n_dropped else "") + ")")


class DualAveraging:
    """Nesterov dual averaging of ``log ε`` towards a target acceptance rate δ
    (Hoffman & Gelman 2014, alg. 5): ``H̄_t = (1-1/(t+t₀)) H̄ + (δ - α_t)/(t+t₀)``,
    ``log ε_t = μ - √t/γ H̄_t``, ``log ε̄_t = t^{-κ} log ε_t + (1 - t^{-κ}) log ε̄_{t-1}``."""

    def __init__(self, step_size: float, target: float, gamma: float = 0.05, t0: float = 10.0,
                 kappa: float = 0.75) -> None:
        self.mu = math.log(10.0 * step_size)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.t = 0
        self.h_bar = 0.0
        self.log_eps_bar = math.log(step_size)

    def update(self, accept_prob: float) -> float:
        self.t += 1
        eta = 1.0 / (self.t + self.t0)
        self.h_bar = (1.0 - eta) * self.h_bar + eta * (self.target - accept_prob)
        log_eps = self.mu - math.sqrt(self.t) / self.gamma * self.h_bar
        w = self.t ** (-self.kappa)
        self.log_eps_bar = w * log_eps + (1.0 - w) * self.log_eps_bar
        return math.exp(log_eps)

    @property
    def final(self) -> float:
        return math.exp(self.log_eps_bar)


def initial_points(energy: Energy, n: int, gen: torch.Generator,
                   dtype: torch.dtype | None = None, temperature: float = 4.0) -> torch.Tensor:
    """Default starting points, overdispersed but inside the typical set.

    2-D: draws from ``exp(-E/T)`` with ``T = 4`` on a 128 × 128 grid over the plotting box
    (uniform within each cell) — the box centre can lie far in a tail (the banana's does),
    where gradient samplers take long to recover. Other dimensions: ``N(0, I)``.
    """
    dtype = dtype or torch.get_default_dtype()
    if energy.dim != 2:
        return torch.randn(n, energy.dim, generator=gen, dtype=dtype)
    from ..grid import energy_on_grid, make_grid

    g = make_grid(energy.box, 128)
    e = energy_on_grid(energy, g, temperature).reshape(-1)
    w = torch.exp(-(e - e.min())).nan_to_num(0.0)
    idx = torch.multinomial(w, n, replacement=True, generator=gen)
    hx, hy = float(g.xs[1] - g.xs[0]), float(g.ys[1] - g.ys[0])
    jitter = torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5
    pts = g.points[idx] + jitter * torch.tensor([hx, hy], dtype=torch.float64)
    return pts.to(dtype)


_REGISTRY: dict[str, type[Sampler]] = {}


def register(cls: type[Sampler]) -> type[Sampler]:
    """Class decorator: list a sampler by its ``name`` (widgets build controls from ``params``)."""
    if cls.name in _REGISTRY:
        raise ValueError(f"a sampler named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return list(_REGISTRY)


def spec(name: str) -> type[Sampler]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; registered: {', '.join(_REGISTRY)}") from None


def get(name: str, **hyper: Any) -> Sampler:
    return spec(name)(**hyper)


class Sampler:
    """Base class. Subclasses set ``name``, ``params`` (declared hyperparameters with ranges),
    ``uses_grad`` and implement ``step``; MH samplers set ``target_accept`` to adapt ``ε``."""

    name: ClassVar[str] = "sampler"
    params: ClassVar[tuple[Param, ...]] = ()
    uses_grad: ClassVar[bool] = True
    adapts: ClassVar[bool] = False

    def __init__(self, **hyper: Any) -> None:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(hyper) - set(known))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown} for {type(self).__name__}; "
                             f"allowed: {sorted(known)}")
        self.hyper: dict[str, Any] = {}
        for p in self.params:
            self.hyper[p.name] = p.validate(hyper.get(p.name, p.default))
        for k, v in self.hyper.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    def with_step_size(self, step_size: float) -> Sampler:
        """A copy with the given step size and adaptation off (e.g. ``trace.step_size``)."""
        hyper = dict(self.hyper, step_size=step_size)
        if "adapt" in hyper:
            hyper["adapt"] = 0
        return type(self)(**hyper)

    # -- the kernel ------------------------------------------------------------------
    def init(self, energy: Energy, x0: torch.Tensor, seed: int | torch.Generator | None = 0,
             step_size: float | None = None) -> State:
        """Initial state at ``x0: (N, D)`` (energies and, if used, gradients evaluated)."""
        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be an ebmlab Energy, got {type(energy).__name__}")
        if not isinstance(x0, torch.Tensor) or x0.ndim != 2 or x0.shape[1] != energy.dim:
            raise ValueError(f"x0 must be a tensor of shape (N, {energy.dim}), got "
                             f"{getattr(x0, 'shape', type(x0).__name__)}")
        if not x0.is_floating_point():
            raise ValueError(f"x0 must be floating point, got dtype {x0.dtype}")
        x0 = x0.detach()
        gen = make_generator(seed, x0.device)
        with torch.no_grad():
            if self.uses_grad:
                e, g = energy.value_and_grad(x0)
            else:
                e, g = energy(x0), None
        bad = ~torch.isfinite(e)
        if bad.any():
            raise ValueError(f"x0 has non-finite energy in {int(bad.sum())} of {x0.shape[0]} "
                             "chains; start inside the support of the energy")
        eps = float(self.hyper.get("step_size", 0.0) if step_size is None else step_size)
        state = State(x0, e, g, eps, gen, accept_prob=torch.ones_like(e),
                      n_grad=1 if self.uses_grad else 0)
        return self._init_extra(energy, state)

    def _init_extra(self, energy: Energy, state: State) -> State:
        return state

    def step(self, energy: Energy, state: State) -> State:
        raise NotImplementedError

    def view(self, state: State) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What a Trace records: positions ``(N, D)``, energies and acceptance ``(N,)``."""
        return state.x, state.energy, state.accept_prob

    def trace_extras(self, state: State) -> dict[str, Any]:
        return {}

    # -- helpers for subclasses ---------------------------------------------------------
    @staticmethod
    def _noise(state: State) -> torch.Tensor:
        return torch.randn(state.x.shape, generator=state.gen, dtype=state.x.dtype,
                           device=state.x.device)

    @staticmethod
    def _mh(state: State, log_alpha: torch.Tensor, x_new, e_new, g_new, n_grad: int,
            energy_error: torch.Tensor | None = None) -> State:
        """Metropolis-Hastings: accept each chain with probability ``min(1, e^{log α})``;
        non-finite proposals are rejected and counted as divergent (no host sync here)."""
        log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf, posinf=-math.inf)
        diverged = log_alpha == -math.inf
        if energy_error is not None:
            diverged = diverged | (energy_error > 1000.0)
        u = torch.rand(log_alpha.shape, generator=state.gen, dtype=log_alpha.dtype,
                       device=log_alpha.device)
        accept = u.log_() < log_alpha
        x = torch.where(accept[:, None], x_new, state.x)
        e = torch.where(accept, e_new, state.energy)
        g = None if g_new is None else torch.where(accept[:, None], g_new, state.grad)
        return state.replace(x=x, energy=e, grad=g, accept_prob=log_alpha.clamp(max=0.0).exp(),
                             n_grad=state.n_grad + n_grad,
                             n_divergent=state.n_divergent + diverged.sum())

    def divergence_message(self, step: int, n_bad: int, n_chains: int, step_size: float) -> str:
        return (f"{type(self).__name__} diverged at step {step}: {n_bad} of {n_chains} chains "
                f"became non-finite. Likely cause: step_size={step_size:.4g} is too large for "
                "this energy; reduce it (or use an adjusted sampler such as MALA/HMC), or pass "
                "on_divergence='drop' to freeze the bad chains.")

    # -- the driver ------------------------------------------------------------------
    def run(self, energy: Energy, x0: torch.Tensor | None = None, n_chains: int | None = None,
            n_steps: int = 1000, warmup: int = 0, thin: int = 1, seed: int | None = 0,
            callback: Callable[[int, State], Any] | None = None,
            on_divergence: str = "raise", progress: bool = False) -> Trace:
        """Run ``warmup + n_steps`` transitions; keep every ``thin``-th after warm-up.

        ``x0: (N, D)`` or ``n_chains`` (start from ``initial_points``). Step-size adaptation
        (MH samplers with ``adapt=1``) runs only during warm-up and is then frozen; stalled
        chains restart from healthy ones during warm-up only. ``callback(i, state)`` runs after
        every step; returning ``False`` stops early. Ctrl-C stops cleanly and returns what was
        kept. ``thin`` bounds memory: ``(n_steps // thin, N, D)`` samples are stored.
        """
        n_steps = check_int("n_steps", n_steps, ge=1)
        warmup = check_int("warmup", warmup, ge=0)
        thin = check_int("thin", thin, ge=1)
        check_choice("on_divergence", on_divergence, ("raise", "drop"))
        gen = make_generator(seed, x0.device if isinstance(x0, torch.Tensor) else "cpu")
        if x0 is None:
            if n_chains is None:
                raise ValueError("give x0 (N, D) or n_chains")
            x0 = initial_points(energy, check_int("n_chains", n_chains, ge=1), gen)
        elif n_chains is not None and n_chains != getattr(x0, "shape", (None,))[0]:
            raise ValueError(f"n_chains={n_chains} does not match x0 with {x0.shape[0]} rows")
        state = self.init(energy, x0, gen)
        n_all = state.x.shape[0]  # every simulated chain (replicas included)
        n = self.view(state)[0].shape[0]  # the chains a Trace records
        n_kept = n_steps // thin
        samples = torch.empty((n_kept, n, energy.dim), dtype=state.x.dtype, device=state.x.device)
        energies = torch.empty((n_kept, n), dtype=state.energy.dtype, device=state.x.device)
        adapt = DualAveraging(state.step_size, self.hyper["target_accept"]) \
            if self.adapts and self.hyper.get("adapt", False) and warmup > 0 else None
        total = warmup + n_steps
        step_sizes: list[float] = []
        frozen = torch.zeros(n_all, dtype=torch.bool, device=state.x.device)
        any_frozen = False
        recent = torch.ones(n_all, dtype=state.x.dtype, device=state.x.device)  # accept. EMA
        acc_sum = torch.zeros(n, dtype=state.x.dtype, device=state.x.device)
        n_restarted = 0
        kept = 0
        i = -1
        interrupted = False
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=type(self).__name__, unit="step")
        start = time.perf_counter()
        try:
            with torch.no_grad():
                for i in range(total):
                    prev = state
                    state = self.step(energy, state)
                    # One reduction and one host sync: a NaN or ±inf anywhere makes the sum
                    # non-finite; only then look for the bad chains.
                    if any_frozen or not math.isfinite(float(state.energy.sum())):
                        bad = ~torch.isfinite(state.energy)
                        state = self._handle_divergence(state, prev, bad, frozen, i,
                                                        on_divergence)
                        any_frozen = True
                    step_sizes.append(_scalar(state.step_size))
                    if i < warmup:
                        if self.adapts:
                            recent.mul_(0.95).add_(torch.nan_to_num(state.accept_prob),
                                                   alpha=0.05)
                            if (i + 1) % 25 == 0 or i == warmup - 1:
                                state, r = self._restart_stuck(state, recent)
                                n_restarted += r
                        if adapt is not None:
                            a = float(torch.nan_to_num(state.accept_prob, nan=0.0).mean())
                            state.step_size = adapt.update(a)
                            if i == warmup - 1:
                                state.step_size = adapt.final
                    else:
                        xv, ev, av = self.view(state)
                        acc_sum += av
                        j = i - warmup + 1
                        if j % thin == 0 and kept < n_kept:
                            samples[kept] = xv
                            energies[kept] = ev
                            kept += 1
                    if bar is not None:
                        bar.update(1)
                    if callback is not None and callback(i, state) is False:
                        break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
        wall = time.perf_counter() - start
        done = max(i + 1 - warmup, 1)
        return Trace(
            samples=samples[:kept], energy=energies[:kept],
            acceptance=acc_sum / done, final=self.view(state)[0],
            step_size=_scalar(state.step_size),
            step_sizes=torch.tensor(step_sizes, dtype=torch.float64),
            wall_time=wall, n_grad_evals=state.n_grad, sampler=type(self).__name__,
            hyperparameters=dict(self.hyper), n_steps=n_steps, warmup=warmup, thin=thin,
            seed=seed if isinstance(seed, int) else None, n_divergent=int(state.n_divergent),
            n_dropped=int(frozen[:n].sum()), interrupted=interrupted or kept < n_kept,
            extras=({"n_restarted": n_restarted} if n_restarted else {})
            | self.trace_extras(state),
        )

    @staticmethod
    def _restart_stuck(state: State, recent: torch.Tensor) -> tuple[State, int]:
        """Warm-up only: chains whose recent acceptance is below 1 % (stalled in a tail, a
        known failure of Metropolis kernels) restart from the position of a random healthy
        chain. Warm-up draws are discarded, so the kept chain stays a valid Markov chain."""
        stuck = recent < 0.01
        n_stuck = int(stuck.sum())
        healthy = torch.nonzero(~stuck).squeeze(1)
        if n_stuck == 0 or healthy.numel() == 0:
            return state, 0
        pick = torch.randint(healthy.numel(), (n_stuck,), generator=state.gen,
                             device=healthy.device)
        src = healthy[pick]
        idx = torch.nonzero(stuck).squeeze(1)
        x, e = state.x.clone(), state.energy.clone()
        x[idx], e[idx] = x[src], e[src]
        g = None
        if state.grad is not None:
            g = state.grad.clone()
            g[idx] = g[src]
        recent[idx] = 1.0
        return state.replace(x=x, energy=e, grad=g), n_stuck

    def _handle_divergence(self, state: State, prev: State, bad: torch.Tensor,
                           frozen: torch.Tensor, i: int, mode: str) -> State:
        n_bad = int(bad.sum())
        if n_bad and mode == "raise":
            raise SamplerDivergence(self.divergence_message(i, n_bad, bad.numel(),
                                                            _scalar(prev.step_size)))
        frozen |= bad
        keep = frozen
        x = torch.where(keep[:, None], prev.x, state.x)
        e = torch.where(keep, prev.energy, state.energy)
        g = None if state.grad is None else torch.where(keep[:, None], prev.grad, state.grad)
        mom = None if state.momentum is None else torch.where(keep[:, None], prev.momentum,
                                                              state.momentum)
        acc = torch.where(keep, torch.zeros_like(state.accept_prob), state.accept_prob)
        return state.replace(x=x, energy=e, grad=g, momentum=mom, accept_prob=acc)
