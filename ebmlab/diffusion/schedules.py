"""Noise schedules of the forward (noising) process ``dx = f(t) x dt + g(t) dW``.

Both schedules are linear in ``x``: ``x_t | x_0 ~ N(α(t) x_0, σ(t)² I)``.

- ``VESchedule`` (variance exploding, Song & Ermon): ``f = 0``, ``α = 1``,
  ``σ(t) = σ_min (σ_max/σ_min)^t``, ``g² = dσ²/dt = 2 σ(t)² log(σ_max/σ_min)``.
- ``VPSchedule`` (variance preserving, DDPM as an SDE): ``β(t) = β_min + t (β_max - β_min)``,
  ``f = -β(t)/2``, ``g² = β(t)``, ``α(t) = exp(-½ ∫₀ᵗ β)``, ``σ(t)² = 1 - α(t)²``.

``t`` runs from ``t_min`` (data, up to a little noise) to ``t_max`` (the prior). Times may be
floats or tensors (one per sample, for training). Interval quantities (``g2_integral``,
``f_integral``) are exact, so the reverse-time Euler steps use the exact noise variance of
each interval.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int, check_real


def _exp(v):
    return torch.exp(v) if isinstance(v, torch.Tensor) else math.exp(v)


def _sqrt(v):
    return torch.sqrt(v) if isinstance(v, torch.Tensor) else math.sqrt(v)


def _expm1(v):
    return torch.expm1(v) if isinstance(v, torch.Tensor) else math.expm1(v)


class Schedule:
    """Base: ``alpha(t)``, ``sigma(t)``, ``f(t)`` (drift coefficient), ``g2(t)``, their
    integrals over an interval, the prior at ``t_max`` and time grids."""

    t_min: float
    t_max: float

    def _check_times(self, t_min: float, t_max: float) -> None:
        self.t_max = check_real("t_max", t_max, gt=0.0)
        self.t_min = check_real("t_min", t_min, ge=0.0, lt=self.t_max)

    def alpha(self, t):
        raise NotImplementedError

    def sigma(self, t):
        raise NotImplementedError

    def f(self, t):
        """Drift coefficient: the forward drift is ``f(t) · x``."""
        raise NotImplementedError

    def g2(self, t):
        """Squared diffusion coefficient ``g(t)²``."""
        raise NotImplementedError

    def g2_integral(self, t_from: float, t_to: float) -> float:
        """``∫_{t_to}^{t_from} g(s)² ds`` (``t_from > t_to``: a reverse-time interval)."""
        raise NotImplementedError

    def f_integral(self, t_from: float, t_to: float) -> float:
        """``∫_{t_to}^{t_from} f(s) ds``."""
        raise NotImplementedError

    @property
    def prior_std(self) -> float:
        """Standard deviation of the reference ``N(0, s² I)`` at ``t_max`` (the noised data
        are close to it when the schedule has forgotten the data)."""
        raise NotImplementedError

    def prior(self, n: int, dim: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
        """``n`` draws of ``N(0, (scale · prior_std)² I)``: ``(n, dim)``."""
        n = check_int("n", n, ge=1)
        return torch.randn(n, dim, generator=gen) * (scale * self.prior_std)

    def times(self, n_steps: int, spacing: str = "uniform", power: float = 0.5) -> list[float]:
        """``n_steps + 1`` times from ``t_max`` down to ``t_min``: ``spacing="uniform"`` in
        ``t``, or ``"g2"``: equal shares of ``(∫ g²)^power`` per step (finer where the noise
        changes fast; ``power=1``: equal ``∫ g²``)."""
        n_steps = check_int("n_steps", n_steps, ge=1)
        check_choice("spacing", spacing, ("uniform", "g2"))
        if spacing == "uniform":
            h = (self.t_max - self.t_min) / n_steps
            return [self.t_max - k * h for k in range(n_steps)] + [self.t_min]
        power = check_real("power", power, gt=0.0, le=1.0)
        # invert c(t) = (∫_{t_min}^t g²)^power on a fine grid
        tt = torch.linspace(self.t_min, self.t_max, 20001, dtype=torch.float64)
        c = torch.tensor([self.g2_integral(float(t), self.t_min) for t in tt[::100]],
                         dtype=torch.float64)
        tt_c = tt[::100]
        c = c.clamp_min(0) ** power
        levels = torch.linspace(float(c[-1]), 0.0, n_steps + 1, dtype=torch.float64)
        idx = torch.searchsorted(c, levels).clamp(1, c.numel() - 1)
        lo, hi = c[idx - 1], c[idx]
        frac = ((levels - lo) / (hi - lo).clamp_min(1e-300)).clamp(0, 1)
        out = (tt_c[idx - 1] + frac * (tt_c[idx] - tt_c[idx - 1])).tolist()
        out[0], out[-1] = self.t_max, self.t_min
        return out

    def noise(self, x0: torch.Tensor, t, gen: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward-noise data: ``x_t = α(t) x0 + σ(t) ε``; returns ``(x_t, ε)``. ``t`` a float
        or a ``(N,)`` tensor (one time per row)."""
        eps = torch.randn(x0.shape, generator=gen, dtype=x0.dtype, device=x0.device)
        a, s = self.alpha(t), self.sigma(t)
        if isinstance(t, torch.Tensor):
            a, s = a.reshape(-1, 1).to(x0), s.reshape(-1, 1).to(x0)
        return a * x0 + s * eps, eps


