"""Annealed importance sampling and sequential Monte Carlo along the geometric path

    π_β(x) ∝ exp(-(1-β) E₀(x) - β E(x)),   β: 0 → 1,

from a tractable base ``E₀`` (exact samples and ``log Z₀``) to the target ``E``. Both return
``log Ẑ``; ``Ẑ`` is unbiased, so ``log Ẑ`` is biased low (Jensen) by about half its variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import check_choice, check_int, check_real, make_generator
from ..energies.base import Energy
from ..energies.gaussian import Gaussian
from .base import State, get


class PathEnergy(Energy):
    """``E_β(x) = (1-β) E₀(x) + β E(x)``; ``β`` is changed in place by the annealers."""

    def __init__(self, base: Energy, target: Energy, beta: float = 0.0) -> None:
        super().__init__(target.dim)
        self.base_energy, self.target, self.beta = base, target, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (1.0 - self.beta) * self.base_energy(x) + self.beta * self.target(x)

    def parts(self, x: torch.Tensor):
        """``(E₀, ∇E₀, E, ∇E)`` at ``x``."""
        e0, g0 = self.base_energy.value_and_grad(x)
        e1, g1 = self.target.value_and_grad(x)
        return e0, g0, e1, g1

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e0, g0, e1, g1 = self.parts(x)
        b = self.beta
        return (1.0 - b) * e0 + b * e1, (1.0 - b) * g0 + b * g1

    @property
    def has_analytic_grad(self) -> bool:
        return True

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_and_grad(x)[1]


def default_base(energy: Energy) -> Gaussian:
    """A Gaussian fitted to the plotting box: centred on it, standard deviation 1/4 of its
    width per axis (2-D); ``N(0, I)`` in other dimensions."""
    if energy.dim == 2:
        b = energy.box
        return Gaussian([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2],
                        [[((b[1] - b[0]) / 4) ** 2, 0.0], [0.0, ((b[3] - b[2]) / 4) ** 2]])
    return Gaussian.isotropic(energy.dim, 1.0)


def sigmoid_schedule(n_temps: int, sharpness: float = 4.0) -> torch.Tensor:
    """``n_temps`` inverse temperatures from 0 to 1, dense at both ends (Grosse et al. 2015)."""
    t = torch.linspace(-sharpness, sharpness, n_temps, dtype=torch.float64)
    s = torch.sigmoid(t)
    return (s - s[0]) / (s[-1] - s[0])


def _kernel(kernel: str, step_size: float):
    check_choice("kernel", kernel, ("mala", "hmc", "ula", "rwm"))
    extra = {} if kernel == "ula" else {"adapt": 0}
    if kernel == "hmc":
        extra["n_leapfrog"] = 5
    return get(kernel, step_size=step_size, **extra)


def _tune(step: float, accept: float, target: float) -> float:
    """Step-size feedback between temperatures (uses only past moves: every kernel still
    leaves its own π_β invariant)."""
    return float(min(max(step * math.exp(2.0 * (accept - target)), 1e-4), 2.0))


def _log_mean_exp(w: torch.Tensor) -> float:
    return float(torch.logsumexp(w, 0) - math.log(w.numel()))


def _ess(logw: torch.Tensor) -> float:
    w = torch.softmax(logw, 0)
    return float(1.0 / (w * w).sum())


@dataclass
class AISResult:
    """``log_z`` = ``log Z₀ + log mean exp(w)``; ``stderr`` its standard error by the delta
    method, ``sd(e^{w})/(√N · mean(e^{w}))`` — the relative standard error of ``Ẑ``."""

    log_z: float
    stderr: float
    ess: float
    samples: torch.Tensor  # (N, D) final states
    log_weights: torch.Tensor  # (N,)
    log_weight_path: torch.Tensor  # (n_temps, N) cumulative log-weights
    betas: torch.Tensor
    acceptance: float
    n_grad_evals: int
    extras: dict[str, Any] = field(default_factory=dict)

    def weights(self) -> torch.Tensor:
        """Normalised importance weights of ``samples``."""
        return torch.softmax(self.log_weights, 0)


def ais(energy: Energy, base: Energy | None = None, n_chains: int = 256, n_temps: int = 200,
        kernel: str = "mala", step_size: float = 0.1, n_steps_per_temp: int = 1,
        target_accept: float = 0.7, seed: int | None = 0) -> AISResult:
    """Annealed importance sampling (Neal 2001) along the geometric path.

    Each chain starts from the base, and at every new ``β_k`` adds
    ``-(β_k - β_{k-1}) (E(x) - E₀(x))`` to its log-weight, then takes ``n_steps_per_temp``
    transitions that leave ``π_{β_k}`` invariant (MALA by default; the step size follows the
    acceptance between temperatures). With ``kernel="ula"`` and many small steps this is the
    Jarzynski-weighted Langevin estimator (nonequilibrium work), exact only as ε → 0.
    """
    n_chains = check_int("n_chains", n_chains, ge=2)
    n_temps = check_int("n_temps", n_temps, ge=2)
    n_steps_per_temp = check_int("n_steps_per_temp", n_steps_per_temp, ge=1)
    step = check_real("step_size", step_size, gt=0.0)
    target_accept = check_real("target_accept", target_accept, gt=0.0, lt=1.0)
    base = default_base(energy) if base is None else base
    log_z0 = base.log_z()
    gen = make_generator(seed)
    path = PathEnergy(base, energy, 0.0)
    S = _kernel(kernel, step)
    with torch.no_grad():
        x = base.sample(n_chains, seed=gen)
        betas = sigmoid_schedule(n_temps)
        logw = torch.zeros(n_chains, dtype=torch.float64)
        trace = torch.zeros(n_temps, n_chains, dtype=torch.float64)
        state = S.init(path, x, gen)
        accepts, grads = [], 0
        for k in range(1, n_temps):
            e0 = base(state.x).double()
            e1 = energy(state.x).double()
            logw += -(float(betas[k]) - float(betas[k - 1])) * (e1 - e0)
            trace[k] = logw
            path.beta = float(betas[k])
            state = _refresh(S, path, state)
            for _ in range(n_steps_per_temp):
                state = S.step(path, state)
                a = float(torch.nan_to_num(state.accept_prob).mean())
                accepts.append(a)
                if kernel != "ula":
                    step = _tune(step, a, target_accept)
                    state.step_size = step
            grads = state.n_grad
            if not bool(torch.isfinite(state.x).all()):
                raise RuntimeError(f"AIS diverged at temperature {k} of {n_temps}: reduce "
                                   f"step_size (now {step:.3g})")
    w = torch.exp(logw - logw.max())
    rel_se = float(w.std() / (math.sqrt(n_chains) * w.mean()))
    return AISResult(log_z=log_z0 + _log_mean_exp(logw), stderr=rel_se, ess=_ess(logw),
                     samples=state.x, log_weights=logw, log_weight_path=trace, betas=betas,
                     acceptance=sum(accepts) / len(accepts), n_grad_evals=grads)


def _refresh(S, path: PathEnergy, state: State) -> State:
    """Re-evaluate the state's energy and gradient under the new β (no extra cost: the
    parts at x are recombined)."""
    e, g = path.value_and_grad(state.x)
    return state.replace(energy=e, grad=g if S.uses_grad else None)


def systematic_resample(weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Indices ``(N,)`` drawn by systematic resampling: one uniform ``u``, points
    ``(u + i)/N``. Particle ``i`` is copied ``⌊N wᵢ⌋`` or ``⌈N wᵢ⌉`` times (expected ``N wᵢ``)."""
    n = weights.numel()
    w = weights.double() / weights.double().sum()
    u0 = torch.rand(1, generator=gen, dtype=torch.float64)
    u = (u0 + torch.arange(n, dtype=torch.float64)) / n
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    return torch.searchsorted(cdf, u).clamp_max(n - 1)


