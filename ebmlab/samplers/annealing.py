"""Annealed importance sampling and adaptive-tempering SMC: two configurations of the
particle engine on the geometric path

    π_β(x) ∝ exp(-(1-β) E₀(x) - β E(x)),   β: 0 → 1,

from a tractable base ``E₀`` (exact samples and ``log Z₀``) to the target ``E``. Both return
``log Ẑ``; ``Ẑ`` is unbiased (with step tuning frozen), so ``log Ẑ`` is biased low (Jensen)
by about half its variance.
"""

from __future__ import annotations

import torch

from .._checks import check_int, check_real
from ..energies.base import Energy
from ..energies.gaussian import Gaussian
from .kernel import Kernel, get
from .particles import ParticleResult, run_particles
from .state import State


class PathEnergy(Energy):
    """``E_β(x) = (1-β) E₀(x) + β E(x)``, with both end-point energies and gradients handed
    to the state as ``aux = (E₀, E, ∇E₀, ∇E)`` (``(E₀, E)`` without gradients): reweighting
    and moving to the next β then cost no further evaluation."""

    def __init__(self, base: Energy, target: Energy, beta: float = 0.0) -> None:
        super().__init__(target.dim)
        self.base_energy, self.target, self.beta = base, target, float(beta)
        self.analytic_grad = base.analytic_grad and target.analytic_grad

    def at(self, beta: float) -> PathEnergy:
        return PathEnergy(self.base_energy, self.target, beta)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_aux(x)[0]

    def value_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        e0, e1 = self.base_energy(x), self.target(x)
        return (1.0 - self.beta) * e0 + self.beta * e1, (e0, e1)

    def value_grad_aux(self, x: torch.Tensor):
        e0, g0 = self.base_energy.value_and_grad(x)
        e1, g1 = self.target.value_and_grad(x)
        b = self.beta
        return (1.0 - b) * e0 + b * e1, (1.0 - b) * g0 + b * g1, (e0, e1, g0, g1)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self._value_and_grad(x)[1]

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, g, _ = self.value_grad_aux(x)
        return e, g


def default_base(energy: Energy) -> Gaussian:
    """The AIS/SMC base when none is given: ``N(0, 2² I)``, the same broad Gaussian the chain
    driver starts from. It knows nothing of the target; pass a better ``base`` when you have
    one (a Laplace approximation, a fitted Gaussian)."""
    from .driver import INIT_SCALE

    return Gaussian.isotropic(energy.dim, INIT_SCALE**2)


def sigmoid_schedule(n_temps: int, sharpness: float = 4.0) -> torch.Tensor:
    """``n_temps`` inverse temperatures from 0 to 1, dense at both ends (Grosse et al. 2015)."""
    t = torch.linspace(-sharpness, sharpness, n_temps, dtype=torch.float64)
    s = torch.sigmoid(t)
    return (s - s[0]) / (s[-1] - s[0])


