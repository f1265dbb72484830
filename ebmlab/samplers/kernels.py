"""The continuous MCMC kernels, each a short composition of the shared moves.

Conventions (unit mass, target ``p ∝ e^{-E}``):

- RWM:  ``y = x + ε ξ``; accept with ``min(1, e^{E(x) - E(y)})``.
- ULA:  ``x' = x - ε ∇E(x) + √(2εT) ξ`` (unadjusted: bias O(ε); ``T = 1`` is the default
  and the correct one, other ``T`` sample ``e^{-E/T}``).
- MALA: the ULA proposal, accepted with
  ``min(1, e^{E(x) - E(y)} q(x|y)/q(y|x))``, ``q(y|x) = N(y; x - ε∇E(x), 2ε I)``.
- HMC:  ``L`` leapfrog steps of size ε (optionally jittered per chain), momentum ``p ~ N(0, I)``,
  ``H = E(x) + ½‖p‖²``; accept with ``min(1, e^{H₀ - H₁})``; exactly ``L`` gradients a step.
- KineticLangevin: underdamped Langevin ``dx = p dt, dp = -∇E dt - γ p dt + √(2γ) dW`` by
  BAOAB or OBABO splitting (unadjusted: bias O(ε²)); one gradient per step.
"""

from __future__ import annotations

import torch

from ..params import Param
from .kernel import Kernel, register
from .moves import (
    axpy,
    exp,
    langevin_log_q_ratio,
    langevin_proposal,
    leapfrog,
    metropolis,
    noise,
    rowsum,
    sqrt,
    uniform,
)
from .state import Info, State, evaluate

_STEP = Param("step_size", 0.05, 1e-4, 2.0, log=True, doc="step size ε")
_ADAPT = Param("adapt", True, doc="tune ε by dual averaging during warm-up", live=False)


def _target(default: float) -> Param:
    return Param("target_accept", default, 0.05, 0.95, doc="target acceptance in warm-up",
                 live=False)


@register
class RWM(Kernel):
    """Gaussian random-walk Metropolis: ``y = x + ε ξ``; no gradients."""

    name = "rwm"
    uses_grad = False
    adapts = True
    params = (Param("step_size", 0.5, 1e-3, 20.0, log=True, doc="proposal standard deviation"),
              _target(0.3), _ADAPT)

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        y = axpy(state.x, state.step_size, noise(state.x, gen))
        e_y, _, aux = evaluate(energy, y, grad=False)
        prop = state.replace(x=y, energy=e_y, aux=aux)
        return metropolis(state, prop, state.energy - e_y, gen, n_energy=1)


@register
class ULA(Kernel):
    """Unadjusted Langevin: ``x' = x - ε ∇E(x) + √(2εT) ξ`` (``T = 1``: the correct noise).

    ``temperature ≠ 1`` is the "decoupled noise" of image-EBM recipes (noise scale
    ``σ = √(2εT)``): it samples ``e^{-E/T}``, not ``e^{-E}``. ``grad_clip`` caps each chain's
    gradient norm (0: off) and ``bounds`` clamps coordinates; both bias the chain and exist
    for training negatives, where recipes use them."""

    name = "ula"
    params = (_STEP,
              Param("temperature", 1.0, 1e-6, 100.0, log=True,
                    doc="noise temperature T (1 = exact Langevin)"),
              Param("grad_clip", 0.0, 0.0, 1e6, doc="cap on ‖∇E‖ per chain (0 = off)",
                    live=False))

    def __init__(self, bounds: tuple[float, float] | None = None, **hyper) -> None:
        super().__init__(**hyper)
        if bounds is not None:
            lo, hi = (float(b) for b in bounds)
            if not lo < hi:
                raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
            bounds = (lo, hi)
        self.bounds = bounds

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        g = state.grad
        if self.grad_clip > 0:
            norm = torch.linalg.vector_norm(g, dim=-1, keepdim=True).clamp_min(1e-12)
            g = g * (self.grad_clip / norm).clamp(max=1.0)
        x = langevin_proposal(state.x, g, state.step_size, noise(state.x, gen),
                              self.temperature)
        if self.bounds is not None:
            x = x.clamp(*self.bounds)
        e, g, aux = evaluate(energy, x)
        info = Info(accept_prob=torch.ones_like(e), n_grad=1)
        return state.replace(x=x, energy=e, grad=g, aux=aux), info


