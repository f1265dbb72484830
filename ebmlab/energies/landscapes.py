"""Analytic test landscapes, each with an analytic gradient and, where it exists, an exact
``log Z_T`` and an exact sampler at every temperature ``T``.

Each declares its capabilities on the class and derives its numerical ``domain`` from its
parameters so that the probability outside it is negligible (bounds in each ``_domain_at``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from .._checks import check_int, check_real
from . import _onedim
from .base import LOG_2PI, Box, Energy, Param, register


def _gauss(n: int, d: int, gen: torch.Generator, ref: torch.Tensor) -> torch.Tensor:
    return torch.randn(n, d, generator=gen, dtype=torch.float64).to(ref.dtype)


class DoubleWell(Energy):
    """``E(x) = h (x₁² - 1)² + t x₁ [+ x₂² / 2]`` in 1-D or 2-D.

    ``h`` is the barrier height (``E(0) - E(±1)`` at ``t = 0``), ``t`` tilts the wells.
    ``log Z_T`` by 1-D adaptive quadrature (exact to ~1e-12) times a Gaussian factor;
    exact samples by rejection from a piecewise-constant envelope. ``modes()`` are the local
    minima (two, or one when the tilt beats the barrier); ``mode_weights()`` the exact mass
    on each side of the barrier top.
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, barrier: float = 3.0, tilt: float = 0.0, dim: int = 2) -> None:
        self.barrier = check_real("barrier", barrier, gt=0.0)
        self.tilt = check_real("tilt", tilt)
        dim = check_int("dim", dim, ge=1, le=2)
        super().__init__(dim)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        x1 = x[:, 0]
        e = self.barrier * (x1 * x1 - 1.0) ** 2 + self.tilt * x1
        if self.dim == 2:
            e = e + 0.5 * x[:, 1] ** 2
        return e

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        x1 = x[:, 0]
        g1 = 4.0 * self.barrier * x1 * (x1 * x1 - 1.0) + self.tilt
        if self.dim == 1:
            return g1[:, None]
        return torch.stack([g1, x[:, 1]], 1)

    def _log_f(self, temperature: float):
        h, t = self.barrier, self.tilt
        return lambda x: -(h * (x * x - 1.0) ** 2 + t * x) / temperature

    def critical_points(self) -> list[float]:
        """Stationary points of the x₁ energy: real roots of ``4h x³ - 4h x + t``."""
        roots = np.roots([4 * self.barrier, 0.0, -4 * self.barrier, self.tilt])
        return sorted(float(r.real) for r in roots if abs(r.imag) < 1e-9)

    def _support(self, temperature: float):
        return _onedim.support(self._log_f(temperature), self.critical_points(), 1.0)

    def _log_z_at(self, temperature: float) -> float:
        lo, hi, top = self._support(temperature)
        lz = _onedim.log_integral(self._log_f(temperature), lo, hi, top, self.critical_points())
        if self.dim == 2:
            lz += 0.5 * (LOG_2PI + math.log(temperature))
        return lz

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        lo, hi, _ = self._support(temperature)
        x1 = _onedim.rejection_sample(self._log_f(temperature), lo, hi, self.critical_points(),
                                      n, gen)
        x1 = torch.from_numpy(x1)[:, None]
        if self.dim == 2:
            x1 = torch.cat([x1, math.sqrt(temperature) * torch.randn(n, 1, generator=gen,
                                                                     dtype=torch.float64)], 1)
        return x1.to(torch.get_default_dtype())

    def well_mass(self, temperature: float = 1.0) -> tuple[float, float]:
        """Exact probability of the left (``x₁ < 0``) and right well at temperature ``T``.

        Split at ``x₁ = 0``; ``mode_weights()`` splits at the barrier top instead (the same
        point when ``t = 0``)."""
        lo, hi, top = self._support(temperature)
        f = self._log_f(temperature)
        left = _onedim.log_integral(f, lo, 0.0, top, self.critical_points())
        right = _onedim.log_integral(f, 0.0, hi, top, self.critical_points())
        m = max(left, right)
        pl, pr = math.exp(left - m), math.exp(right - m)
        return pl / (pl + pr), pr / (pl + pr)

    def _minima(self) -> list[float]:
        # E''(x) = 4h (3x² - 1) > 0 at a minimum
        return [c for c in self.critical_points() if 3.0 * c * c - 1.0 > 0.0]

    def modes(self) -> torch.Tensor:
        m = torch.tensor(self._minima(), dtype=torch.float64)[:, None]
        if self.dim == 2:
            m = torch.cat([m, torch.zeros_like(m)], 1)
        return m

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        minima = self._minima()
        if len(minima) == 1:
            return torch.ones(1, dtype=torch.float64)
        top_x = [c for c in self.critical_points() if minima[0] < c < minima[1]][0]
        lo, hi, top = self._support(temperature)
        f = self._log_f(temperature)
        logs = torch.tensor([
            _onedim.log_integral(f, lo, top_x, top, self.critical_points()),
            _onedim.log_integral(f, top_x, hi, top, self.critical_points()),
        ], dtype=torch.float64)
        return torch.softmax(logs, 0)

    @property
    def box(self) -> Box:
        if self._box is not None:
            return self._box
        return (-2.2, 2.2, -4.6, 4.6) if self.dim == 2 else (-2.2, 2.2, 0.0, 1.0)

    def _domain_at(self, temperature: float) -> Box:
        # x₁: where the density is within e^-25 of its peak (quartic tails: the mass beyond
        # is < 1e-11); x₂ ~ N(0, T): ± 6 √T.
        lo, hi = _onedim.interval(self._log_f(temperature), self.critical_points(), 0.5)
        if self.dim == 1:
            return (lo, hi, 0.0, 1.0)
        h = 6.0 * math.sqrt(temperature)
        return (lo, hi, -h, h)


