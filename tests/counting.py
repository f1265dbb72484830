"""A counting wrapper around an energy: it sees every evaluation a sampler makes, so tests
can hold the reported costs (``Trace``, AIS, SMC) to what really ran."""

from __future__ import annotations

import torch

from ebmlab.energies import Energy


class Counting(Energy):
    """``E`` unchanged; ``grad_calls`` counts ``value_and_grad`` calls, ``energy_calls`` calls
    of the energy alone, ``rows`` the chains evaluated in all."""

    def __init__(self, base: Energy) -> None:
        super().__init__(base.dim)
        self.base = base
        self.analytic_grad = base.analytic_grad
        self.grad_calls = self.energy_calls = self.rows = 0

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        self.energy_calls += 1
        self.rows += x.shape[0]
        return self.base(x)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("samplers must ask for value_and_grad, not grad alone")

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.grad_calls += 1
        self.rows += x.shape[0]
        return self.base.value_and_grad(x)

    @property
    def calls(self) -> int:
        return self.grad_calls
