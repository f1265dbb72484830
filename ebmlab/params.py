"""Declared parameters: a name, a default, a type (float, int, bool or choice), a range, and
whether a widget may change it live. Energies and sampler kernels declare theirs; widgets
build their controls from these declarations, and constructors validate with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._checks import check_choice, check_int, check_real


@dataclass(frozen=True)
class Param:
    """A declared, validated parameter.

    ``kind`` is ``"float"`` (range ``[low, high]``, ``log`` for a log-scale slider),
    ``"int"``, ``"bool"`` or ``"choice"`` (one of ``choices``). ``live`` says a widget may
    change it while chains run; ``doc`` is the tooltip.
    """

    name: str
    default: Any
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    doc: str = ""
    choices: tuple = ()
    live: bool = True

    @property
    def kind(self) -> str:
        if self.choices:
            return "choice"
        if isinstance(self.default, bool):
            return "bool"
        return "int" if self.integer else "float"

    def validate(self, value: object) -> Any:
        """``value`` checked against the declaration; ``ValueError`` names the parameter."""
        kind = self.kind
        if kind == "choice":
            return check_choice(self.name, value, self.choices)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be True or False, got {value!r}")
            return value
        lo = None if self.low is None else self.low
        hi = None if self.high is None else self.high
        if kind == "int":
            return check_int(self.name, value, ge=None if lo is None else int(lo),
                             le=None if hi is None else int(hi))
        return check_real(self.name, value, ge=lo, le=hi)


def validate_params(owner: str, params: tuple[Param, ...], values: dict[str, Any]
                    ) -> dict[str, Any]:
    """Defaults overridden by ``values``, each validated; unknown names raise ``ValueError``."""
    known = {p.name: p for p in params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {owner}; allowed: {sorted(known)}")
    return {p.name: p.validate(values.get(p.name, p.default)) for p in params}
