"""Exact noised Gaussian mixtures: the ground truth of every diffusion experiment.

Noising ``x_0 ~ Σ_k w_k N(μ_k, s_k² I)`` by ``x_t = α(t) x_0 + σ(t) ε`` gives again a mixture,
``p_t = Σ_k w_k N(α μ_k, (α² s_k² + σ²) I)``: its log-density, energy ``E(x, t) = -log p_t``
and score ``∇ log p_t`` are exact at every ``t``.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_real, make_generator
from ..energies.gaussian import GaussianMixture
from ..energies.gaussian import _as_tensor as _vector  # float64, finite, names the parameter
from .schedules import Schedule, VPSchedule


def check_mixture(weights, means, stds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated mixture parameters: ``weights (K,)`` > 0 summing to 1, ``means (K,)`` (1-D)
    or ``(K, D)``, ``stds (K,)`` > 0 (isotropic components). Errors name the parameter."""
    w = _vector("weights", weights).reshape(-1)
    m = _vector("means", means)
    s = _vector("stds", stds).reshape(-1)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2:
        raise ValueError(f"means must have shape (K,) or (K, D), got {tuple(m.shape)}")
    k = w.numel()
    if k < 1:
        raise ValueError("weights must hold at least one component")
    if m.shape[0] != k or s.numel() != k:
        raise ValueError(f"weights, means and stds must have the same length (one entry per "
                         f"component), got weights: {k}, means: {m.shape[0]}, stds: {s.numel()}")
    if (w <= 0).any():
        raise ValueError(f"weights must all be > 0, got {w.tolist()}")
    if abs(float(w.sum()) - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to 1, got {w.tolist()} (sum {float(w.sum()):.6g})")
    if (s <= 0).any():
        raise ValueError(f"stds must all be > 0, got {s.tolist()}")
    return w, m, s


class NoisedMixture:
    """``p_0 = Σ_k w_k N(μ_k, s_k² I)`` and its exact noised marginals ``p_t`` under a
    ``schedule`` (``VPSchedule()`` by default).

    ``log_prob(x, t)``, ``energy(x, t)``, ``score(x, t)`` take ``x: (N, D)`` and a float ``t``
    (or a ``(N,)`` tensor of times). ``sample(n, t)`` draws exactly from ``p_t``;
    ``mixture(t)`` is ``p_t`` as a ``GaussianMixture`` energy (plots, mode masses).
    It is a score model: pass it wherever a score function ``s(x, t)`` is expected.
    """

    def __init__(self, weights, means, stds, schedule: Schedule | None = None) -> None:
        w, m, s = check_mixture(weights, means, stds)
        self.weights, self.means, self.stds = w, m, s
        self.dim = m.shape[1]
        self.schedule = VPSchedule() if schedule is None else schedule
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"schedule must be a VPSchedule or VESchedule, got {schedule!r}")
        self._cache: dict = {}

    @classmethod
    def from_energy(cls, energy: GaussianMixture, schedule: Schedule | None = None
                    ) -> NoisedMixture:
        """The noised version of a ``GaussianMixture`` with isotropic components."""
        covs = energy.covs.double()
        d = covs.shape[-1]
        var = torch.diagonal(covs, dim1=-2, dim2=-1)
        if not torch.allclose(covs, torch.diag_embed(var)) or not torch.allclose(
                var, var[:, :1].expand(-1, d)):
            raise ValueError("energy must have isotropic components (covs = s_k² I)")
        return cls(energy.weights.double(), energy.means.double(), var[:, 0].sqrt(), schedule)

    # -- parameters at time t ------------------------------------------------------------
    def params_at(self, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(weights (K,), means (K, D), stds (K,))`` of ``p_t`` (float ``t``)."""
        a, sg = float(self.schedule.alpha(t)), float(self.schedule.sigma(t))
        return self.weights, a * self.means, torch.sqrt(a * a * self.stds**2 + sg * sg)

    def mixture(self, t: float | None = None) -> GaussianMixture:
        """``p_t`` as a ``GaussianMixture`` energy (``t = None``: the clean data ``p_0``)."""
        w, m, s = self.params_at(t) if t is not None else (self.weights, self.means, self.stds)
        return GaussianMixture(w, m, s)

    def _terms(self, x: torch.Tensor, t):
        """Per-component ``logits (K, N)``, ``diff (K, N, D)``, ``var (K, N | 1)``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (N, {self.dim}), got {tuple(x.shape)}")
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            tt = t.reshape(-1).to(torch.float64)
            a = self.schedule.alpha(tt)[None, :]  # (1, N)
            sg = self.schedule.sigma(tt)[None, :]
            var = (a * a * self.stds[:, None] ** 2 + sg * sg).to(x)  # (K, N)
            mean = (a[..., None] * self.means[:, None, :]).to(x)  # (K, N, D)
        else:
            key = (float(t), x.dtype, x.device)
            hit = self._cache.get(key)
            if hit is None:
                w, m, s = self.params_at(float(t))
                hit = (m.to(x)[:, None, :], (s * s).to(x)[:, None],
                       (torch.log(w) - 0.5 * self.dim * torch.log(2 * math.pi * s * s)
                        ).to(x)[:, None])
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = hit
            mean, var, logc = hit
            d = x[None, :, :] - mean
            logits = logc - 0.5 * (d * d).sum(-1) / var
            return logits, d, var
        d = x[None, :, :] - mean
        logc = (torch.log(self.weights).to(x)[:, None]
                - 0.5 * self.dim * torch.log(2 * math.pi * var))
        logits = logc - 0.5 * (d * d).sum(-1) / var
        return logits, d, var

    @staticmethod
    def _softmax0(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        top = logits.amax(0)
        ex = torch.exp((logits - top).clamp_min(-80.0))  # see GaussianMixture._lse
        s = ex.sum(0)
        return top + torch.log(s), ex / s

    def log_prob(self, x: torch.Tensor, t) -> torch.Tensor:
        """``log p_t(x)``: ``(N,)``."""
        return self._softmax0(self._terms(x, t)[0])[0]

    def energy(self, x: torch.Tensor, t) -> torch.Tensor:
        """``E(x, t) = -log p_t(x)`` (normalised: ``∫ e^{-E} dx = 1``)."""
        return -self.log_prob(x, t)

    def score(self, x: torch.Tensor, t) -> torch.Tensor:
        """``∇ₓ log p_t(x) = -Σ_k r_k(x) (x - α μ_k)/(α² s_k² + σ²)``: ``(N, D)``."""
        return self.log_prob_and_score(x, t)[1]

    __call__ = score

    def log_prob_and_score(self, x: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        logits, d, var = self._terms(x, t)
        lp, r = self._softmax0(logits)
        return lp, -((r / var)[..., None] * d).sum(0)

    def responsibilities(self, x: torch.Tensor, t) -> torch.Tensor:
        """``r_k(x) = P(component k | x_t = x)``: ``(N, K)``."""
        return self._softmax0(self._terms(x, t)[0])[1].T

    def denoise(self, x: torch.Tensor, t) -> torch.Tensor:
        """Tweedie's ``E[x_0 | x_t = x] = (x + σ² ∇log p_t(x)) / α``."""
        a, sg = self.schedule.alpha(t), self.schedule.sigma(t)
        return (x + sg * sg * self.score(x, t)) / a

    def sample(self, n: int, t: float | None = None, seed: int | torch.Generator | None = 0
               ) -> torch.Tensor:
        """``n`` exact draws of ``p_t`` (``t = None``: the clean data): ``(n, D)``."""
        gen = make_generator(seed)
        w, m, s = self.params_at(t) if t is not None else (self.weights, self.means, self.stds)
        k = torch.multinomial(w, n, replacement=True, generator=gen)
        z = torch.randn(n, self.dim, generator=gen, dtype=torch.float64)
        return (m[k] + s[k, None] * z).to(torch.get_default_dtype())

    def linear_tilt(self, a) -> NoisedMixture:
        """The exactly tilted data distribution ``p_0(x) e^{aᵀx} / Z`` (a mixture again:
        weights ``∝ w_k exp(aᵀμ_k + ½ s_k² ‖a‖²)``, means ``μ_k + s_k² a``)."""
        a = _vector("a", a).reshape(-1)
        if a.numel() != self.dim:
            raise ValueError(f"a must have {self.dim} entries, got {a.numel()}")
        logw = torch.log(self.weights) + self.means @ a + 0.5 * self.stds**2 * float(a @ a)
        w = torch.softmax(logw, 0)
        return NoisedMixture(w, self.means + self.stds[:, None] ** 2 * a, self.stds,
                             self.schedule)

    def __repr__(self) -> str:
        return (f"NoisedMixture(K={self.weights.numel()}, D={self.dim}, "
                f"schedule={self.schedule!r})")


def grid_density_1d(log_density, lo: float, hi: float, n: int = 4001
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1-D density known up to a constant, normalised on a grid by the trapezoid rule:
    ``log_density: (M, 1) -> (M,)``; returns ``(x (n,), p (n,))`` in float64."""
    lo, hi = check_real("lo", lo), check_real("hi", hi)
    if not hi > lo:
        raise ValueError(f"hi must be > lo, got lo={lo:g}, hi={hi:g}")
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    lp = log_density(x[:, None]).double()
    p = torch.exp(lp - lp.max())
    return x, p / torch.trapezoid(p, x)