@dataclass
class SMCResult:
    log_z: float
    samples: torch.Tensor  # (N, D), weighted by ``weights()``
    log_weights: torch.Tensor  # (N,)
    betas: list[float]
    ess_history: list[float]
    resampled: list[bool]
    n_grad_evals: int
    particles: list[torch.Tensor] = field(default_factory=list)  # snapshots (β, x)

    def weights(self) -> torch.Tensor:
        """Normalised weights of ``samples`` (uniform right after a resampling)."""
        return torch.softmax(self.log_weights, 0)


class SMC:
    """Sequential Monte Carlo sampler (Del Moral, Doucet & Jasra 2006) with adaptive
    tempering: the next ``β`` is found by bisection so that the conditional ESS of the
    incremental weights equals ``target_cess · N``; systematic resampling when the ESS falls
    below ``resample_threshold · N``; ``n_mcmc`` rejuvenation moves of ``kernel`` per step.

    ``log Ẑ = log Z₀ + Σ_k log Σ_i W_i^{k-1} exp(-(β_k - β_{k-1})(E(x_i) - E₀(x_i)))``.
    """

    def __init__(self, kernel: str = "mala", n_mcmc: int = 5, target_cess: float = 0.9,
                 resample_threshold: float = 0.5, step_size: float = 0.1,
                 target_accept: float = 0.7, max_steps: int = 1000) -> None:
        self.kernel = kernel
        _kernel(kernel, 0.1)
        self.n_mcmc = check_int("n_mcmc", n_mcmc, ge=1)
        self.target_cess = check_real("target_cess", target_cess, gt=0.0, lt=1.0)
        self.resample_threshold = check_real("resample_threshold", resample_threshold, ge=0.0,
                                             le=1.0)
        self.step_size = check_real("step_size", step_size, gt=0.0)
        self.target_accept = check_real("target_accept", target_accept, gt=0.0, lt=1.0)
        self.max_steps = check_int("max_steps", max_steps, ge=1)

    def run(self, energy: Energy, base: Energy | None = None, n_particles: int = 512,
            seed: int | None = 0, snapshots: int = 0) -> SMCResult:
        n = check_int("n_particles", n_particles, ge=2)
        base = default_base(energy) if base is None else base
        gen = make_generator(seed)
        path = PathEnergy(base, energy, 0.0)
        step = self.step_size
        S = _kernel(self.kernel, step)
        log_z = base.log_z()
        with torch.no_grad():
            x = base.sample(n, seed=gen)
            logw = torch.zeros(n, dtype=torch.float64)
            state = S.init(path, x, gen)
            betas, ess_hist, resampled, snaps = [0.0], [float(n)], [], []
            beta = 0.0
            while beta < 1.0:
                if len(betas) > self.max_steps:
                    raise RuntimeError(f"SMC needed more than max_steps={self.max_steps} "
                                       "temperatures; lower target_cess")
                delta = (energy(state.x) - base(state.x)).double()
                w_prev = torch.softmax(logw, 0)
                new = self._next_beta(beta, delta, w_prev)
                inc = -(new - beta) * delta
                log_z += float(torch.logsumexp(torch.log(w_prev) + inc, 0))
                logw = logw + inc
                beta = new
                path.beta = beta
                state = _refresh(S, path, state)
                ess = _ess(logw)
                ess_hist.append(ess)
                do = ess < self.resample_threshold * n
                resampled.append(do)
                if do:
                    idx = systematic_resample(torch.softmax(logw, 0), gen).to(state.x.device)
                    state = state.replace(x=state.x[idx], energy=state.energy[idx],
                                          grad=None if state.grad is None else state.grad[idx])
                    logw = torch.zeros(n, dtype=torch.float64)
                for _ in range(self.n_mcmc):
                    state.step_size = step
                    state = S.step(path, state)
                    if self.kernel != "ula":
                        step = _tune(step, float(torch.nan_to_num(state.accept_prob).mean()),
                                     self.target_accept)
                betas.append(beta)
                if snapshots and (len(betas) % max(1, snapshots) == 0 or beta == 1.0):
                    snaps.append((beta, state.x.clone()))
        return SMCResult(log_z=log_z, samples=state.x, log_weights=logw, betas=betas,
                         ess_history=ess_hist, resampled=resampled, n_grad_evals=state.n_grad,
                         particles=snaps)

    def _next_beta(self, beta: float, delta: torch.Tensor, w: torch.Tensor) -> float:
        """Largest ``β' ≤ 1`` with conditional ESS ``(Σ W g)² / Σ W g² ≥ target · N``,
        ``g = exp(-(β' - β) Δ)``, by bisection."""
        n = delta.numel()

        def cess(b: float) -> float:
            lg = -(b - beta) * delta
            lg = lg - lg.max()
            g = torch.exp(lg)
            return float((w * g).sum() ** 2 / (w * g * g).sum()) * n

        if cess(1.0) >= self.target_cess * n:
            return 1.0
        lo, hi = beta, 1.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cess(mid) >= self.target_cess * n else (lo, mid)
        return max(lo, beta + 1e-6)
