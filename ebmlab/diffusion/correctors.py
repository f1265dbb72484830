"""Feynman–Kac correctors: targets built from diffusion models, as models of the particle
engine (``ebmlab.samplers.run_particles``).

A target is a geometric combination of score models and an optional reward tilt,

    γ_t(x) = Π_i p^i_t(x)^{c_i} · (reward twist),      sampled at t = t_min,

- temperature ``p^β`` (``c = β``), product / AND ``p¹ p²`` (``c = (1, 1)``), classifier-free
  guidance ``p^{1-w} p_c^w`` (``c = (1 - w, w)``), reward steering ``p(x) e^{λ r(x)}``.

The proposal is the reverse-time SDE with the combined score ``ŝ = Σ_i c_i s_i`` as drift,
``dx = [-f x + g² ŝ] dτ + g dW̄`` (τ = reverse time). Its particles are not distributed as
``γ_t``; the weights that make them so follow from the forward Kolmogorov equations (derived
in notebook 11): with ``b = -f x + g² ŝ``, ``d log w / dτ = ∂_τ log γ + ∇·b + b·∇log γ
- ½ g² (Δ log γ + ‖∇ log γ‖²)``, and every Laplacian cancels, leaving

    d log w / dτ = ½ g(t)² (‖Σ_i c_i s_i‖² - Σ_i c_i ‖s_i‖²) + (Σ_i c_i - 1) D f(t).

Temperature: ``½ g² β(β-1) ‖s‖²``; product: ``g² s¹·s²``; guidance:
``½ g² w(w-1) ‖s_c - s‖²``. The last term is the same for every particle (it matters only for
``log Ẑ``, which then estimates ``log ∫ γ_{t_min}``). Discretisation: Euler–Maruyama moves
with the exact ``∫ g²`` of each interval; the weight rate integrated over each interval by
the trapezoid rule (the score is evaluated at both ends anyway). Both errors vanish as the
step shrinks; notebook 11 measures them (a few hundred steps are needed).

Reward steering (Singhal et al. 2025, FK steering) twists by an intermediate reward
``r_t(x) = r(x̂_0(x, t))`` (Tweedie's denoised point) through a running statistic ``M``:
``difference`` (``M = r_t``), ``max`` (running maximum) or ``sum`` (running sum), updated
every ``interval`` steps, where the weights change by ``λ ΔM`` and resampling is considered.
At the last step ``M`` is replaced by ``r(x_{t_min})``, so the weights telescope to
``e^{λ r(x)}`` whatever the statistic: the particles target ``p(x) e^{λ r(x)}`` as N grows.
(In Singhal et al. the max and sum potentials re-weight by the statistic itself at each
resampling; here the increments of the statistic do, so the product of potentials is always
the exact tilt.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .._checks import check_choice, check_int, check_real
from ..energies.base import Energy
from ..samplers.kernel import Kernel
from ..samplers.state import Info, State, evaluate
from .schedules import Schedule, check_noise_levels

POTENTIALS = ("difference", "max", "sum")


# -- score models ------------------------------------------------------------------------


def _score_parts(model) -> tuple[Callable, Callable | None]:
    """``(score(x, t), log_prob(x, t) or None)`` of a score model: an object with ``score``
    (and optionally ``log_prob``), or a plain callable ``s(x, t)``."""
    score = getattr(model, "score", None)
    if score is None:
        if not callable(model):
            raise ValueError(f"a score model must be callable as s(x, t) or have .score(x, t), "
                             f"got {model!r}")
        score = model
    return score, getattr(model, "log_prob", None)


class Target:
    """What to sample: ``Π_i p_i^{c_i}`` (``terms = [(c_i, model_i)]``) times an optional
    reward tilt ``e^{λ r(x)}``. Build it with ``tempered``, ``product``, ``guided`` or
    ``steered``."""

    def __init__(self, terms: Sequence[tuple[float, object]], name: str,
                 reward: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 strength: float = 0.0, potential: str = "difference", interval: int = 1,
                 dim: int | None = None) -> None:
        if not terms:
            raise ValueError("terms must hold at least one (coefficient, score model) pair")
        self.coefs = [float(c) for c, _ in terms]
        self.models = [m for _, m in terms]
        self.parts = [_score_parts(m) for m in self.models]
        self.name = name
        self.c_sum = sum(self.coefs)
        if not self.c_sum > 0:
            raise ValueError(f"the coefficients must sum to > 0, got {self.coefs}")
        dims = {getattr(m, "dim", None) for m in self.models} - {None}
        if dim is not None:
            dims.add(check_int("dim", dim, ge=1))
        if len(dims) != 1:
            raise ValueError("pass dim= (the data dimension): the score models do not declare "
                             f"one dimension (found {sorted(dims)})")
        self.dim = dims.pop()
        self.reward = reward
        self.strength = check_real("strength", strength, ge=0.0)
        self.potential = check_choice("potential", potential, POTENTIALS)
        self.interval = check_int("interval", interval, ge=1)
        self.exact_start = all(lp is not None for _, lp in self.parts)

    def __repr__(self) -> str:
        return f"Target({self.name})"


def tempered(model, beta: float, dim: int | None = None) -> Target:
    """``p^β`` (β > 0; β > 1 sharpens, β < 1 flattens) from a score model of ``p``."""
    beta = check_real("beta", beta, gt=0.0)
    return Target([(beta, model)], f"tempered beta={beta:g}", dim=dim)


def product(*models, dim: int | None = None) -> Target:
    """``Π_i p_i`` (AND-composition of models)."""
    if len(models) < 2:
        raise ValueError(f"product needs at least two models, got {len(models)}")
    return Target([(1.0, m) for m in models], f"product of {len(models)}", dim=dim)


def guided(unconditional, conditional, scale: float, dim: int | None = None) -> Target:
    """Classifier-free guidance ``p(x)^{1-w} p(x|c)^w`` (``w = scale ≥ 0``; ``w = 1``: the
    conditional model, ``w > 1``: guidance beyond it)."""
    w = check_real("scale", scale, ge=0.0)
    return Target([(1.0 - w, unconditional), (w, conditional)], f"guided w={w:g}", dim=dim)


def steered(model, reward: Callable[[torch.Tensor], torch.Tensor], strength: float,
            potential: str = "difference", interval: int = 1, dim: int | None = None
            ) -> Target:
    """Reward steering towards ``p(x) e^{λ r(x)}`` (``λ = strength ≥ 0``); ``reward(x)``:
    ``(N, D) -> (N,)`` on data space; ``potential``: difference, max or sum; ``interval``:
    the weights change and resampling is considered every ``interval`` steps."""
    if not callable(reward):
        raise ValueError(f"reward must be a function r(x): (N, D) -> (N,), got {reward!r}")
    return Target([(1.0, model)], f"steered lambda={strength:g}", reward=reward,
                  strength=strength, potential=potential, interval=interval, dim=dim)


# -- the target at one diffusion time ------------------------------------------------------


class TargetSlice(Energy):
    """The target at diffusion time ``t``, as the particle engine's kernels see it.

    ``value_grad_aux(x)`` returns ``(E, ∇E, aux)`` with ``∇E = -ŝ`` (the combined score
    ``Σ c_i s_i``) and ``aux = (ρ, r, M)``: ``ρ = ½(‖ŝ‖² - Σ c_i ‖s_i‖²)`` (the weight rate
    per unit of ``g²``), the intermediate reward ``r_t(x)`` (0 without a reward) and the
    running statistic (set by the kernel). Only the score is known, so ``E`` is reported as
    0 (NaN where ``x`` is not finite, so divergences are caught); kernels that need ``E``
    (MALA, HMC) must not be used on it.
    """

    def __init__(self, target: Target, schedule: Schedule, t: float) -> None:
        super().__init__(target.dim)
        self.target, self.schedule, self.t = target, schedule, float(t)

    def scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [score(x, self.t) for score, _ in self.target.parts]

    def value_grad_aux(self, x: torch.Tensor):
        tg = self.target
        ss = self.scores(x)
        if len(ss) == 1:
            c = tg.coefs[0]
            s_hat = ss[0] if c == 1.0 else c * ss[0]
            sq = (ss[0] * ss[0]).sum(-1)
            rho = 0.5 * (c * c - c) * sq
        else:
            s_hat = sum(c * s for c, s in zip(tg.coefs, ss, strict=True))
            rho = 0.5 * ((s_hat * s_hat).sum(-1)
                         - sum(c * (s * s).sum(-1) for c, s in zip(tg.coefs, ss, strict=True)))
        if tg.reward is not None:
            a, sg = self.schedule.alpha(self.t), self.schedule.sigma(self.t)
            r = tg.reward((x + (sg * sg) * s_hat) / a).to(rho)
        else:
            r = torch.zeros_like(rho)
        e = torch.where(torch.isfinite(x).all(-1), 0.0, math.nan).to(rho)
        return e, -s_hat, (rho.double(), r.double(), r.double())

    def value_aux(self, x: torch.Tensor):
        e, _, aux = self.value_grad_aux(x)
        return e, aux

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_grad_aux(x)[0]

    def _value_and_grad(self, x: torch.Tensor):
        e, g, _ = self.value_grad_aux(x)
        return e, g

    def log_gamma(self, x: torch.Tensor) -> torch.Tensor | None:
        """``Σ c_i log p_i(x, t)`` when every model has ``log_prob``, else ``None``."""
        if not self.target.exact_start:
            return None
        return sum(c * lp(x, self.t).double()
                   for c, (_, lp) in zip(self.target.coefs, self.target.parts, strict=True))


# -- reverse-time kernels ------------------------------------------------------------------


class ReverseStep(Kernel):
    """One reverse-time step from ``t_from`` to ``t_to < t_from`` with the combined score
    ``ŝ = -state.grad`` at ``(x, t_from)``:

    - SDE (Euler–Maruyama): ``x' = x - F x + G ŝ + √G ξ``,
    - probability-flow ODE (Euler): ``x' = x - F x + ½ G ŝ``,

    with ``G = ∫ g²`` and ``F = ∫ f`` over the interval. Not π-invariant: a proposal, whose
    Feynman–Kac weights the model supplies. ``statistic``: how the running reward statistic
    ``M`` (aux[2]) is updated at this step (``None``: kept)."""

    name = "reverse-step"
    uses_grad = True
    adapts = False

    def __init__(self, schedule: Schedule, t_from: float, t_to: float, ode: bool = False,
                 statistic: str | None = None, n_models: int = 1) -> None:
        super().__init__()
        self.schedule, self.t_from, self.t_to, self.ode = schedule, t_from, t_to, bool(ode)
        self.statistic, self.n_models = statistic, n_models
        self.G = float(schedule.g2_integral(t_from, t_to))
        self.F = float(schedule.f_integral(t_from, t_to))

    def init_cost(self) -> Info:
        return Info(accept_prob=torch.ones(1), n_grad=self.n_models)

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        x = state.x
        drift = x * (-self.F) - state.grad * (0.5 * self.G if self.ode else self.G)
        y = x + drift
        if not self.ode:
            y = y + math.sqrt(self.G) * torch.randn(x.shape, generator=gen, dtype=x.dtype,
                                                    device=x.device)
        e, g, aux = evaluate(energy, y)
        m_old = state.aux[2]
        if self.statistic == "difference" or self.statistic == "final":
            m = aux[1]
        elif self.statistic == "max":
            m = torch.maximum(m_old, aux[1])
        elif self.statistic == "sum":
            m = m_old + aux[1]
        else:
            m = m_old
        info = Info(accept_prob=torch.ones_like(e), n_grad=self.n_models)
        return state.replace(x=y, energy=e, grad=g, aux=(aux[0], aux[1], m)), info


class ScoreLangevin(Kernel):
    """Unadjusted Langevin on a score: ``x' = x + ε ŝ(x) + √(2ε) ξ`` (annealed Langevin's
    move at one noise level)."""

    name = "score-langevin"
    uses_grad = True
    adapts = False

    def __init__(self, step_size: float, n_models: int = 1) -> None:
        super().__init__()
        self.eps = check_real("step_size", step_size, gt=0.0)
        self.n_models = n_models

    def init_cost(self) -> Info:
        return Info(accept_prob=torch.ones(1), n_grad=self.n_models)

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        x = state.x
        y = x - self.eps * state.grad + math.sqrt(2 * self.eps) * torch.randn(
            x.shape, generator=gen, dtype=x.dtype, device=x.device)
        e, g, aux = evaluate(energy, y)
        return state.replace(x=y, energy=e, grad=g, aux=aux), Info(
            accept_prob=torch.ones_like(e), n_grad=self.n_models)


# -- particle-engine models ------------------------------------------------------------------


class ReversePath:
    """The reverse-time diffusion as a Feynman–Kac model of the particle engine.

    Engine time ``u = t_max - t`` (reverse time elapsed) runs over the grid
    ``schedule.times(n_steps)``. The start draws ``N(0, s_T²/Σc · I)`` (the prior tempered
    by ``Σ c_i``); when every model has ``log_prob``, the first potential corrects it to
    ``γ_{t_max}`` exactly. ``weighted=False`` drops every potential: the naive sampler that
    just integrates the combined score. ``ode=True`` integrates the probability-flow ODE
    (only with ``weighted=False``: the weights above are those of the SDE).
    """

    t0 = 0.0

    def __init__(self, target: Target, schedule: Schedule, n_steps: int,
                 weighted: bool = True, ode: bool = False, spacing: str = "uniform") -> None:
        if not isinstance(target, Target):
            raise ValueError(f"target must be built by tempered/product/guided/steered, "
                             f"got {target!r}")
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a VPSchedule or VESchedule, got {schedule!r}")
        n_steps = check_int("n_steps", n_steps, ge=1)
        if ode and weighted:
            raise ValueError("ode=True needs weighted=False (the Feynman-Kac weights here are "
                             "those of the reverse SDE)")
        self.target, self.schedule, self.weighted = target, schedule, bool(weighted)
        self.grid = schedule.times(n_steps, spacing)
        self.u = [schedule.t_max - t for t in self.grid]
        self.u[0] = 0.0
        self.t_end = self.u[-1]
        self._index = {u: k for k, u in enumerate(self.u)}
        self.slices = [TargetSlice(target, schedule, t) for t in self.grid]
        self.log_z0 = 0.0
        self.ref_std = schedule.prior_std / math.sqrt(target.c_sum)
        steer = target.reward is not None and weighted
        self.every = target.interval if steer else 1
        n = len(self.grid) - 1
        self.kernels: list[Kernel | None] = [None]
        for k in range(1, n + 1):
            stat = None
            if steer and k == n:
                stat = "final"
            elif steer and k % self.every == 0:
                stat = target.potential
            self.kernels.append(ReverseStep(schedule, self.grid[k - 1], self.grid[k], ode=ode,
                                            statistic=stat, n_models=len(target.models)))
        self._steer = steer

    def initial(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.schedule.prior(n, self.target.dim, gen, scale=1.0 / math.sqrt(
            self.target.c_sum))

    def kernel(self, u: float) -> Kernel:
        k = self._index[u]
        return self.kernels[k] if k > 0 else self.kernels[1]

    def energy(self, u: float) -> TargetSlice:
        return self.slices[self._index[u]]

    def next_time(self, u: float, state: State, log_w: torch.Tensor) -> float:
        return self.u[self._index[u] + 1]

    def log_potential(self, u: float, u_next: float, state: State) -> torch.Tensor:
        x = state.x
        inc = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        if not self.weighted or u != self.t0:
            return inc
        lg = self.slices[0].log_gamma(x)
        if lg is not None:  # correct the Gaussian start to γ_{t_max} exactly
            d = self.target.dim
            v = self.ref_std**2
            log_ref = -0.5 * (x.double() ** 2).sum(-1) / v - 0.5 * d * math.log(2 * math.pi * v)
            inc = inc + lg - log_ref
        if self._steer:
            inc = inc + self.target.strength * state.aux[2]
        return inc

    def log_potential_move(self, u: float, u_next: float, before: State, after: State
                           ) -> torch.Tensor:
        if not self.weighted:
            return torch.zeros(after.x.shape[0], dtype=torch.float64, device=after.x.device)
        ker = self.kernels[self._index[u_next]]
        # the rate integrated by the trapezoid rule (both ends are evaluated anyway)
        inc = (ker.G * 0.5) * (before.aux[0] + after.aux[0])
        inc = inc + (self.target.c_sum - 1.0) * self.target.dim * ker.F
        if self._steer:
            inc = inc + self.target.strength * (after.aux[2] - before.aux[2])
        return inc

    def may_resample(self, u_next: float) -> bool:
        return (self._index[u_next] - 1) % self.every == 0

    def retarget(self, energy, state: State) -> tuple[State, int, int]:
        return state, 0, 0  # the move uses the score at the interval's start

    def diffusion_times(self, engine_times: Sequence[float]) -> list[float]:
        return [self.grid[self._index[u]] for u in engine_times]


class NoiseLevels:
    """Annealed Langevin as a particle-engine model: levels ``t_1 > … > t_L`` (engine time
    ``u = ℓ``), ``n_steps_each`` Langevin moves at each level with step ``ε_ℓ = eps σ(t_ℓ)²``
    (Song & Ermon 2019: the step shrinks with the noise variance), no weights."""

    t0 = 0.0

    def __init__(self, target: Target, schedule: Schedule, n_levels: int, eps: float,
                 times: Sequence[float] | None = None, spacing: str = "g2") -> None:
        self.target, self.schedule = target, schedule
        self.eps = check_real("eps", eps, gt=0.0)
        if times is None:
            n_levels = check_int("n_levels", n_levels, ge=2)
            self.levels = schedule.times(n_levels - 1, spacing)
        else:
            check_noise_levels("times", [float(schedule.sigma(float(t))) for t in times])
            self.levels = [float(t) for t in times]
            n_levels = len(self.levels)
        self.t_end = float(n_levels)
        self.log_z0 = 0.0
        self.slices = [TargetSlice(target, schedule, t) for t in self.levels]
        self.kernels = [ScoreLangevin(self.eps * float(schedule.sigma(t)) ** 2,
                                      len(target.models)) for t in self.levels]

    init_scale = 1.0

    def initial(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.schedule.prior(n, self.target.dim, gen, scale=self.init_scale)

    def _level(self, u: float) -> int:
        return max(int(round(u)) - 1, 0)

    def kernel(self, u: float) -> Kernel:
        return self.kernels[self._level(u)]

    def energy(self, u: float) -> TargetSlice:
        return self.slices[self._level(u)]

    def next_time(self, u: float, state: State, log_w: torch.Tensor) -> float:
        return u + 1.0

    def log_potential(self, u: float, u_next: float, state: State) -> torch.Tensor:
        return torch.zeros(state.x.shape[0], dtype=torch.float64, device=state.x.device)

    def retarget(self, energy, state: State) -> tuple[State, int, int]:
        e, g, aux = evaluate(energy, state.x)
        return state.replace(energy=e, grad=g, aux=aux), len(self.target.models), 0
