"""The MCMC kernels: one ``step`` each, batched over chains, state in, state out.

Conventions (unit mass, target ``p ∝ e^{-E}``):

- RWM:  ``y = x + ε ξ``; accept with ``min(1, e^{E(x) - E(y)})``.
- ULA:  ``x' = x - ε ∇E(x) + √(2ε) ξ`` (unadjusted: bias O(ε)).
- MALA: the ULA proposal, accepted with
  ``min(1, e^{E(x) - E(y)} q(x|y)/q(y|x))``, ``q(y|x) = N(y; x - ε∇E(x), 2ε I)``.
- HMC:  ``L`` leapfrog steps of size ε (optionally jittered per chain), momentum ``p ~ N(0, I)``,
  ``H = E(x) + ½‖p‖²``; accept with ``min(1, e^{H₀ - H₁})``. The gradient at the end of one
  leapfrog step is reused at the start of the next: exactly ``L`` gradients per transition.
- KineticLangevin: underdamped Langevin ``dx = p dt, dp = -∇E dt - γ p dt + √(2γ) dW`` by
  BAOAB or OBABO splitting (unadjusted: bias O(ε²)); one gradient per step.
"""

from __future__ import annotations

import math

import torch

from ..energies.base import Energy, Param
from .base import Sampler, State, register


def _rowsum(t: torch.Tensor) -> torch.Tensor:
    """Row sums ``(N, D) -> (N,)`` as a matrix-vector product (faster for short rows)."""
    return t @ t.new_ones(t.shape[1])


def _axpy(x: torch.Tensor, a, y: torch.Tensor) -> torch.Tensor:
    """``x + a·y`` for a float ``a`` (one fused kernel) or a per-chain tensor ``a: (N, 1)``."""
    return torch.add(x, y, alpha=a) if isinstance(a, float) else x + a * y


def _sqrt(a):
    return math.sqrt(a) if isinstance(a, float) else torch.sqrt(a)


_STEP = Param("step_size", 0.05, 1e-4, 2.0, log=True, doc="step size ε")
_ADAPT = Param("adapt", 1, 0, 1, integer=True, doc="adapt ε during warm-up (1) or not (0)")


@register
class RWM(Sampler):
    """Gaussian random-walk Metropolis: ``y = x + ε ξ``; no gradients."""

    name = "rwm"
    uses_grad = False
    adapts = True
    params = (Param("step_size", 0.5, 1e-3, 20.0, log=True, doc="proposal standard deviation"),
              Param("target_accept", 0.3, 0.05, 0.95, doc="target acceptance in warm-up"),
              _ADAPT)

    def step(self, energy: Energy, state: State) -> State:
        y = _axpy(state.x, state.step_size, self._noise(state))
        e_y = energy(y)
        return self._mh(state, state.energy - e_y, y, e_y, None, 0)


@register
class ULA(Sampler):
    """Unadjusted Langevin: ``x' = x - ε ∇E(x) + √(2ε) ξ``."""

    name = "ula"
    params = (_STEP,)

    def step(self, energy: Energy, state: State) -> State:
        eps = state.step_size  # a float, or per-chain (N, 1) (parallel tempering)
        x = _axpy(_axpy(state.x, -eps, state.grad), _sqrt(2.0 * eps), self._noise(state))
        e, g = energy.value_and_grad(x)
        return state.replace(x=x, energy=e, grad=g, n_grad=state.n_grad + 1)


@register
class MALA(Sampler):
    """Metropolis-adjusted Langevin: the ULA proposal with an MH correction (exact)."""

    name = "mala"
    adapts = True
    params = (_STEP, Param("target_accept", 0.57, 0.05, 0.95, doc="target acceptance in warm-up"),
              _ADAPT)

    def step(self, energy: Energy, state: State) -> State:
        eps = state.step_size
        x, g = state.x, state.grad
        xi = self._noise(state)
        root = _sqrt(2.0 * eps)
        y = _axpy(_axpy(x, -eps, g), root, xi)
        e_y, g_y = energy.value_and_grad(y)
        # log q(x|y) - log q(y|x), q(b|a) = N(b; a - ε∇E(a), 2ε I). The forward residual
        # y - x + ε∇E(x) is √(2ε) ξ (squared norm over 4ε: ‖ξ‖²/2); the backward one is
        # x - y + ε∇E(y) = ε(∇E(x) + ∇E(y)) - √(2ε) ξ.
        if isinstance(eps, float):
            bwd = torch.add(g, g_y).mul_(eps).sub_(xi, alpha=root)
            log_q = torch.mul(xi, xi).mul_(0.5).addcmul_(bwd, bwd, value=-0.25 / eps)
        else:
            bwd = (g + g_y) * eps - root * xi
            log_q = 0.5 * xi * xi - bwd * bwd / (4.0 * eps)
        log_q = _rowsum(log_q)
        return self._mh(state, (state.energy - e_y).add_(log_q), y, e_y, g_y, 1)


