"""The ``Energy`` interface, its declared capabilities, declared parameters and the registry
of named landscapes.

An energy defines the Boltzmann density ``p_T(x) = exp(-E(x)/T) / Z_T`` with
``Z_T = ∫ exp(-E(x)/T) dx``. Every energy is a ``torch.nn.Module``; ``forward(x)`` (here,
final) checks ``x: (N, D)`` once and calls the subclass's ``_energy(x) -> (N,)``.

Capabilities are declared on the class (or, where they depend on the instance, set in
``__init__``), never discovered by running: ``exact_log_z``, ``exact_sampler``,
``analytic_grad`` and ``exact_when_tempered``; ``modes()`` / ``mode_weights()`` return known
minima and their masses, or ``None``.

Composition (``E1 + E2``, ``E.tempered(T)``) builds the classes of ``composition.py``, which
installs them here when the package is imported, so this module imports nothing back.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, final

import torch

from .._checks import check_int, make_generator
from ..params import Param

Box = tuple[float, float, float, float]

LOG_2PI = math.log(2.0 * math.pi)


def widen_box(box: Box, factor: float, dim: int = 2) -> Box:
    """``box`` scaled by ``factor`` about its centre (only the x range when ``dim == 1``)."""
    cx, hx = (box[0] + box[1]) / 2, factor * (box[1] - box[0]) / 2
    if dim == 1:
        return (cx - hx, cx + hx, box[2], box[3])
    cy, hy = (box[2] + box[3]) / 2, factor * (box[3] - box[2]) / 2
    return (cx - hx, cx + hx, cy - hy, cy + hy)


class Energy(torch.nn.Module):
    """Base class: ``E(x)``, ``x: (N, D) -> (N,)``.

    Subclasses define ``_energy(x)`` (called after the input check) and declare what they
    provide:

    - ``analytic_grad``: ``_grad(x)`` is an analytic ``∇E`` (otherwise ``grad`` uses autograd);
      ``_value_and_grad(x)`` may be overridden to share work between the two.
    - ``exact_log_z``: ``_log_z_at(T)`` returns the exact ``log Z`` (at ``T = 1``).
    - ``exact_sampler``: ``_sample_at(n, T, gen)`` returns exact samples (at ``T = 1``).
    - ``exact_when_tempered``: both of the above also hold for ``E/T`` at every ``T > 0``
      (``Tempered`` reads this to declare its own capabilities).

    Methods that are not provided raise ``NotImplementedError``. ``modes()`` and
    ``_mode_weights_at(T)`` return ``None`` unless a subclass knows its minima.

    ``box`` is the 2-D plotting view; ``domain`` is the region where grid numerics
    (quadrature ``log Z``, grid KL/TV, basin masses) are trusted — see ``domain``.
    """

    exact_log_z: ClassVar[bool] = False
    exact_sampler: ClassVar[bool] = False
    exact_when_tempered: ClassVar[bool] = False
    analytic_grad: ClassVar[bool] = False

    # The generic product of experts and tempered wrapper (composition.py installs them).
    _sum_cls: ClassVar[Callable[..., Energy]]
    _tempered_cls: ClassVar[Callable[..., Energy]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "forward" in own:  # the pre-``_energy`` pattern: keep it working, keep forward final
            if "_energy" in own:
                raise TypeError(f"{cls.__qualname__} defines both forward and _energy; "
                                "define only _energy (Energy.forward checks x, then calls it)")
            warnings.warn(
                f"{cls.__qualname__} overrides Energy.forward; define _energy(x) instead "
                "(Energy.forward checks the shape of x once, then calls _energy)",
                DeprecationWarning, stacklevel=2)
            cls._energy = own["forward"]
            delattr(cls, "forward")

    def __init__(self, dim: int, box: Box | None = None, domain: Box | None = None) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, ge=1)
        self._box = box
        self._domain = domain
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

    # -- declared capabilities (read-only views of the declarations) ----------------
    @property
    def has_analytic_grad(self) -> bool:
        return self.analytic_grad

    @property
    def has_exact_log_z(self) -> bool:
        return self.exact_log_z

    @property
    def has_exact_sampler(self) -> bool:
        return self.exact_sampler

    # -- energy and gradient: validated once, here ------------------------------------
    def _validate(self, x: object) -> None:
        """Shape check only: two attribute reads, no tensor operation, no device sync."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (N, {self.dim}) for "
                             f"{type(self).__name__}, got {got}")

    @final
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)``: ``(N, D) -> (N,)``."""
        self._validate(x)
        return self._energy(x)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define _energy(x)")

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} declares no analytic gradient")

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.has_analytic_grad:
            return self._energy(x), self._grad(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = self._energy(xg)
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g

    @final
    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """``∇E(x)``: ``(N, D) -> (N, D)``; analytic where declared, autograd otherwise."""
        self._validate(x)
        if self.has_analytic_grad:
            return self._grad(x)
        return self._value_and_grad(x)[1]

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E(x), ∇E(x))``: ``(N, D) -> ((N,), (N, D))``."""
        self._validate(x)
        return self._value_and_grad(x)

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

    # -- known modes ----------------------------------------------------------------
    def modes(self) -> torch.Tensor | None:
        """Known local minima of ``E`` as a ``(K, D)`` float64 tensor, or ``None`` when they
        are not known as a finite list (a ring of minima, a lattice, a network)."""
        return None

    def mode_weights(self) -> torch.Tensor | None:
        """Probability carried by each of ``modes()``: ``(K,)`` float64 summing to 1, or
        ``None`` when not known exactly. What "carried by" means is the subclass's (mixture
        weights; a double well's mass on each side of its barrier); it is not the mass of the
        nearest-mode cells that ``el.diagnostics.mass_per_mode`` counts, though the two
        agree up to the overlap between modes."""
        return self._mode_weights_at(1.0)

    def _mode_weights_at(self, temperature: float) -> torch.Tensor | None:
        return None

    # -- composition ------------------------------------------------------------
    def tempered(self, temperature: float) -> Energy:
        """``E(x) / T``: the Boltzmann density at temperature ``T``."""
        return self._tempered_cls(self, temperature)

    def _combine(self, other: Energy) -> Energy | None:
        """Hook for ``self + other`` (same ``dim``): an exact energy equal to the sum, or
        ``None`` to fall back to the generic ``Sum``. Addition commutes, so ``a + b`` asks
        ``a._combine(b)`` and then ``b._combine(a)``."""
        return None

    def __add__(self, other: object) -> Energy:
        """``E1 + E2``: a product of experts, ``p ∝ exp(-E1) exp(-E2)``."""
        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Energy):
            raise TypeError(f"can only add Energy objects, got {type(other).__name__}")
        if other.dim != self.dim:
            raise ValueError(f"energies must have the same dim to be added, "
                             f"got dims {sorted({self.dim, other.dim})}")
        exact = self._combine(other)
        if exact is None:
            exact = other._combine(self)
        return exact if exact is not None else self._sum_cls(self, other)

    def __radd__(self, other: object) -> Energy:
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts at 0
            return self
        return NotImplemented

    # -- plotting box and numerical domain ------------------------------------------
    @property
    def box(self) -> Box:
        """2-D plotting view ``(xmin, xmax, ymin, ymax)`` of the first two coordinates
        (``(xmin, xmax, 0, 1)`` in 1-D). Only for figures; numerics use ``domain``."""
        if self._box is not None:
            return self._box
        return (-4.0, 4.0, -4.0, 4.0) if self.dim >= 2 else (-4.0, 4.0, 0.0, 1.0)

    @property
    def domain(self) -> Box:
        """Region ``(xmin, xmax, ymin, ymax)`` (first two coordinates; ``(xmin, xmax, 0, 1)``
        in 1-D) where grid numerics are trusted: quadrature ``log Z``, grid KL / TV, basin
        masses and exact marginals integrate over it by default.

        Analytic landscapes derive it from their parameters so that the mass outside is
        negligible (below ~1e-8, see each class); this default — for energies without such a
        bound — is the plotting box widened by 30 % (and by ``√T`` more when tempered
        hotter), or the ``domain`` given to the constructor.
        """
        return self._domain_at(1.0)

    def _domain_at(self, temperature: float) -> Box:
        if self._domain is not None:
            return self._domain
        return widen_box(self.box, 1.3 * max(1.0, math.sqrt(temperature)), self.dim)

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


# -- declared parameters and the registry ------------------------------------------


@dataclass(frozen=True)
class EnergySpec:
    """A named landscape: its factory and its declared parameters.

    ``tags`` are free descriptive labels (e.g. ``"multimodal"``) for listings; capabilities
    (exact log Z, exact sampler, gradient, modes) are declared by the energy class itself.
    """

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