class GeometricPath:
    """The particle-engine model of the geometric path, with a fixed schedule of ``β``
    (``betas``) or an adaptive one (``target_cess``: the largest next ``β`` whose conditional
    ESS of the incremental weights is ``≥ target_cess · N``, found by bisection)."""

    t0, t_end = 0.0, 1.0

    def __init__(self, target: Energy, base: Energy, betas: torch.Tensor | None = None,
                 target_cess: float | None = None) -> None:
        if (betas is None) == (target_cess is None):
            raise ValueError("give exactly one of betas (a fixed schedule) and target_cess")
        self.target, self.base = target, base
        self.path = PathEnergy(base, target, 0.0)
        self.betas = None if betas is None else [float(b) for b in betas]
        self.target_cess = target_cess
        self.log_z0 = base.log_z()

    def initial(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.base.sample(n, seed=gen)

    def energy(self, t: float) -> PathEnergy:
        return self.path.at(t)

    @staticmethod
    def _delta(state: State) -> torch.Tensor:
        e0, e1 = state.aux[0], state.aux[1]
        return (e1 - e0).double()

    def log_potential(self, t: float, t_next: float, state: State) -> torch.Tensor:
        return -(t_next - t) * self._delta(state)

    def retarget(self, energy: PathEnergy, state: State) -> tuple[State, int, int]:
        b = energy.beta
        e0, e1 = state.aux[0], state.aux[1]
        e = (1.0 - b) * e0 + b * e1
        g = None
        if state.grad is not None:
            g0, g1 = state.aux[2], state.aux[3]
            g = (1.0 - b) * g0 + b * g1
        return state.replace(energy=e, grad=g), 0, 0

    def next_time(self, t: float, state: State, log_w: torch.Tensor) -> float:
        if self.betas is not None:
            for b in self.betas:
                if b > t:
                    return b
            return 1.0
        delta = self._delta(state)
        w = torch.softmax(log_w, 0)
        n = delta.numel()
        goal = self.target_cess * n

        def cess(b: float) -> float:
            lg = -(b - t) * delta
            g = torch.exp(lg - lg.max())
            return float((w * g).sum() ** 2 / (w * g * g).sum()) * n

        if cess(1.0) >= goal:
            return 1.0
        lo, hi = t, 1.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cess(mid) >= goal else (lo, mid)
        return max(lo, t + 1e-6)


def _kernel(kernel: Kernel | str | None, step_size: float | None) -> Kernel:
    """The kernel object; ``step_size`` (when given) overrides its own. The default kernel
    is ``MALA(step_size=0.1)``."""
    if kernel is None:
        kernel = get("mala", step_size=0.1)
    if isinstance(kernel, str):
        kernel = get(kernel)
    if not isinstance(kernel, Kernel):
        raise ValueError(f"kernel must be a kernel object (e.g. el.samplers.MALA()) or a "
                         f"registered name, got {kernel!r}")
    if step_size is not None and "step_size" in kernel.hyper:
        kernel = kernel.with_params(step_size=check_real("step_size", step_size, gt=0.0))
    return kernel


def ais(energy: Energy, base: Energy | None = None, n_chains: int = 256, n_temps: int = 200,
        kernel: Kernel | str | None = None, step_size: float | None = None,
        n_steps_per_temp: int = 1, target_accept: float = 0.7, tune: bool = True,
        seed: int | None = 0) -> ParticleResult:
    """Annealed importance sampling (Neal 2001): the particle engine on the geometric path
    with the sigmoid schedule of ``n_temps`` inverse temperatures and no resampling.

    Each chain starts from the base; at every new ``β_k`` it adds
    ``-(β_k - β_{k-1}) (E(x) - E₀(x))`` to its log-weight, then takes ``n_steps_per_temp``
    moves of ``kernel`` (``MALA`` by default) that leave ``π_{β_k}`` invariant. With
    ``tune=True`` the step size follows the population's acceptance between temperatures,
    which couples the chains: ``Ẑ`` is then unbiased only approximately; ``tune=False``
    keeps the step fixed and the estimator exactly unbiased. With a ``ULA`` kernel this is the
    Jarzynski-weighted Langevin estimator, exact only as ``ε → 0``.
    ``step_size`` (when given) overrides the kernel's own step.
    """
    n_temps = check_int("n_temps", n_temps, ge=2)
    model = GeometricPath(energy, default_base(energy) if base is None else base,
                          betas=sigmoid_schedule(n_temps))
    return run_particles(model, _kernel(kernel, step_size), check_int("n_chains", n_chains, ge=2),
                         n_mutations=check_int("n_steps_per_temp", n_steps_per_temp, ge=1),
                         ess_threshold=0.0, tune=tune, target_accept=target_accept, seed=seed)


class SMC:
    """Sequential Monte Carlo with adaptive tempering (Del Moral, Doucet & Jasra 2006): the
    particle engine on the geometric path, the next ``β`` chosen so that the conditional
    ESS of the incremental weights is ``target_cess · N``; resampling (``resampling``:
    systematic, multinomial or residual) when the ESS falls below ``resample_threshold · N``;
    ``n_mcmc`` moves of ``kernel`` per step.

    ``log Ẑ = log Z₀ + Σ_k log Σ_i W_i^{k-1} exp(-(β_k - β_{k-1})(E(x_i) - E₀(x_i)))``.
    """

    def __init__(self, kernel: Kernel | str | None = None, n_mcmc: int = 5,
                 target_cess: float = 0.9, resample_threshold: float = 0.5,
                 step_size: float | None = None, target_accept: float = 0.7, tune: bool = True,
                 resampling: str = "systematic", max_steps: int = 1000) -> None:
        self.kernel = _kernel(kernel, step_size)
        self.n_mcmc = check_int("n_mcmc", n_mcmc, ge=1)
        self.target_cess = check_real("target_cess", target_cess, gt=0.0, lt=1.0)
        self.resample_threshold = check_real("resample_threshold", resample_threshold,
                                             ge=0.0, le=1.0)
        self.target_accept = check_real("target_accept", target_accept, gt=0.0, lt=1.0)
        self.tune = bool(tune)
        self.resampling = resampling
        self.max_steps = check_int("max_steps", max_steps, ge=1)

    def run(self, energy: Energy, base: Energy | None = None, n_particles: int = 512,
            seed: int | None = 0, snapshots: int = 0) -> ParticleResult:
        model = GeometricPath(energy, default_base(energy) if base is None else base,
                              target_cess=self.target_cess)
        return run_particles(model, self.kernel, n_particles, n_mutations=self.n_mcmc,
                             resampling=self.resampling, ess_threshold=self.resample_threshold,
                             tune=self.tune, target_accept=self.target_accept,
                             max_steps=self.max_steps, snapshots=snapshots, seed=seed)