@register
class HMC(Sampler):
    """Hamiltonian Monte Carlo with a gradient-reusing leapfrog integrator."""

    name = "hmc"
    adapts = True
    params = (Param("step_size", 0.1, 1e-4, 2.0, log=True, doc="leapfrog step size ε"),
              Param("n_leapfrog", 10, 1, 1000, integer=True, doc="leapfrog steps L"),
              Param("jitter", 0.0, 0.0, 0.9, doc="ε drawn per chain from ε·U(1-j, 1+j)"),
              Param("target_accept", 0.65, 0.05, 0.95, doc="target acceptance in warm-up"),
              _ADAPT)

    def step(self, energy: Energy, state: State) -> State:
        x0, e0, g = state.x, state.energy, state.grad
        p = self._noise(state)
        if self.jitter > 0:
            u = torch.rand((x0.shape[0], 1), generator=state.gen, dtype=x0.dtype,
                           device=x0.device)
            eps = state.step_size * (1.0 + self.jitter * (2.0 * u - 1.0))
        else:
            eps = state.step_size
        h0 = e0 + 0.5 * _rowsum(p * p)
        x = x0
        p = torch.sub(p, g, alpha=0.5 * eps) if isinstance(eps, float) else p - 0.5 * eps * g
        for i in range(self.n_leapfrog):
            x = torch.add(x, p, alpha=eps) if isinstance(eps, float) else x + eps * p
            e, g = energy.value_and_grad(x)
            h = eps if i < self.n_leapfrog - 1 else 0.5 * eps
            if isinstance(h, float):
                p.sub_(g, alpha=h)  # p is a fresh tensor of this step: safe in place
            else:
                p = p - h * g
        h1 = e + 0.5 * _rowsum(p * p)
        err = h1 - h0
        return self._mh(state, -err, x, e, g, self.n_leapfrog, energy_error=err)

    def leapfrog_path(self, energy: Energy, x0: torch.Tensor, p0: torch.Tensor,
                      step_size: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions ``(L+1, N, D)`` and Hamiltonian ``(L+1, N)`` along one trajectory."""
        eps = self.step_size if step_size is None else step_size
        e, g = energy.value_and_grad(x0)
        x, p = x0, p0
        xs, hs = [x0], [e + 0.5 * (p * p).sum(-1)]
        for _ in range(self.n_leapfrog):
            p = p - 0.5 * eps * g
            x = x + eps * p
            e, g = energy.value_and_grad(x)
            p = p - 0.5 * eps * g
            xs.append(x)
            hs.append(e + 0.5 * (p * p).sum(-1))
        return torch.stack(xs), torch.stack(hs)


@register
class KineticLangevin(Sampler):
    """Underdamped Langevin dynamics, BAOAB or OBABO splitting (unadjusted, one grad/step)."""

    name = "kinetic"
    params = (Param("step_size", 0.1, 1e-4, 2.0, log=True, doc="step size ε"),
              Param("friction", 1.0, 0.01, 50.0, log=True, doc="friction γ"),
              Param("splitting", 0, 0, 1, integer=True, doc="0 = BAOAB, 1 = OBABO"))

    def _init_extra(self, energy: Energy, state: State) -> State:
        return state.replace(momentum=self._noise(state))

    def step(self, energy: Energy, state: State) -> State:
        eps = state.step_size
        c = math.exp(-self.friction * eps)
        x, p, g = state.x, state.momentum, state.grad
        if self.splitting == 0:  # B A O A B
            p = p - 0.5 * eps * g
            x = x + 0.5 * eps * p
            p = c * p + math.sqrt(1.0 - c * c) * self._noise(state)
            x = x + 0.5 * eps * p
            e, g = energy.value_and_grad(x)
            p = p - 0.5 * eps * g
        else:  # O B A B O
            c2 = math.exp(-0.5 * self.friction * eps)
            s2 = math.sqrt(1.0 - c2 * c2)
            p = c2 * p + s2 * self._noise(state)
            p = p - 0.5 * eps * g
            x = x + eps * p
            e, g = energy.value_and_grad(x)
            p = p - 0.5 * eps * g
            p = c2 * p + s2 * self._noise(state)
        return state.replace(x=x, energy=e, grad=g, momentum=p, n_grad=state.n_grad + 1)