class Banana(Energy):
    """Twisted Gaussian: ``E(x) = x₁²/(2s²) + (x₂ + b (x₁² - s²))² / 2``.

    The map ``(x₁, x₂) -> (x₁, x₂ + b(x₁² - s²))`` has unit Jacobian, so at temperature
    ``T`` ``log Z_T = log(2π s T)`` and ``x₁ ~ N(0, s²T)``, ``x₂ = -b(x₁² - s²) + √T ε``.
    One mode, at ``(0, b s²)``.
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, curvature: float = 0.25, scale: float = 2.0) -> None:
        self.curvature = check_real("curvature", curvature, ge=0.0)
        self.scale = check_real("scale", scale, gt=0.0)
        super().__init__(2)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.scale**2
        x1, x2 = x[:, 0], x[:, 1]
        u = x2 + self.curvature * (x1 * x1 - s2)
        return 0.5 * x1 * x1 / s2 + 0.5 * u * u

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.scale**2
        x1, x2 = x[:, 0], x[:, 1]
        u = x2 + self.curvature * (x1 * x1 - s2)
        return torch.stack([x1 / s2 + 2.0 * self.curvature * x1 * u, u], 1)

    def _log_z_at(self, temperature: float) -> float:
        return math.log(2.0 * math.pi * self.scale * temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
        rt = math.sqrt(temperature)
        x1 = self.scale * rt * z[:, 0]
        x2 = -self.curvature * (x1 * x1 - self.scale**2) + rt * z[:, 1]
        return torch.stack([x1, x2], 1).to(torch.get_default_dtype())

    @property
    def box(self):
        if self._box is not None:
            return self._box
        s, b = self.scale, self.curvature
        return (-4.3 * s, 4.3 * s, -b * (4.3**2 - 1) * s * s - 4.5, b * s * s + 4.5)

    def modes(self) -> torch.Tensor:
        return torch.tensor([[0.0, self.curvature * self.scale**2]], dtype=torch.float64)

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        return torch.ones(1, dtype=torch.float64)

    def _domain_at(self, temperature: float) -> Box:
        # The image of |z₁|, |z₂| <= 6 under the sampler's map (volume preserving): the mass
        # outside is below 4 Φ(-6) ≈ 4e-9.
        s, b, c = self.scale, self.curvature, 6.0 * math.sqrt(temperature)
        return (-c * s, c * s, -b * s * s * (c * c - 1.0) - c, b * s * s + c)


class Funnel(Energy):
    """Neal's funnel: ``v ~ N(0, σ²)``, ``x_i | v ~ N(0, eᵛ)`` for ``i = 1..D-1``.

    ``E(v, x) = v²/(2σ²) + Σ_i x_i² e^{-v}/2 + (D-1) v/2``; ``log Z = D/2 log 2π + log σ``.
    Coordinate 0 is ``v``. Exact samples at ``T = 1``. One mode, at
    ``v = -(D-1)σ²/2, x = 0``. No box holds all its mass (the neck and the mouth escape);
    ``domain`` is the plotting box widened by 30 %, and grid numerics on it are biased.
    """

    exact_log_z = True
    exact_sampler = True
    analytic_grad = True

    axis_labels = ("$v$", "$x_1$")

    def __init__(self, dim: int = 2, sigma: float = 3.0) -> None:
        dim = check_int("dim", dim, ge=2)
        self.sigma = check_real("sigma", sigma, gt=0.0)
        super().__init__(dim)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        v, rest = x[:, 0], x[:, 1:]
        return (0.5 * v * v / self.sigma**2 + 0.5 * (rest * rest).sum(-1) * torch.exp(-v)
                + 0.5 * (self.dim - 1) * v)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        v, rest = x[:, 0], x[:, 1:]
        ev = torch.exp(-v)
        gv = v / self.sigma**2 - 0.5 * (rest * rest).sum(-1) * ev + 0.5 * (self.dim - 1)
        return torch.cat([gv[:, None], rest * ev[:, None]], 1)

    def _log_z_at(self, temperature: float) -> float:
        if temperature != 1.0:
            return super()._log_z_at(temperature)
        return 0.5 * self.dim * LOG_2PI + math.log(self.sigma)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        if temperature != 1.0:
            return super()._sample_at(n, temperature, gen)
        z = torch.randn(n, self.dim, generator=gen, dtype=torch.float64)
        v = self.sigma * z[:, :1]
        return torch.cat([v, z[:, 1:] * torch.exp(0.5 * v)], 1).to(torch.get_default_dtype())

    @property
    def box(self):
        if self._box is not None:
            return self._box
        half = min(12.0, 4.0 * math.exp(0.5 * 1.5 * self.sigma))
        return (-2.5 * self.sigma, 2.5 * self.sigma, -half, half)

    def modes(self) -> torch.Tensor:
        m = torch.zeros(1, self.dim, dtype=torch.float64)
        m[0, 0] = -0.5 * (self.dim - 1) * self.sigma**2
        return m

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        return torch.ones(1, dtype=torch.float64)


class Donut(Energy):
    """``E(x) = (‖x‖ - r)² / (2σ²)`` in ``D >= 2`` dimensions.

    ``Z_T = |S^{D-1}| ∫₀^∞ ρ^{D-1} exp(-(ρ-r)²/(2σ²T)) dρ`` by 1-D quadrature; exact samples:
    a radius by rejection from a piecewise-constant envelope, a uniform direction.
    Its minima form a sphere, so ``modes()`` is ``None`` (unless ``r = 0``: one mode at 0).
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, radius: float = 3.0, width: float = 0.4, dim: int = 2) -> None:
        self.radius = check_real("radius", radius, ge=0.0)
        self.width = check_real("width", width, gt=0.0)
        super().__init__(check_int("dim", dim, ge=2))

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        rho = torch.linalg.vector_norm(x, dim=-1)
        return 0.5 * ((rho - self.radius) / self.width) ** 2

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        rho = torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)
        return (rho - self.radius) / self.width**2 * x / rho

    def _radial(self, temperature: float):
        r, s2t, k = self.radius, self.width**2 * temperature, self.dim - 1

        def log_f(rho: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore"):
                return k * np.log(np.maximum(rho, 0.0)) - 0.5 * (rho - r) ** 2 / s2t

        mode = 0.5 * (r + math.sqrt(r * r + 4.0 * k * s2t))  # root of ρ² - rρ - kσ²T = 0
        return log_f, mode

    def _log_z_at(self, temperature: float) -> float:
        log_f, mode = self._radial(temperature)
        _, hi, top = _onedim.support(log_f, [mode], self.width)
        log_area = math.log(2.0) + 0.5 * self.dim * math.log(math.pi) - math.lgamma(self.dim / 2)
        return log_area + _onedim.log_integral(log_f, 0.0, hi, top, [mode])

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        log_f, mode = self._radial(temperature)
        _, hi, _ = _onedim.support(log_f, [mode], self.width)
        rho = torch.from_numpy(_onedim.rejection_sample(log_f, 0.0, hi, [mode], n, gen))
        u = torch.randn(n, self.dim, generator=gen, dtype=torch.float64)
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
        return (rho[:, None] * u).to(torch.get_default_dtype())

    @property
    def box(self):
        if self._box is not None:
            return self._box
        h = self.radius + 5.0 * self.width
        return (-h, h, -h, h)

    def modes(self) -> torch.Tensor | None:
        return torch.zeros(1, self.dim, dtype=torch.float64) if self.radius == 0 else None

    def _mode_weights_at(self, temperature: float) -> torch.Tensor | None:
        return torch.ones(1, dtype=torch.float64) if self.radius == 0 else None

    def _domain_at(self, temperature: float) -> Box:
        # Radii up to where the radial density is e^-25 of its peak (Gaussian tail beyond).
        log_f, mode = self._radial(temperature)
        _, hi = _onedim.interval(log_f, [mode], self.width)
        return (-hi, hi, -hi, hi)


class Squiggle(Energy):
    """``E(x) = x₁²/(2σ₁²) + (x₂ - A sin(ω x₁))²/(2σ₂²)``: a Gaussian bent along a sine.

    Unit-Jacobian map, so ``log Z_T = log(2π σ₁ σ₂ T)`` and exact samples at every ``T``.
    One mode, at the origin.
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, amplitude: float = 1.5, frequency: float = 1.5, sigma_x: float = 1.5,
                 sigma_y: float = 0.3) -> None:
        self.amplitude = check_real("amplitude", amplitude)
        self.frequency = check_real("frequency", frequency, ge=0.0)
        self.sigma_x = check_real("sigma_x", sigma_x, gt=0.0)
        self.sigma_y = check_real("sigma_y", sigma_y, gt=0.0)
        super().__init__(2)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        u = x2 - self.amplitude * torch.sin(self.frequency * x1)
        return 0.5 * (x1 / self.sigma_x) ** 2 + 0.5 * (u / self.sigma_y) ** 2

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        w = self.frequency * x1
        u = (x2 - self.amplitude * torch.sin(w)) / self.sigma_y**2
        g1 = x1 / self.sigma_x**2 - u * self.amplitude * self.frequency * torch.cos(w)
        return torch.stack([g1, u], 1)

    def _log_z_at(self, temperature: float) -> float:
        return math.log(2.0 * math.pi * self.sigma_x * self.sigma_y * temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=gen, dtype=torch.float64) * math.sqrt(temperature)
        x1 = self.sigma_x * z[:, 0]
        x2 = self.amplitude * torch.sin(self.frequency * x1) + self.sigma_y * z[:, 1]
        return torch.stack([x1, x2], 1).to(torch.get_default_dtype())

    @property
    def box(self):
        if self._box is not None:
            return self._box
        hx = 4.5 * self.sigma_x
        hy = abs(self.amplitude) + 4.5 * self.sigma_y
        return (-hx, hx, -hy, hy)

    def modes(self) -> torch.Tensor:
        return torch.zeros(1, 2, dtype=torch.float64)

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        return torch.ones(1, dtype=torch.float64)

    def _domain_at(self, temperature: float) -> Box:
        # The image of |z₁|, |z₂| <= 6 under the sampler's map: mass outside < 4e-9.
        c = 6.0 * math.sqrt(temperature)
        hx, hy = c * self.sigma_x, abs(self.amplitude) + c * self.sigma_y
        return (-hx, hx, -hy, hy)


class Rastrigin(Energy):
    """Rugged multimodal: ``E(x) = Σ_i [x_i²/(2s²) + A (1 - cos(2π x_i / p))]``.

    Separable, with the Bessel series (``a = A/T``, ``σ² = s²T``, ``k = 2π/p``)
    ``Z₁ = √(2π) σ Σ_{n∈ℤ} e^{-a} I_n(a) e^{-n²k²σ²/2}`` and ``log Z_T = D log Z₁``;
    exact samples by rejection from ``N(0, σ²)`` with acceptance ``exp(-a(1 - cos kx))``.
    Its minima are a lattice of up to thousands of shallow wells: ``modes()`` is ``None``.
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True

    def __init__(self, dim: int = 2, amplitude: float = 2.0, period: float = 1.0,
                 scale: float = 1.5) -> None:
        dim = check_int("dim", dim, ge=1)
        self.amplitude = check_real("amplitude", amplitude, ge=0.0)
        self.period = check_real("period", period, gt=0.0)
        self.scale = check_real("scale", scale, gt=0.0)
        super().__init__(dim)

    @property
    def _k(self) -> float:
        return 2.0 * math.pi / self.period

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        e = 0.5 * (x / self.scale) ** 2 + self.amplitude * (1.0 - torch.cos(self._k * x))
        return e.sum(-1)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale**2 + self.amplitude * self._k * torch.sin(self._k * x)

    def _log_z_at(self, temperature: float) -> float:
        a = self.amplitude / temperature
        sig = self.scale * math.sqrt(temperature)
        n = np.arange(1, 200)
        series = special.ive(0, a) + 2.0 * np.sum(special.ive(n, a)
                                                  * np.exp(-0.5 * (n * self._k * sig) ** 2))
        return self.dim * (0.5 * LOG_2PI + math.log(sig) + math.log(series))

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        a = self.amplitude / temperature
        sig = self.scale * math.sqrt(temperature)
        total = n * self.dim
        out: list[torch.Tensor] = []
        have = 0
        while have < total:
            m = max(64, int(1.2 * (total - have) / max(special.ive(0, a), 1e-3)))
            x = sig * torch.randn(m, generator=gen, dtype=torch.float64)
            u = torch.rand(m, generator=gen, dtype=torch.float64)
            keep = torch.log(u) < -a * (1.0 - torch.cos(self._k * x))
            out.append(x[keep])
            have += int(keep.sum())
        x = torch.cat(out)[:total].reshape(n, self.dim)
        return x.to(torch.get_default_dtype())

    @property
    def box(self):
        if self._box is not None:
            return self._box
        h = 4.5 * self.scale
        return (-h, h, -h, h) if self.dim >= 2 else (-h, h, 0.0, 1.0)

    def _domain_at(self, temperature: float) -> Box:
        # The density is below its N(0, s²T) envelope, whose mass beyond 7 sd is 2.6e-12;
        # the ripples lower Z by about √(2π A/T) (< 10 for A/T <= 12, the registry's range
        # down to T = 0.5), so the mass outside stays below ~3e-11.
        h = 7.0 * self.scale * math.sqrt(temperature)
        return (-h, h, -h, h) if self.dim >= 2 else (-h, h, 0.0, 1.0)


# -- registry ------------------------------------------------------------------------


@register("double_well", (
    Param("barrier", 3.0, 0.1, 10.0, doc="barrier height h"),
    Param("tilt", 0.0, -3.0, 3.0, doc="tilt t favouring one well"),
), doc="Double well along x, Gaussian along y.", tags=("multimodal",))
def _double_well(barrier: float, tilt: float) -> DoubleWell:
    return DoubleWell(barrier, tilt, dim=2)


@register("banana", (
    Param("curvature", 0.25, 0.0, 1.0, doc="bend b"),
    Param("scale", 2.0, 0.5, 3.0, doc="standard deviation s of x1"),
), doc="Twisted Gaussian (Haario et al.).")
def _banana(curvature: float, scale: float) -> Banana:
    return Banana(curvature, scale)


@register("funnel", (
    Param("sigma", 3.0, 0.5, 4.0, doc="standard deviation of v"),
), doc="Neal's funnel; x axis is v.")
def _funnel(sigma: float) -> Funnel:
    return Funnel(2, sigma)


@register("donut", (
    Param("radius", 3.0, 0.0, 5.0, doc="ring radius r"),
    Param("width", 0.4, 0.1, 2.0, doc="ring width σ"),
), doc="A ring of constant density.")
def _donut(radius: float, width: float) -> Donut:
    return Donut(radius, width, 2)


@register("squiggle", (
    Param("amplitude", 1.5, 0.0, 3.0, doc="sine amplitude A"),
    Param("frequency", 1.5, 0.0, 4.0, doc="sine frequency ω"),
    Param("sigma_x", 1.5, 0.3, 3.0, doc="standard deviation along x"),
    Param("sigma_y", 0.3, 0.05, 1.0, doc="standard deviation across the curve"),
), doc="A Gaussian bent along a sine curve.")
def _squiggle(amplitude: float, frequency: float, sigma_x: float, sigma_y: float) -> Squiggle:
    return Squiggle(amplitude, frequency, sigma_x, sigma_y)


@register("rastrigin", (
    Param("amplitude", 2.0, 0.0, 6.0, doc="ripple depth A"),
    Param("period", 1.0, 0.3, 3.0, doc="ripple period p"),
    Param("scale", 1.5, 0.5, 3.0, doc="envelope standard deviation s"),
), doc="Rugged egg-crate landscape with many local minima.", tags=("multimodal",))
def _rastrigin(amplitude: float, period: float, scale: float) -> Rastrigin:
    return Rastrigin(2, amplitude, period, scale)
