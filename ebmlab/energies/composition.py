"""Composition of energies: ``Tempered`` (``E/T``) and ``Sum`` (a product of experts).

Both are generic: they know nothing of any particular energy. Their capabilities are
declared per instance from those of their parts. ``E1 + E2`` first asks the parts'
``_combine`` hook for an exact result (two Gaussians give a Gaussian, see ``Gaussian``) and
builds a ``Sum`` only when none exists.
"""

from __future__ import annotations

import torch

from .._checks import check_real
from .base import Box, Energy


class Tempered(Energy):
    """``E_T(x) = E(x) / T``; ``log Z``, exact samples, modes and mode weights delegate to
    the base at temperature ``T``.

    Declares (per instance): the base's analytic gradient; an exact ``log Z`` / sampler when
    the base has one and either ``T = 1`` or the base declares ``exact_when_tempered``.
    """

    analytic_grad: bool
    exact_log_z: bool
    exact_sampler: bool
    exact_when_tempered: bool

    def __init__(self, base: Energy, temperature: float) -> None:
        t = check_real("temperature", temperature, gt=0.0)
        if isinstance(base, Tempered):  # (E / T1) / T2 = E / (T1 T2)
            t, base = t * base.temperature, base.base
        super().__init__(base.dim)
        self.base = base
        self.temperature = t
        at_t = t == 1.0 or base.exact_when_tempered
        self.analytic_grad = base.has_analytic_grad
        self.exact_log_z = base.has_exact_log_z and at_t
        self.exact_sampler = base.has_exact_sampler and at_t
        self.exact_when_tempered = base.exact_when_tempered

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.base._energy(x) / self.temperature

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.base._grad(x) / self.temperature

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, g = self.base._value_and_grad(x)
        return e / self.temperature, g / self.temperature

    def _log_z_at(self, temperature: float) -> float:
        return self.base._log_z_at(self.temperature * temperature)

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        return self.base._sample_at(n, self.temperature * temperature, gen)

    def modes(self) -> torch.Tensor | None:
        return self.base.modes()  # dividing by T moves no minimum

    def _mode_weights_at(self, temperature: float) -> torch.Tensor | None:
        return self.base._mode_weights_at(self.temperature * temperature)

    @property
    def box(self) -> Box:
        return self.base.box

    def _domain_at(self, temperature: float) -> Box:
        return self.base._domain_at(self.temperature * temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"


class Sum(Energy):
    """``E(x) = Σ_i E_i(x)``: the product of experts ``p ∝ Π_i exp(-E_i)``.

    Declares an analytic gradient when every term does, and no exact ``log Z``, sampler or
    modes: exact combinations are found by ``E1 + E2`` (the ``_combine`` hook) before a
    ``Sum`` is built.
    """

    analytic_grad: bool

    def __init__(self, *terms: Energy) -> None:
        flat: list[Energy] = []
        for t in terms:
            if not isinstance(t, Energy):
                raise TypeError(f"can only add Energy objects, got {type(t).__name__}")
            flat.extend(t.terms if isinstance(t, Sum) else [t])
        if not flat:
            raise ValueError("Sum needs at least one energy")
        dims = {t.dim for t in flat}
        if len(dims) != 1:
            raise ValueError(f"energies must have the same dim to be added, "
                             f"got dims {sorted(dims)}")
        super().__init__(flat[0].dim)
        self.terms = torch.nn.ModuleList(flat)
        self.analytic_grad = all(t.has_analytic_grad for t in flat)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        out = self.terms[0]._energy(x)
        for t in self.terms[1:]:
            out = out + t._energy(x)
        return out

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        out = self.terms[0]._grad(x)
        for t in self.terms[1:]:
            out = out + t._grad(x)
        return out

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, g = self.terms[0]._value_and_grad(x)  # each term analytic or autograd, as declared
        for t in self.terms[1:]:
            et, gt = t._value_and_grad(x)
            e, g = e + et, g + gt
        return e, g

    @property
    def box(self) -> Box:
        return _overlap([t.box for t in self.terms], hull=False)

    def _domain_at(self, temperature: float) -> Box:
        if self._domain is not None:
            return self._domain
        return _overlap([t._domain_at(temperature) for t in self.terms], hull=True)


def _overlap(boxes: list[Box], hull: bool) -> Box:
    """Where all boxes agree (the product lives there); if they are disjoint, the hull of
    all of them (``hull=True``, safe for numerics) or the first (a view)."""
    lo_x, hi_x = max(b[0] for b in boxes), min(b[1] for b in boxes)
    lo_y, hi_y = max(b[2] for b in boxes), min(b[3] for b in boxes)
    if lo_x < hi_x and lo_y < hi_y:
        return (lo_x, hi_x, lo_y, hi_y)
    if not hull:
        return boxes[0]
    return (min(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), max(b[3] for b in boxes))


# Installed on the base class so that ``E1 + E2`` and ``E.tempered(T)`` build these without
# base.py importing this module (no import cycle).
Energy._sum_cls = Sum
Energy._tempered_cls = Tempered
