"""The ``Energy`` interface, declared parameters and the registry of named landscapes.

An energy defines the Boltzmann density ``p_T(x) = exp(-E(x)/T) / Z_T`` with
``Z_T = ∫ exp(-E(x)/T) dx``. Every energy is a ``torch.nn.Module`` whose
``forward(x)`` maps ``x: (N, D) -> (N,)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._checks import check_int, check_real, make_generator
from ..params import Param

Box = tuple[float, float, float, float]


class Energy(torch.nn.Module):
    """Base class: ``forward(x: (N, D)) -> (N,)``.

    Subclasses may define ``_grad(x)`` (analytic ``∇E``), ``_log_z_at(T)`` (exact
    ``log Z_T``) and ``_sample_at(n, T, generator)`` (exact samples of ``p_T``);
    otherwise ``grad`` falls back to autograd and the others raise
    ``NotImplementedError``.
    """

    def __init__(self, dim: int, box: Box | None = None) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, ge=1)
        self._box = box
        self._cast_cache: dict = {}

    def _p(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Buffer ``name`` (stored in float64) cast to ``x``'s dtype and device, cached."""
        key = (name, x.dtype, x.device)
        t = self._cast_cache.get(key)
        if t is None:
            t = getattr(self, name).to(device=x.device, dtype=x.dtype)
            self._cast_cache[key] = t
        return t

    def _apply(self, fn, recurse=True):  # .to(), .cuda(), .double() invalidate the casts
        self._cast_cache = {}
        return super()._apply(fn, recurse)

    # -- energy and gradient ------------------------------------------------------
    @property
    def has_analytic_grad(self) -> bool:
        return type(self)._grad is not Energy._grad

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x must have shape (N, {self.dim}) for {type(self).__name__}, "
                f"got {tuple(x.shape)}"
            )

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """``∇E(x)``: ``(N, D) -> (N, D)``; analytic where defined, autograd otherwise."""
        self._check(x)
        if self.has_analytic_grad:
            return self._grad(x)
        return self.value_and_grad(x)[1]

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E(x), ∇E(x))``: ``(N, D) -> ((N,), (N, D))``."""
        self._check(x)
        if self.has_analytic_grad:
            return self.forward(x), self._grad(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = self.forward(xg)
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g

    # -- normaliser and exact samples -------------------------------------------
    def _log_z_at(self, temperature: float) -> float:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form log Z at T={temperature:g}; "
            "estimate it with el.diagnostics.log_z_quadrature (2-D) or annealed "
            "importance sampling"
        )

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no exact sampler at T={temperature:g}; use MCMC"
        )

    def log_z(self) -> float:
        """Exact ``log Z = log ∫ exp(-E(x)) dx`` where known, else ``NotImplementedError``."""
        return float(self._log_z_at(1.0))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = -E(x) - log Z``: ``(N, D) -> (N,)`` (needs an exact ``log_z``)."""
        return -self(x) - self.log_z()

    def sample(self, n: int, seed: int | torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact samples of ``p(x) ∝ exp(-E(x))``: ``-> (n, D)``."""
        n = check_int("n", n, ge=1)
        gen = make_generator(seed, self._device())
        return self._sample_at(n, 1.0, gen)

    @property
    def has_exact_log_z(self) -> bool:
        try:
            self.log_z()
        except NotImplementedError:
            return False
        return True

    @property
    def has_exact_sampler(self) -> bool:
        try:
            self.sample(1, seed=0)
        except NotImplementedError:
            return False
        return True

    # -- composition ------------------------------------------------------------
    def tempered(self, temperature: float) -> Energy:
        """``E(x) / T``: the Boltzmann density at temperature ``T``."""
        return Tempered(self, temperature)

    def __add__(self, other: Energy) -> Energy:
        """``E1 + E2``: a product of experts, ``p ∝ exp(-E1) exp(-E2)``."""
        if isinstance(other, (int, float)) and other == 0:
            return self
        return Sum(self, other)

    def __radd__(self, other: object) -> Energy:
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts at 0
            return self
        return NotImplemented

    # -- plotting box -------------------------------------------------------------
    @property
    def box(self) -> Box:
        """Default 2-D plotting box ``(xmin, xmax, ymin, ymax)`` (first two coordinates)."""
        if self._box is not None:
            return self._box
        return (-4.0, 4.0, -4.0, 4.0) if self.dim >= 2 else (-4.0, 4.0, 0.0, 1.0)

    # -- helpers ----------------------------------------------------------------------
    def _device(self) -> torch.device:
        for b in self.buffers():
            return b.device
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def _dtype(self) -> torch.dtype:
        for b in self.buffers():
            if b.is_floating_point():
                return b.dtype
        return torch.get_default_dtype()


class Tempered(Energy):
    """``E_T(x) = E(x) / T``; ``log Z`` and exact samples delegate to the base at ``T``."""

    def __init__(self, base: Energy, temperature: float) -> None:
        t = check_real("temperature", temperature, gt=0.0)
        if isinstance(base, Tempered):  # (E / T1) / T2 = E / (T1 T2)
            t, base = t * base.temperature, base.base
        super().__init__(base.dim)
        self.base = base
        self.temperature = t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) / self.temperature

    @property
    def has_analytic_grad(self) -> bool:
        return self.base.has_analytic_grad

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.grad(x) / self.temperature

    def _log_z_at(self, temperature: float) -> float:
        return self.base._log_z_at(self.temperature * temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        return self.base._sample_at(n, self.temperature * temperature, gen)

    @property
    def box(self) -> Box:
        return self.base.box

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"


class Sum(Energy):
    """``E(x) = Σ_i E_i(x)``: the product of experts ``p ∝ Π_i exp(-E_i)``."""

    def __init__(self, *terms: Energy) -> None:
        flat: list[Energy] = []
        for t in terms:
            if not isinstance(t, Energy):
                raise TypeError(f"can only add Energy objects, got {type(t).__name__}")
            flat.extend(t.terms if isinstance(t, Sum) else [t])
        dims = {t.dim for t in flat}
        if len(dims) != 1:
            raise ValueError(f"energies must have the same dim to be added, "
                             f"got dims {sorted(dims)}")
        super().__init__(flat[0].dim)
        self.terms = torch.nn.ModuleList(flat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.terms[0](x)
        for t in self.terms[1:]:
            out = out + t(x)
        return out

    @property
    def has_analytic_grad(self) -> bool:
        return all(t.has_analytic_grad for t in self.terms)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        out = self.terms[0].grad(x)
        for t in self.terms[1:]:
            out = out + t.grad(x)
        return out

    def _gaussian_product(self):
        from .gaussian import Gaussian

        if all(isinstance(t, Gaussian) for t in self.terms):
            return Gaussian.product(*self.terms)
        return None

    def _log_z_at(self, temperature: float) -> float:
        prod = self._gaussian_product()
        if prod is None:
            return super()._log_z_at(temperature)
        gauss, offset = prod  # E(x) = E_gauss(x) + offset
        return gauss._log_z_at(temperature) - offset / temperature

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        prod = self._gaussian_product()
        if prod is None:
            return super()._sample_at(n, temperature, gen)
        return prod[0]._sample_at(n, temperature, gen)

    @property
    def box(self) -> Box:
        boxes = [t.box for t in self.terms]  # the product lives where all experts agree
        lo_x, hi_x = max(b[0] for b in boxes), min(b[1] for b in boxes)
        lo_y, hi_y = max(b[2] for b in boxes), min(b[3] for b in boxes)
        if lo_x >= hi_x or lo_y >= hi_y:
            return boxes[0]
        return (lo_x, hi_x, lo_y, hi_y)


# -- declared parameters and the registry ------------------------------------------


@dataclass(frozen=True)
class EnergySpec:
    """A named landscape: its factory and its declared parameters."""

    name: str
    factory: Callable[..., Energy]
    params: tuple[Param, ...]
    doc: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def build(self, **values: object) -> Energy:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for energy {self.name!r}; "
                f"allowed: {sorted(known)}"
            )
        kwargs = self.defaults()
        for k, v in values.items():
            kwargs[k] = known[k].validate(v)
        energy = self.factory(**kwargs)
        energy.spec_name = self.name
        energy.param_values = kwargs
        return energy


_REGISTRY: dict[str, EnergySpec] = {}


def register(name: str, params: tuple[Param, ...] = (), doc: str = "", tags: tuple = ()):
    """Decorator registering a factory ``(**params) -> Energy`` under ``name``."""

    def deco(factory: Callable[..., Energy]) -> Callable[..., Energy]:
        if name in _REGISTRY:
            raise ValueError(f"an energy named {name!r} is already registered")
        _REGISTRY[name] = EnergySpec(name, factory, tuple(params), doc or (factory.__doc__ or ""),
                                     tuple(tags))
        return factory

    return deco


def names() -> list[str]:
    """Names of every registered landscape."""
    return list(_REGISTRY)


def spec(name: str) -> EnergySpec:
    """The registry entry (factory and declared parameters) for ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown energy {name!r}; registered: {', '.join(_REGISTRY)}") from None


def get(name: str, **params: object) -> Energy:
    """Build the registered landscape ``name`` with its defaults overridden by ``params``."""
    return spec(name).build(**params)


LOG_2PI = math.log(2.0 * math.pi)
