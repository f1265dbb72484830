"""What a kernel carries from one step to the next (``State``) and what one step reports
(``Info``). Chains are the leading (batch) dimension of every per-chain field.

``x`` may be of any dtype: float positions for Langevin/HMC kernels, ``{-1, +1}`` spins or
``{0, 1}`` units for discrete kernels. ``energy`` is always floating point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

StepSize = float | torch.Tensor  # a float, or one per chain: a tensor of shape (N, 1)


_FIELDS = ("x", "energy", "grad", "momentum", "aux", "step_size", "extra")
_FIELD_SET = frozenset(_FIELDS)


@dataclass(slots=True)
class State:
    """One kernel state for ``N`` chains.

    ``x: (N, D)``, ``energy: (N,)``; ``grad: (N, D)`` for gradient kernels, ``momentum: (N, D)``
    for kinetic ones; ``aux``: per-chain values an energy returns alongside ``E`` and ``∇E``
    (see ``evaluate``), carried and selected with the state so they are never recomputed;
    ``step_size``: the current step (float or ``(N, 1)``); ``extra``: kernel-wide
    bookkeeping (e.g. parallel tempering's ladder), not indexed by chain.
    """

    x: torch.Tensor
    energy: torch.Tensor
    grad: torch.Tensor | None = None
    momentum: torch.Tensor | None = None
    aux: tuple[torch.Tensor, ...] | None = None
    step_size: StepSize = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_chains(self) -> int:
        return self.x.shape[0]

    def replace(self, **changes: Any) -> State:
        """A new state with some fields changed (kernels never mutate a state in place)."""
        # Written out field by field: this runs several times per step, and a loop over
        # getattr/setattr costs more than the tensor work of a one-chain step.
        new = object.__new__(State)
        get = changes.get
        new.x = get("x", self.x)
        new.energy = get("energy", self.energy)
        new.grad = get("grad", self.grad)
        new.momentum = get("momentum", self.momentum)
        new.aux = get("aux", self.aux)
        new.step_size = get("step_size", self.step_size)
        new.extra = get("extra", self.extra)
        if len(changes) > 7 or not changes.keys() <= _FIELD_SET:
            raise TypeError(f"State has no field(s) {sorted(set(changes) - _FIELD_SET)}")
        return new

    def _per_chain(self) -> dict[str, Any]:
        out = {}
        for f in _FIELDS[:-1]:
            v = getattr(self, f)
            if v is None or (f == "step_size" and not isinstance(v, torch.Tensor)):
                continue
            out[f] = v
        return out

    def take(self, idx: torch.Tensor) -> State:
        """Rows ``idx`` of every per-chain field (resampling, restarts)."""
        ch = {k: (tuple(a[idx] for a in v) if k == "aux" else v[idx])
              for k, v in self._per_chain().items()}
        return self.replace(**ch)

    def where(self, mask: torch.Tensor, other: State) -> State:
        """Per chain: ``other`` where ``mask`` (``(N,)`` bool) holds, else ``self``."""
        col = mask[:, None]

        def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            m = mask if a.ndim == 1 else col if a.ndim == 2 else mask.reshape(
                mask.shape + (1,) * (a.ndim - 1))
            return torch.where(m, b, a)

        def opt(a, b):
            return None if a is None else pick(a, b)

        eps = self.step_size
        return State(
            x=pick(self.x, other.x), energy=pick(self.energy, other.energy),
            grad=opt(self.grad, other.grad), momentum=opt(self.momentum, other.momentum),
            aux=(None if self.aux is None else
                 tuple(pick(u, v) for u, v in zip(self.aux, other.aux, strict=True))),
            step_size=pick(eps, other.step_size) if isinstance(eps, torch.Tensor) else eps,
            extra=self.extra)

    def __repr__(self) -> str:
        eps = self.step_size
        eps = float(eps.reshape(-1)[0]) if isinstance(eps, torch.Tensor) else eps
        return (f"State(n_chains={self.x.shape[0]}, dim={self.x.shape[1]}, "
                f"dtype={self.x.dtype}, step_size={eps:g})")


@dataclass(slots=True)
class Info:
    """What one transition did and cost.

    ``accept_prob: (N,)`` (1 for unadjusted moves); ``n_grad`` / ``n_energy``: batched calls
    of ``value_and_grad`` / of the energy alone (each evaluates every chain once);
    ``diverged: (N,)`` bool, proposals rejected for a non-finite energy (or, in HMC, an
    energy error above 1000) — ``None`` for kernels that never reject (ULA, kinetic
    Langevin), whose non-finite states the driver catches itself; ``extra``: kernel-specific
    numbers.
    """

    accept_prob: torch.Tensor
    n_grad: int = 0
    n_energy: int = 0
    diverged: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate(energy, x: torch.Tensor, grad: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...] | None]:
    """``(E(x), ∇E(x) or None, aux)``: the one place kernels evaluate an energy.

    An energy may define ``value_grad_aux(x) -> (E, ∇E, aux)`` (and ``value_aux(x) ->
    (E, aux)``) to hand per-chain values to the state (an annealing path returns its two
    end-point energies, so reweighting and moving to the next temperature cost no further
    evaluation).
    """
    # Looked up on the class: on an nn.Module a missing instance attribute goes through
    # Module.__getattr__ and raises, which costs microseconds on every step.
    cls = type(energy)
    if grad:
        if getattr(cls, "value_grad_aux", None) is not None:
            return energy.value_grad_aux(x)
        e, g = energy.value_and_grad(x)
        return e, g, None
    if getattr(cls, "value_aux", None) is not None:
        e, aux = energy.value_aux(x)
        return e, None, aux
    return energy(x), None, None
