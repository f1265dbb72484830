"""Parallel tempering (replica exchange): replicas on a temperature ladder, any registered
kernel inside, neighbour swaps with probability ``min(1, exp((β_i - β_j)(E(x_i) - E(x_j))))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._checks import check_real
from ..energies.base import Energy, Param
from .base import Sampler, State, get, register


class Ladder(Energy):
    """The stacked replicas' energy ``β_r E(x)``: rows are ``(replica, chain)`` pairs."""

    def __init__(self, base: Energy, beta_rows: torch.Tensor) -> None:
        super().__init__(base.dim)
        self.base = base
        self.beta = beta_rows  # (R·N,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta.to(x) * self.base(x)

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, g = self.base.value_and_grad(x)
        b = self.beta.to(x)
        return b * e, b[:, None] * g

    @property
    def has_analytic_grad(self) -> bool:
        return self.base.has_analytic_grad

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_and_grad(x)[1]


def geometric_ladder(n_replicas: int, max_temperature: float) -> torch.Tensor:
    """``T_r = T_max^{r/(R-1)}``, ``r = 0..R-1`` (so ``T_0 = 1``)."""
    r = torch.arange(n_replicas, dtype=torch.float64)
    return max_temperature ** (r / max(n_replicas - 1, 1))


@register
class ParallelTempering(Sampler):
    """Replica exchange: ``n_replicas`` copies of every chain at temperatures ``T_0 = 1 < … <
    T_max`` (geometric unless ``temperatures`` is given), each moved by ``kernel`` (``"mala"``
    by default) with step ``ε·T_r`` (the step that keeps MALA's acceptance on a Gaussian
    independent of T), then neighbour swaps on alternating even/odd pairs. A Trace keeps the
    ``T = 1`` replica; ``trace.extras`` has the swap acceptance per pair and round trips."""

    name = "pt"
    uses_grad = True
    params = (Param("step_size", 0.05, 1e-4, 2.0, log=True, doc="kernel step ε at T = 1"),
              Param("n_replicas", 6, 2, 32, integer=True, doc="replicas on the ladder"),
              Param("max_temperature", 20.0, 1.5, 1000.0, log=True, doc="hottest temperature"))

    def __init__(self, kernel: str = "mala", temperatures: Sequence[float] | None = None,
                 **hyper: Any) -> None:
        if kernel not in ("mala", "rwm", "ula", "hmc"):
            raise ValueError(f"kernel must be one of 'mala', 'rwm', 'ula', 'hmc', got {kernel!r}")
        if temperatures is not None:
            t = [check_real("temperatures", v, gt=0.0) for v in temperatures]
            if len(t) < 2 or t[0] != 1.0 or any(b <= a for a, b in zip(t, t[1:], strict=False)):
                raise ValueError("temperatures must start at 1.0 and increase strictly, "
                                 f"got {list(temperatures)}")
            hyper.setdefault("n_replicas", len(t))
            hyper.setdefault("max_temperature", t[-1])
        super().__init__(**hyper)
        self.kernel_name = kernel
        self.kernel = get(kernel, step_size=self.step_size,
                          **({"adapt": 0} if kernel != "ula" else {}))
        self.uses_grad = self.kernel.uses_grad
        self.temperatures = (torch.tensor(t, dtype=torch.float64) if temperatures is not None
                             else geometric_ladder(self.n_replicas, self.max_temperature))
        if len(self.temperatures) != self.n_replicas:
            raise ValueError(f"n_replicas={self.n_replicas} does not match "
                             f"{len(self.temperatures)} temperatures")

    def __repr__(self) -> str:
        return (f"ParallelTempering(kernel={self.kernel_name!r}, step_size={self.step_size:g}, "
                f"temperatures={[round(float(t), 3) for t in self.temperatures]})")

    # -- state --------------------------------------------------------------------------
    def init(self, energy: Energy, x0: torch.Tensor, seed=0, step_size=None) -> State:
        if not isinstance(x0, torch.Tensor) or x0.ndim != 2:
            raise ValueError(f"x0 must be a tensor of shape (N, {energy.dim}), got "
                             f"{getattr(x0, 'shape', type(x0).__name__)}")
        r, n = self.n_replicas, x0.shape[0]
        temps = self.temperatures.to(device=x0.device)
        beta_rows = (1.0 / temps).repeat_interleave(n).to(x0.dtype)
        ladder = Ladder(energy, beta_rows)
        x_all = x0.detach().repeat(r, 1)
        inner = self.kernel.init(ladder, x_all, seed)
        eps_rows = (self.step_size * temps).repeat_interleave(n)[:, None].to(x0.dtype)
        walker = torch.arange(r, device=x0.device)[:, None].expand(r, n).clone()
        extra = {"ladder": ladder, "energy": energy, "n": n, "parity": 0,
                 "swap_tries": torch.zeros(r - 1, dtype=torch.float64),
                 "swap_accepts": torch.zeros(r - 1, dtype=torch.float64),
                 "walker": walker, "last_end": torch.full((r, n), -1, device=x0.device),
                 "round_trips": 0}
        return inner.replace(step_size=eps_rows, extra=extra)

    def view(self, state: State):
        n = state.extra["n"]
        return state.x[:n], state.energy[:n], state.accept_prob[:n]

    def trace_extras(self, state: State) -> dict[str, Any]:
        ex = state.extra
        tries = ex["swap_tries"].clamp_min(1)
        return {"temperatures": self.temperatures.tolist(),
                "swap_acceptance": (ex["swap_accepts"] / tries).tolist(),
                "round_trips": int(ex["round_trips"])}

    # -- one transition: a kernel move at every temperature, then neighbour swaps -----------
    def step(self, energy: Energy, state: State) -> State:
        ex = state.extra
        if energy is not ex["energy"]:
            raise ValueError("ParallelTempering.step needs the energy it was initialised with")
        ladder = ex["ladder"]
        state = self.kernel.step(ladder, state)
        return self._swap(state)

    def _swap(self, state: State) -> State:
        ex = dict(state.extra)
        r, n = self.n_replicas, ex["n"]
        beta = ex["ladder"].beta.view(r, n)
        raw_e = (state.energy / ex["ladder"].beta).view(r, n)
        start = ex["parity"]
        ex["parity"] = 1 - start
        lo = torch.arange(start, r - 1, 2, device=state.x.device)
        if lo.numel() == 0:
            return state.replace(extra=ex)
        hi = lo + 1
        log_a = (beta[lo] - beta[hi]) * (raw_e[lo] - raw_e[hi])  # (pairs, N)
        u = torch.rand(log_a.shape, generator=state.gen, dtype=log_a.dtype,
                       device=log_a.device)
        accept = u.log_() < log_a
        ex["swap_tries"] = ex["swap_tries"].clone()
        ex["swap_accepts"] = ex["swap_accepts"].clone()
        ex["swap_tries"][lo.cpu()] += n
        ex["swap_accepts"][lo.cpu()] += accept.sum(1).double().cpu()
        perm = torch.arange(r, device=state.x.device)[:, None].expand(r, n).clone()
        perm[lo] = torch.where(accept, hi[:, None].expand_as(accept), perm[lo])
        perm[hi] = torch.where(accept, lo[:, None].expand_as(accept), perm[hi])
        idx = (perm * n + torch.arange(n, device=state.x.device)).reshape(-1)
        b_rows = ex["ladder"].beta
        x = state.x[idx]
        raw = (state.energy / b_rows)[idx]
        g = None if state.grad is None else (state.grad / b_rows[:, None])[idx] * b_rows[:, None]
        walker = ex["walker"].gather(0, perm)
        ex["walker"] = walker
        ex["round_trips"] = ex["round_trips"] + self._round_trips(ex, walker)
        return state.replace(x=x, energy=raw * b_rows, grad=g, extra=ex)

    @staticmethod
    def _round_trips(ex: dict, walker: torch.Tensor) -> int:
        """A walker completes a round trip when it reaches the coldest replica after having
        visited the hottest since it last left the coldest."""
        last = ex["last_end"].clone()  # indexed by walker id, per chain
        r = walker.shape[0]
        cold, hot = walker[0], walker[r - 1]  # walker ids at each end, (N,)
        cols = torch.arange(walker.shape[1], device=walker.device)
        trips = int((last[cold, cols] == 1).sum())
        last[cold, cols] = 0
        last[hot, cols] = 1
        ex["last_end"] = last
        return trips

