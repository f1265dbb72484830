"""Gaussian energies: ``E(x) = ½ (x-μ)ᵀ Σ⁻¹ (x-μ)`` and mixtures of them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import check_int, check_real
from .base import LOG_2PI, Box, Energy, Param, register

# Grid numerics trust ``mean ± 6 sd`` per axis: by a union bound over the two axes the mass
# outside is below 4 Φ(-6) ≈ 4e-9 (at temperature T the sd is scaled by √T).
_DOMAIN_SDS = 6.0


def _as_tensor(name: str, value: object) -> torch.Tensor:
    """Parameters are stored in float64 (exact reference values); ``_p`` casts them to the
    input's dtype once and caches the cast."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be array-like numbers, got {value!r}") from err
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return t


def _check_spd(name: str, cov: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of ``cov``, or ``ValueError`` if it is not symmetric positive definite."""
    if not torch.allclose(cov, cov.transpose(-1, -2), rtol=1e-5, atol=1e-8):
        raise ValueError(f"{name} must be symmetric, got {cov.tolist()}")
    chol, info = torch.linalg.cholesky_ex(cov.double())
    if (info != 0).any():
        eig = torch.linalg.eigvalsh(cov.double()).min().item()
        raise ValueError(
            f"{name} must be positive definite, got smallest eigenvalue {eig:.3g}"
        )
    return chol


class Gaussian(Energy):
    """``E(x) = ½ (x-μ)ᵀ Σ⁻¹ (x-μ) + c``; ``log Z_T = D/2 log 2πT + ½ log det Σ - c/T``.

    ``mean: (D,)``, ``cov: (D, D)`` symmetric positive definite, ``offset`` the constant
    ``c`` (0 by default; products of Gaussians carry one); ``x: (N, D) -> (N,)``.
    ``G1 + G2`` is again a ``Gaussian`` (precisions add), with an exact ``log Z`` and sampler.
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, mean: Sequence[float] | torch.Tensor, cov: Sequence | torch.Tensor,
                 offset: float = 0.0) -> None:
        mean_t = _as_tensor("mean", mean)
        if mean_t.ndim != 1 or mean_t.numel() < 1:
            raise ValueError(f"mean must be a vector of shape (D,), "
                             f"got shape {tuple(mean_t.shape)}")
        d = mean_t.numel()
        cov_t = _as_tensor("cov", cov)
        if cov_t.shape != (d, d):
            raise ValueError(f"cov must have shape ({d}, {d}) to match mean, "
                             f"got {tuple(cov_t.shape)}")
        chol = _check_spd("cov", cov_t)
        self.offset = check_real("offset", offset)
        super().__init__(d)
        self.register_buffer("mean", mean_t)
        self.register_buffer("cov", cov_t)
        self.register_buffer("chol", chol)
        self.register_buffer("precision", torch.cholesky_inverse(chol))
        self._logdet = float(2.0 * torch.log(torch.diagonal(chol)).sum())
        self._zero_mean = bool((mean_t == 0).all())  # skip x - μ on the hot path

    @classmethod
    def isotropic(cls, dim: int, std: float = 1.0, mean: Sequence[float] | None = None) -> Gaussian:
        """``N(mean, std² I)`` in ``dim`` dimensions (mean 0 by default)."""
        dim = check_int("dim", dim, ge=1)
        std = check_real("std", std, gt=0.0)
        m = torch.zeros(dim) if mean is None else _as_tensor("mean", mean)
        return cls(m, torch.eye(dim) * std**2)

    @staticmethod
    def _product_params(experts) -> tuple[torch.Tensor, torch.Tensor, float]:
        prec = sum(e.precision.double() for e in experts)
        lin = sum(e.precision.double() @ e.mean.double() for e in experts)
        cov = torch.linalg.inv(prec)
        cov = 0.5 * (cov + cov.T)
        mean = cov @ lin
        const = sum(
            e.offset + 0.5 * float(e.mean.double() @ e.precision.double() @ e.mean.double())
            for e in experts
        ) - 0.5 * float(mean @ prec @ mean)
        return mean, cov, const

    @classmethod
    def product(cls, *experts: Gaussian) -> tuple[Gaussian, float]:
        """``Σ_i E_i(x) = E_g(x) + c``: precisions add, ``μ = P⁻¹ Σ P_i μ_i``; returns ``(g, c)``
        with ``g`` offset-free and ``c = Σ_i (c_i + ½ μ_iᵀ P_i μ_i) - ½ μᵀ P μ``. (``G1 + G2``
        gives the same as one energy, ``Gaussian(μ, Σ, offset=c)``.)"""
        mean, cov, const = cls._product_params(experts)
        return cls(mean, cov), const

    def _combine(self, other: Energy) -> Energy | None:
        if not isinstance(other, Gaussian):
            return None
        mean, cov, const = Gaussian._product_params((self, other))
        return Gaussian(mean, cov, offset=const)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        d = x if self._zero_mean else x - self._p("mean", x)
        e = 0.5 * ((d @ self._p("precision", x)) * d).sum(-1)
        return e + self.offset if self.offset else e

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        d = x if self._zero_mean else x - self._p("mean", x)
        return d @ self._p("precision", x)

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = x if self._zero_mean else x - self._p("mean", x)
        g = d @ self._p("precision", x)  # one matrix product serves both
        e = 0.5 * (g * d).sum(-1)
        return (e + self.offset if self.offset else e), g

    def _log_z_at(self, temperature: float) -> float:
        return (0.5 * self.dim * (LOG_2PI + math.log(temperature)) + 0.5 * self._logdet
                - self.offset / temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.dim, generator=gen, dtype=self.mean.dtype, device=self.mean.device)
        x = self.mean + math.sqrt(temperature) * z @ self.chol.T
        return x.to(torch.get_default_dtype())

    def modes(self) -> torch.Tensor:
        return self.mean.detach().double()[None].clone()

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        return torch.ones(1, dtype=torch.float64)

    def _view(self, sds: float) -> Box:
        sd = (sds * torch.sqrt(torch.diagonal(self.cov))).tolist()
        m = self.mean.tolist()
        if self.dim == 1:
            return (m[0] - sd[0], m[0] + sd[0], 0.0, 1.0)
        return (m[0] - sd[0], m[0] + sd[0], m[1] - sd[1], m[1] + sd[1])

    @property
    def box(self) -> Box:
        return self._box if self._box is not None else self._view(4.5)

    def _domain_at(self, temperature: float) -> Box:
        return self._view(_DOMAIN_SDS * math.sqrt(temperature))

    def extra_repr(self) -> str:
        return f"dim={self.dim}" + (f", offset={self.offset:g}" if self.offset else "")