class VESchedule(Schedule):
    """Variance exploding: ``σ(t) = σ_min (σ_max/σ_min)^t``, ``α = 1``, ``f = 0``."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0, t_min: float = 0.0,
                 t_max: float = 1.0) -> None:
        self.sigma_min = check_real("sigma_min", sigma_min, gt=0.0)
        self.sigma_max = check_real("sigma_max", sigma_max, gt=0.0)
        if not self.sigma_max > self.sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min (the noise must grow with t), "
                             f"got sigma_max={self.sigma_max:g} <= sigma_min={self.sigma_min:g}")
        self._check_times(t_min, t_max)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t):
        return self.sigma_min * _exp(self._log_ratio * t)

    def alpha(self, t):
        return torch.ones_like(t) if isinstance(t, torch.Tensor) else 1.0

    def f(self, t):
        return torch.zeros_like(t) if isinstance(t, torch.Tensor) else 0.0

    def g2(self, t):
        return 2.0 * self._log_ratio * self.sigma(t) ** 2

    def g2_integral(self, t_from: float, t_to: float) -> float:
        return self.sigma(t_from) ** 2 - self.sigma(t_to) ** 2

    def f_integral(self, t_from: float, t_to: float) -> float:
        return 0.0

    @property
    def prior_std(self) -> float:
        return self.sigma(self.t_max)

    def __repr__(self) -> str:
        return f"VESchedule(sigma_min={self.sigma_min:g}, sigma_max={self.sigma_max:g})"


class VPSchedule(Schedule):
    """Variance preserving: ``β(t) = β_min + t (β_max - β_min)``, ``f = -β/2``, ``g² = β``."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3,
                 t_max: float = 1.0) -> None:
        self.beta_min = check_real("beta_min", beta_min, gt=0.0)
        self.beta_max = check_real("beta_max", beta_max, gt=0.0)
        if not self.beta_max > self.beta_min:
            raise ValueError(f"beta_max must be > beta_min (the noise rate must grow with t), "
                             f"got beta_max={self.beta_max:g} <= beta_min={self.beta_min:g}")
        self._check_times(t_min, t_max)

    def _int_beta(self, t):  # ∫₀ᵗ β
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def beta(self, t):
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def alpha(self, t):
        return _exp(-0.5 * self._int_beta(t))

    def sigma(self, t):
        return _sqrt(-_expm1(-self._int_beta(t)))

    def f(self, t):
        return -0.5 * self.beta(t)

    def g2(self, t):
        return self.beta(t)

    def g2_integral(self, t_from: float, t_to: float) -> float:
        return self._int_beta(t_from) - self._int_beta(t_to)

    def f_integral(self, t_from: float, t_to: float) -> float:
        return -0.5 * self.g2_integral(t_from, t_to)

    @property
    def prior_std(self) -> float:
        return 1.0

    def __repr__(self) -> str:
        return f"VPSchedule(beta_min={self.beta_min:g}, beta_max={self.beta_max:g})"


def check_noise_levels(name: str, sigmas) -> torch.Tensor:
    """``sigmas`` as a float64 tensor that strictly decreases and stays > 0 (annealed
    Langevin goes from the largest noise to the smallest), else ``ValueError`` naming it."""
    s = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if s.numel() < 1 or not torch.isfinite(s).all() or (s <= 0).any():
        raise ValueError(f"{name} must be finite noise levels > 0, got {s.tolist()}")
    if s.numel() > 1 and not (s[1:] < s[:-1]).all():
        raise ValueError(f"{name} must strictly decrease (largest noise first), got {s.tolist()}")
    return s
