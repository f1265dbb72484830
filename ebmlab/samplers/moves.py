"""The pieces kernels are built from, each written once: Gaussian noise, the Langevin
proposal and its log-density ratio, the leapfrog integrator, the Metropolis–Hastings
accept step and dual averaging of the step size.

Step sizes are floats or per-chain tensors ``(N, 1)`` everywhere (parallel tempering runs
one step size per replica).
"""

from __future__ import annotations

import math

import torch

from .state import Info, State, StepSize, evaluate


def rowsum(t: torch.Tensor) -> torch.Tensor:
    """Row sums ``(N, D) -> (N,)`` as a matrix-vector product (faster for short rows)."""
    return t @ t.new_ones(t.shape[1])


def axpy(x: torch.Tensor, a: StepSize, y: torch.Tensor) -> torch.Tensor:
    """``x + a·y`` for a float ``a`` (one fused kernel) or a per-chain tensor ``a: (N, 1)``."""
    return torch.add(x, y, alpha=a) if isinstance(a, float) else x + a * y


def sqrt(a: StepSize) -> StepSize:
    return math.sqrt(a) if isinstance(a, float) else torch.sqrt(a)


def exp(a: StepSize) -> StepSize:
    return math.exp(a) if isinstance(a, float) else torch.exp(a)


def noise(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Standard Gaussian noise shaped, typed and placed like ``x``."""
    return torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)


def uniform(shape: tuple[int, ...], like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen, dtype=like.dtype, device=like.device)


# -- Langevin -----------------------------------------------------------------------------


def langevin_proposal(x: torch.Tensor, grad: torch.Tensor, eps: StepSize, xi: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """``y = x - ε ∇E(x) + √(2εT) ξ``: one Euler–Maruyama step of ``dx = -∇E dt + √(2T) dW``
    (``T = 1`` samples ``e^{-E}``)."""
    scale = 2.0 * eps if temperature == 1.0 else 2.0 * temperature * eps
    return axpy(axpy(x, -eps, grad), sqrt(scale), xi)


def langevin_log_q_ratio(g_x: torch.Tensor, g_y: torch.Tensor, eps: StepSize,
                         xi: torch.Tensor) -> torch.Tensor:
    """``log q(x|y) - log q(y|x)`` for ``q(b|a) = N(b; a - ε∇E(a), 2ε I)`` when
    ``y = x - ε∇E(x) + √(2ε) ξ``: ``(N,)``.

    The forward residual is ``√(2ε) ξ`` (its squared norm over ``4ε`` is ``‖ξ‖²/2``); the
    backward one is ``x - y + ε∇E(y) = ε(∇E(x) + ∇E(y)) - √(2ε) ξ``.
    """
    root = sqrt(2.0 * eps)
    if isinstance(eps, float):
        bwd = torch.add(g_x, g_y).mul_(eps).sub_(xi, alpha=root)
        log_q = torch.mul(xi, xi).mul_(0.5).addcmul_(bwd, bwd, value=-0.25 / eps)
    else:
        bwd = (g_x + g_y) * eps - root * xi
        log_q = 0.5 * xi * xi - bwd * bwd / (4.0 * eps)
    return rowsum(log_q)


# -- Hamiltonian dynamics --------------------------------------------------------------------


def leapfrog(energy, x: torch.Tensor, p: torch.Tensor, grad: torch.Tensor, eps: StepSize,
             n_steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                    tuple | None]:
    """``n_steps`` leapfrog steps of ``H(x, p) = E(x) + ½‖p‖²`` from ``(x, p)`` with
    ``∇E(x) = grad``; the gradient at the end of one step starts the next, so the
    trajectory costs exactly ``n_steps`` gradients. Returns ``(x, p, E, ∇E, aux)`` at the end.

    ``p`` is updated in place when ``eps`` is a float: pass a tensor the caller owns.
    """
    p = torch.sub(p, grad, alpha=0.5 * eps) if isinstance(eps, float) else p - 0.5 * eps * grad
    e = g = aux = None
    for i in range(n_steps):
        x = axpy(x, eps, p)
        e, g, aux = evaluate(energy, x)
        h = eps if i < n_steps - 1 else 0.5 * eps
        if isinstance(h, float):
            p.sub_(g, alpha=h)
        else:
            p = p - h * g
    return x, p, e, g, aux


# -- Metropolis–Hastings ---------------------------------------------------------------------


def metropolis(state: State, proposal: State, log_alpha: torch.Tensor, gen: torch.Generator,
               n_grad: int = 0, n_energy: int = 0,
               energy_error: torch.Tensor | None = None) -> tuple[State, Info]:
    """Accept each chain's proposal with probability ``min(1, e^{log α})``.

    Non-finite ``log α`` (a proposal with non-finite energy) is a rejection and is flagged as
    divergent, as is an energy error above 1000 (HMC); no host synchronisation happens here.
    """
    log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf, posinf=-math.inf)
    diverged = log_alpha == -math.inf
    if energy_error is not None:
        diverged = diverged | (energy_error > 1000.0)
    u = uniform(log_alpha.shape, log_alpha, gen)
    accept = u.log_() < log_alpha
    new = state.where(accept, proposal)
    info = Info(accept_prob=log_alpha.clamp(max=0.0).exp(), n_grad=n_grad, n_energy=n_energy,
                diverged=diverged)
    return new, info


# -- step-size adaptation --------------------------------------------------------------------


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


def feedback_step(step: float, accept: float, target: float, low: float = 1e-4,
                  high: float = 2.0) -> float:
    """Step-size feedback between the targets of a particle run,
    ``ε ← ε · exp(2 (ā - a*))``, clamped to ``[low, high]``. It uses only past moves, so each
    move still leaves its own target invariant, but ``ā`` averages over all particles: the
    particles are no longer independent and the normalising-constant estimate is unbiased only
    approximately. Freeze it (``tune=False``) for the exact guarantee."""
    return float(min(max(step * math.exp(2.0 * (accept - target)), low), high))