class GaussianMixture(Energy):
    """``E(x) = -log Σ_k w_k N(x; μ_k, Σ_k)``: a normalised density, so ``log Z = 0``.

    ``weights: (K,)`` positive (normalised here), ``means: (K, D)``, ``covs``: ``(K, D, D)``,
    or ``(K,)`` / a float for isotropic standard deviations. ``x: (N, D) -> (N,)``.
    Exact ``log Z`` and samples at ``T = 1`` only; ``modes()`` are the component means
    (the minima up to the overlap between components) and ``mode_weights()`` the weights.
    """

    exact_log_z = True
    exact_sampler = True
    analytic_grad = True

    def __init__(self, weights, means, covs) -> None:
        means_t = _as_tensor("means", means)
        if means_t.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means_t.shape)}")
        k, d = means_t.shape
        w = _as_tensor("weights", weights)
        if w.shape != (k,):
            raise ValueError(f"weights must have shape ({k},) to match means, got {tuple(w.shape)}")
        if (w <= 0).any():
            raise ValueError(f"weights must all be > 0, got {w.tolist()}")
        c = _as_tensor("covs", covs)
        if c.ndim == 0:
            c = c.expand(k)
        if c.ndim == 1:
            if c.shape != (k,) or (c <= 0).any():
                raise ValueError(f"covs given as standard deviations must be {k} values > 0, "
                                 f"got {c.tolist()}")
            self_iso = c.clone()
            c = torch.eye(d) * (c**2)[:, None, None]
        else:
            self_iso = None
            if c.shape != (k, d, d):
                raise ValueError(f"covs must have shape ({k}, {d}, {d}), got {tuple(c.shape)}")
        chol = torch.stack([_check_spd(f"covs[{i}]", c[i]) for i in range(k)])
        super().__init__(d)
        w = w / w.sum()
        self.register_buffer("weights", w)
        self.register_buffer("means", means_t)
        self.register_buffer("covs", c)
        self.register_buffer("chol", chol)
        self.register_buffer("precisions", torch.cholesky_inverse(chol))
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        self.register_buffer("log_coef", torch.log(w) - 0.5 * logdet - 0.5 * d * LOG_2PI)
        self.register_buffer("inv_var", None if self_iso is None else 1.0 / self_iso**2)
        self._isotropic = self_iso is not None  # a plain bool: buffer reads cost ~1 µs a step
        if self_iso is not None:
            # Isotropic fast path: ‖x-μ_k‖² = ‖x‖² - 2x·μ_k + ‖μ_k‖², so the logits are one
            # matrix product, computed with the chain axis last (softmax over the short mode
            # axis is ~10x slower when it is the contiguous one).
            iv = self.inv_var
            self.register_buffer("scaled_means", means_t * iv[:, None])  # (K, D)
            self.register_buffer("logit_bias", self.log_coef - 0.5 * iv * (means_t**2).sum(1))
        # With one shared variance the ‖x‖²/2σ² term is the same for every mode: it leaves the
        # softmax and ∇E = (x - Σ_k r_k μ_k)/σ², saving several kernel launches per call.
        self._shared_iv = (float(self_iso[0]) ** -2 if self_iso is not None
                           and bool((self_iso == self_iso[0]).all()) else None)

    # -- constructors ---------------------------------------------------------------
    @classmethod
    def ring(cls, n_modes: int = 8, radius: float = 4.0, std: float = 0.5,
             weights: Sequence[float] | None = None) -> GaussianMixture:
        """``n_modes`` equal isotropic modes evenly spaced on a circle of ``radius``."""
        n_modes = check_int("n_modes", n_modes, ge=1)
        radius = check_real("radius", radius, ge=0.0)
        std = check_real("std", std, gt=0.0)
        ang = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
        means = radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
        w = torch.ones(n_modes) if weights is None else weights
        return cls(w, means, torch.full((n_modes,), std))

    @classmethod
    def grid(cls, n_per_side: int = 3, spacing: float = 3.0, std: float = 0.5) -> GaussianMixture:
        """``n_per_side²`` equal isotropic modes on a square grid centred at 0."""
        n_per_side = check_int("n_per_side", n_per_side, ge=1)
        spacing = check_real("spacing", spacing, gt=0.0)
        std = check_real("std", std, gt=0.0)
        c = (torch.arange(n_per_side) - (n_per_side - 1) / 2) * spacing
        gx, gy = torch.meshgrid(c, c, indexing="xy")
        means = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
        k = n_per_side**2
        return cls(torch.ones(k), means, torch.full((k,), std))

    # -- energy -------------------------------------------------------------------
    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = x[:, None, :] - self._p("means", x)  # (N, K, D)
        if self._isotropic:
            pd = d * self._p("inv_var", x)[None, :, None]
        else:
            pd = torch.einsum("kde,nke->nkd", self._p("precisions", x), d)
        logits = self._p("log_coef", x) - 0.5 * (pd * d).sum(-1)  # (N, K)
        return logits, pd

    @staticmethod
    def _lse(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # exp of arguments below ~-87 hits denormals (28x slower on CPU): clamp at -80,
        # which changes the sum by less than K e^-80.
        top = logits.max(-1, keepdim=True).values
        ex = torch.exp((logits - top).clamp_min(-80.0))
        s = ex.sum(-1, keepdim=True)
        return (top + torch.log(s)).squeeze(-1), ex / s

    def _iso(self, x: torch.Tensor, grad: bool):
        """Isotropic modes, chains last: logits ``(K, N)``; returns ``E (N,)`` and ``∇E``."""
        if self._shared_iv is not None:
            return self._shared(x, grad)
        iv = self._p("inv_var", x)
        logits = torch.addmm(self._p("logit_bias", x)[:, None], self._p("scaled_means", x), x.T)
        logits = logits - 0.5 * iv[:, None] * (x * x).sum(-1)[None, :]
        top = logits.max(0, keepdim=True).values
        ex = torch.exp((logits - top).clamp_min_(-80.0))  # see _lse on the clamp
        s = ex.sum(0, keepdim=True)
        e = -(top + torch.log(s)).squeeze(0)
        if not grad:
            return e, None
        r = ex.div_(s)  # responsibilities (K, N)
        # ∇E = Σ_k r_k (x - μ_k)/σ_k² = x (Σ_k r_k/σ_k²) - Σ_k r_k μ_k/σ_k²
        g = torch.addmm(x * (iv @ r)[:, None], r.T, self._p("scaled_means", x), alpha=-1.0)
        return e, g

    def _shared(self, x: torch.Tensor, grad: bool):
        iv = self._shared_iv
        sm = self._p("scaled_means", x)
        logits = torch.addmm(self._p("logit_bias", x)[:, None], sm, x.T)  # (K, N)
        top = logits.amax(0)
        ex = torch.exp((logits - top).clamp_min_(-80.0))
        s = ex.sum(0)
        # (x * x).sum(-1) as a matrix-vector product: a reduction over a short, strided last
        # axis is several times slower on CPU.
        e = (0.5 * iv) * ((x * x) @ x.new_ones(x.shape[1])) - top - torch.log(s)
        if not grad:
            return e, None
        # ∇E = x/σ² - Σ_k r_k μ_k/σ², computed as (D, K) @ (K, N): the long axis stays last.
        return e, (x * iv).sub_((sm.T @ ex.div_(s)).T)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        if self._isotropic:
            return self._iso(x, False)[0]
        return -self._lse(self._logits(x)[0])[0]

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        if self._isotropic:
            return self._iso(x, True)[1]
        logits, pd = self._logits(x)
        resp = self._lse(logits)[1]
        return (resp[..., None] * pd).sum(1)

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._isotropic:
            return self._iso(x, True)
        logits, pd = self._logits(x)
        lse, resp = self._lse(logits)
        return -lse, (resp[..., None] * pd).sum(1)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mode probabilities ``r_k(x) = w_k N_k(x) / Σ_j w_j N_j(x)``: ``(N, K)``."""
        self._validate(x)
        return self._lse(self._logits(x)[0])[1]

    def _log_z_at(self, temperature: float) -> float:
        if temperature == 1.0:
            return 0.0
        return super()._log_z_at(temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        if temperature != 1.0:
            return super()._sample_at(n, temperature, gen)
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=gen)
        k = k.to(self.means.device)
        z = torch.randn(n, self.dim, generator=gen, dtype=self.means.dtype,
                        device=self.means.device)
        x = self.means[k] + torch.einsum("nde,ne->nd", self.chol[k], z)
        return x.to(torch.get_default_dtype())

    @property
    def mean(self) -> torch.Tensor:
        return (self.weights[:, None] * self.means).sum(0)

    @property
    def covariance(self) -> torch.Tensor:
        m = self.mean
        second = (self.weights[:, None, None]
                  * (self.covs + self.means[:, :, None] * self.means[:, None, :])).sum(0)
        return second - m[:, None] * m[None, :]

    def modes(self) -> torch.Tensor:
        return self.means.detach().double().clone()

    def _mode_weights_at(self, temperature: float) -> torch.Tensor | None:
        return self.weights.detach().double().clone() if temperature == 1.0 else None

    def _view(self, sds: float) -> Box:
        sd = torch.sqrt(torch.diagonal(self.covs, dim1=-2, dim2=-1))  # (K, D)
        lo = (self.means - sds * sd).min(0).values.tolist()
        hi = (self.means + sds * sd).max(0).values.tolist()
        if self.dim == 1:
            return (lo[0], hi[0], 0.0, 1.0)
        return (lo[0], hi[0], lo[1], hi[1])

    @property
    def box(self) -> Box:
        return self._box if self._box is not None else self._view(4.5)

    def _domain_at(self, temperature: float) -> Box:
        # Every component's mean ± 6 sd (mass outside < 4e-9 at T = 1); at other T the
        # tempered mixture's tails are those of its components' with sd·√T.
        return self._view(_DOMAIN_SDS * math.sqrt(temperature))


# -- registered 2-D landscapes ---------------------------------------------------------


@register("gaussian", (
    Param("sigma_x", 1.0, 0.2, 3.0, doc="standard deviation along x"),
    Param("sigma_y", 1.0, 0.2, 3.0, doc="standard deviation along y"),
    Param("rho", 0.0, -0.95, 0.95, doc="correlation"),
), doc="Correlated 2-D Gaussian.")
def _gaussian(sigma_x: float, sigma_y: float, rho: float) -> Gaussian:
    c = rho * sigma_x * sigma_y
    return Gaussian(torch.zeros(2), torch.tensor([[sigma_x**2, c], [c, sigma_y**2]]))


@register("ring", (
    Param("n_modes", 8, 2, 16, integer=True, doc="number of modes"),
    Param("radius", 4.0, 1.0, 6.0, doc="ring radius"),
    Param("std", 0.5, 0.1, 2.0, doc="standard deviation of each mode"),
), doc="Equal Gaussian modes on a circle.", tags=("multimodal",))
def _ring(n_modes: int, radius: float, std: float) -> GaussianMixture:
    return GaussianMixture.ring(n_modes, radius, std)


@register("grid", (
    Param("n_per_side", 3, 2, 5, integer=True, doc="modes per side"),
    Param("spacing", 3.0, 1.0, 5.0, doc="distance between neighbouring modes"),
    Param("std", 0.5, 0.1, 2.0, doc="standard deviation of each mode"),
), doc="Equal Gaussian modes on a square grid.", tags=("multimodal",))
def _grid(n_per_side: int, spacing: float, std: float) -> GaussianMixture:
    return GaussianMixture.grid(n_per_side, spacing, std)


@register("bimodal", (
    Param("separation", 6.0, 0.0, 10.0, doc="distance between the two modes"),
    Param("weight", 0.7, 0.05, 0.95, doc="weight of the left mode"),
    Param("std", 0.7, 0.2, 2.0, doc="standard deviation of each mode"),
), doc="Two Gaussian modes with unequal weights.", tags=("multimodal",))
def _bimodal(separation: float, weight: float, std: float) -> GaussianMixture:
    h = separation / 2
    return GaussianMixture([weight, 1.0 - weight], [[-h, 0.0], [h, 0.0]], [std, std])
