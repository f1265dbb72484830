"""Cost against accuracy: run an estimator at several budgets and seeds, and summarise its
error against an exact value per budget (e.g. AIS and SMC ``log Ẑ`` against gradient
evaluations). ``el.viz.budget_plot`` draws the result."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._checks import check_real


@dataclass(frozen=True)
class BudgetCurve:
    """One estimator's cost and error at each setting.

    ``settings``: what was varied (e.g. numbers of temperatures); ``costs``, ``errors``:
    ``(settings, seeds)`` per run, ``errors`` being ``|estimate - exact|``; ``cost``,
    ``error``: their means over seeds; ``error_se``: the standard error of ``error`` (``0``
    with one seed); ``cost_name``: what ``cost`` counts.
    """

    settings: list
    costs: torch.Tensor
    errors: torch.Tensor
    cost_name: str = "n_grad_evals"

    @property
    def cost(self) -> list[float]:
        return self.costs.mean(1).tolist()

    @property
    def error(self) -> list[float]:
        return self.errors.mean(1).tolist()

    @property
    def error_se(self) -> list[float]:
        n = self.errors.shape[1]
        if n < 2:
            return [0.0] * self.errors.shape[0]
        return (self.errors.std(1) / math.sqrt(n)).tolist()

    def __repr__(self) -> str:
        rows = ", ".join(f"{s}: {c:.3g} -> {e:.3g}" for s, c, e in
                         zip(self.settings, self.cost, self.error, strict=True))
        return f"BudgetCurve({self.cost_name}; {rows})"


def _read(result: Any, what: str | Callable[[Any], float], role: str) -> float:
    if callable(what):
        value = what(result)
    elif (what in result) if isinstance(result, dict) else hasattr(result, what):
        value = result[what] if isinstance(result, dict) else getattr(result, what)
    else:
        raise ValueError(f"the run's result has no {role} {what!r}; pass {role}= as an "
                         f"attribute name (or key) or a function of the result")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"the run's {role} is {value}")
    return value


def budget_curve(run: Callable[[Any, int], Any], settings: Sequence, seeds: Sequence[int],
                 exact: float, cost: str | Callable[[Any], float] = "n_grad_evals",
                 estimate: str | Callable[[Any], float] = "log_z") -> BudgetCurve:
    """Call ``run(setting, seed)`` for every setting and seed; record its ``cost`` and the
    error ``|estimate - exact|``.

    ``cost`` and ``estimate`` name attributes (or keys) of what ``run`` returns, or are
    functions of it. Example::

        ais = budget_curve(lambda k, s: el.samplers.ais(E, n_chains=1024, n_temps=k, seed=s),
                           [10, 30, 100], seeds=range(3), exact=E.log_z())
    """
    settings = list(settings)
    seeds = list(seeds)
    if not settings:
        raise ValueError("settings must not be empty")
    if not seeds:
        raise ValueError("seeds must not be empty")
    exact = check_real("exact", exact)
    costs = torch.zeros(len(settings), len(seeds), dtype=torch.float64)
    errors = torch.zeros_like(costs)
    for i, setting in enumerate(settings):
        for j, seed in enumerate(seeds):
            r = run(setting, seed)
            costs[i, j] = _read(r, cost, "cost")
            errors[i, j] = abs(_read(r, estimate, "estimate") - exact)
    name = cost if isinstance(cost, str) else getattr(cost, "__name__", "cost")
    return BudgetCurve(settings=settings, costs=costs, errors=errors, cost_name=name)