@register
class MALA(Kernel):
    """Metropolis-adjusted Langevin: the ULA proposal with an MH correction (exact)."""

    name = "mala"
    adapts = True
    params = (_STEP, _target(0.57), _ADAPT)

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        eps, x, g = state.step_size, state.x, state.grad
        xi = noise(x, gen)
        y = langevin_proposal(x, g, eps, xi)
        e_y, g_y, aux = evaluate(energy, y)
        log_alpha = (state.energy - e_y).add_(langevin_log_q_ratio(g, g_y, eps, xi))
        prop = state.replace(x=y, energy=e_y, grad=g_y, aux=aux)
        return metropolis(state, prop, log_alpha, gen, n_grad=1)


@register
class HMC(Kernel):
    """Hamiltonian Monte Carlo with a gradient-reusing leapfrog integrator."""

    name = "hmc"
    adapts = True
    params = (Param("step_size", 0.1, 1e-4, 2.0, log=True, doc="leapfrog step size ε"),
              Param("n_leapfrog", 10, 1, 1000, integer=True, doc="leapfrog steps L"),
              Param("jitter", 0.0, 0.0, 0.9, doc="ε drawn per chain from ε·U(1-j, 1+j)"),
              _target(0.65), _ADAPT)

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        x0 = state.x
        p = noise(x0, gen)
        eps = state.step_size
        if self.jitter > 0:
            u = uniform((x0.shape[0], 1), x0, gen)
            eps = eps * (1.0 + self.jitter * (2.0 * u - 1.0))
        h0 = state.energy + 0.5 * rowsum(p * p)
        x, p, e, g, aux = leapfrog(energy, x0, p, state.grad, eps, self.n_leapfrog)
        err = e + 0.5 * rowsum(p * p) - h0
        prop = state.replace(x=x, energy=e, grad=g, aux=aux)
        return metropolis(state, prop, -err, gen, n_grad=self.n_leapfrog, energy_error=err)

    def leapfrog_path(self, energy, x0: torch.Tensor, p0: torch.Tensor,
                      step_size: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions ``(L+1, N, D)`` and Hamiltonian ``(L+1, N)`` along one trajectory
        (the shared ``leapfrog``, one step at a time, for figures)."""
        eps = float(self.step_size if step_size is None else step_size)
        e, g, _ = evaluate(energy, x0)
        x, p = x0, p0.clone()
        xs, hs = [x0], [e + 0.5 * (p * p).sum(-1)]
        for _ in range(self.n_leapfrog):
            x, p, e, g, _ = leapfrog(energy, x, p, g, eps, 1)
            xs.append(x)
            hs.append(e + 0.5 * (p * p).sum(-1))
        return torch.stack(xs), torch.stack(hs)


@register
class KineticLangevin(Kernel):
    """Underdamped Langevin dynamics, BAOAB or OBABO splitting (unadjusted, one grad/step)."""

    name = "kinetic"
    params = (Param("step_size", 0.1, 1e-4, 2.0, log=True, doc="step size ε"),
              Param("friction", 1.0, 0.01, 50.0, log=True, doc="friction γ"),
              Param("splitting", "BAOAB", choices=("BAOAB", "OBABO"), doc="splitting scheme"))

    def init(self, energy, x: torch.Tensor, gen: torch.Generator) -> State:
        state = super().init(energy, x, gen)
        return state.replace(momentum=noise(state.x, gen))

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        eps = state.step_size
        x, p, g = state.x, state.momentum, state.grad
        if self.splitting == "BAOAB":
            c = exp(-self.friction * eps)
            p = axpy(p, -0.5 * eps, g)
            x = axpy(x, 0.5 * eps, p)
            p = axpy(c * p, sqrt(1.0 - c * c), noise(p, gen))
            x = axpy(x, 0.5 * eps, p)
            e, g, aux = evaluate(energy, x)
            p = axpy(p, -0.5 * eps, g)
        else:  # O B A B O
            c2 = exp(-0.5 * self.friction * eps)
            s2 = sqrt(1.0 - c2 * c2)
            p = axpy(c2 * p, s2, noise(p, gen))
            p = axpy(p, -0.5 * eps, g)
            x = axpy(x, eps, p)
            e, g, aux = evaluate(energy, x)
            p = axpy(p, -0.5 * eps, g)
            p = axpy(c2 * p, s2, noise(p, gen))
        info = Info(accept_prob=torch.ones_like(e), n_grad=1)
        return state.replace(x=x, energy=e, grad=g, momentum=p, aux=aux), info

