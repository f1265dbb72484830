"""Parallel tempering (replica exchange): replicas on a temperature ladder, any kernel object
inside, neighbour swaps with probability ``min(1, exp((β_i - β_j)(E(x_i) - E(x_j))))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._checks import check_real
from ..energies.base import Energy
from ..params import Param
from .kernel import Kernel, get, register
from .moves import uniform
from .state import Info, State


class Ladder(Energy):
    """The stacked replicas' energy ``β_r E(x)``: rows are ``(replica, chain)`` pairs."""

    def __init__(self, base: Energy, beta_rows: torch.Tensor) -> None:
        super().__init__(base.dim)
        self.base = base
        self.beta = beta_rows  # (R·N,)
        self.analytic_grad = base.analytic_grad

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta.to(x) * self.base(x)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self._value_and_grad(x)[1]

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, g = self.base.value_and_grad(x)
        b = self.beta.to(x)
        return b * e, b[:, None] * g


def geometric_ladder(n_replicas: int, max_temperature: float) -> torch.Tensor:
    """``T_r = T_max^{r/(R-1)}``, ``r = 0..R-1`` (so ``T_0 = 1``)."""
    r = torch.arange(n_replicas, dtype=torch.float64)
    return max_temperature ** (r / max(n_replicas - 1, 1))


@register
class ParallelTempering(Kernel):
    """Replica exchange: ``n_replicas`` copies of every chain at temperatures ``T_0 = 1 < … <
    T_max`` (geometric unless ``temperatures`` is given), each moved by ``kernel`` (any kernel
    object: MALA by default, HMC, KineticLangevin, RWM, ULA, …) with step ``ε·T_r`` (the step
    that keeps MALA's acceptance on a Gaussian independent of T), then neighbour swaps on
    alternating even/odd pairs. Momenta, where the kernel has them, travel with their
    positions (their law ``N(0, I)`` is the same at every temperature). A Trace keeps the
    ``T = 1`` replica; ``trace.extras`` has the swap acceptance per pair and round trips.

    ``step_size`` defaults to the inner kernel's own.
    """

    name = "pt"
    params = (Param("step_size", 0.05, 1e-4, 2.0, log=True, doc="kernel step ε at T = 1"),
              Param("n_replicas", 6, 2, 32, integer=True, doc="replicas on the ladder"),
              Param("max_temperature", 20.0, 1.5, 1000.0, log=True, doc="hottest temperature"))

    def __init__(self, kernel: Kernel | str | None = None,
                 temperatures: Sequence[float] | None = None, **hyper: Any) -> None:
        if kernel is None:
            kernel = get("mala")
        elif isinstance(kernel, str):
            kernel = get(kernel)
        if not isinstance(kernel, Kernel) or isinstance(kernel, ParallelTempering):
            raise ValueError("kernel must be a kernel object such as el.samplers.MALA() (not "
                             f"parallel tempering itself), got {kernel!r}")
        if temperatures is not None:
            t = [check_real("temperatures", v, gt=0.0) for v in temperatures]
            if len(t) < 2 or t[0] != 1.0 or any(b <= a for a, b in zip(t, t[1:], strict=False)):
                raise ValueError("temperatures must start at 1.0 and increase strictly, "
                                 f"got {list(temperatures)}")
            hyper.setdefault("n_replicas", len(t))
            hyper.setdefault("max_temperature", t[-1])
        if "step_size" not in hyper and "step_size" in kernel.hyper:
            hyper["step_size"] = kernel.hyper["step_size"]
        super().__init__(**hyper)
        self.kernel = kernel
        self.uses_grad = kernel.uses_grad
        self.float_state = kernel.float_state
        self.temperatures = (torch.tensor(t, dtype=torch.float64) if temperatures is not None
                             else geometric_ladder(self.n_replicas, self.max_temperature))
        if len(self.temperatures) != self.n_replicas:
            raise ValueError(f"n_replicas={self.n_replicas} does not match "
                             f"{len(self.temperatures)} temperatures")

    def __repr__(self) -> str:
        return (f"ParallelTempering(kernel={self.kernel!r}, step_size={self.step_size:g}, "
                f"temperatures={[round(float(t), 3) for t in self.temperatures]})")

    def init_cost(self) -> Info:
        return self.kernel.init_cost()

    # -- state --------------------------------------------------------------------------
    def init(self, energy: Energy, x: torch.Tensor, gen: torch.Generator) -> State:
        x = self.check_input(energy, x)
        r, n = self.n_replicas, x.shape[0]
        temps = self.temperatures.to(device=x.device)
        fdt = x.dtype if x.is_floating_point() else torch.get_default_dtype()  # spins: β, ε float
        beta_rows = (1.0 / temps).repeat_interleave(n).to(fdt)
        ladder = Ladder(energy, beta_rows)
        inner = self.kernel.init(ladder, x.repeat(r, 1), gen)
        eps_rows = (self.step_size * temps).repeat_interleave(n)[:, None].to(fdt)
        walker = torch.arange(r, device=x.device)[:, None].expand(r, n).clone()
        extra = {"ladder": ladder, "energy": energy, "n": n, "parity": 0,
                 "swap_tries": torch.zeros(r - 1, dtype=torch.float64),
                 "swap_accepts": torch.zeros(r - 1, dtype=torch.float64),
                 "walker": walker, "last_end": torch.full((r, n), -1, device=x.device),
                 "round_trips": 0}
        return inner.replace(step_size=eps_rows, extra=extra)

    def view(self, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        n = state.extra["n"]
        return state.x[:n], state.energy[:n]  # T_0 = 1: β = 1 on these rows

    def replicas(self, state: State) -> torch.Tensor:
        """Positions of every replica: ``(R, N, D)``, coldest first."""
        return state.x.view(self.n_replicas, state.extra["n"], -1)

    def trace_extras(self, state: State) -> dict[str, Any]:
        ex = state.extra
        tries = ex["swap_tries"].clamp_min(1)
        return {"temperatures": self.temperatures.tolist(),
                "swap_acceptance": (ex["swap_accepts"] / tries).tolist(),
                "round_trips": int(ex["round_trips"])}

    # -- one transition: a kernel move at every temperature, then neighbour swaps -----------
    def step(self, energy: Energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        ex = state.extra
        if energy is not ex["energy"]:
            raise ValueError("ParallelTempering.step needs the energy it was initialised with")
        state, info = self.kernel.step(ex["ladder"], state, gen)
        return self._swap(state, gen), info

    def _swap(self, state: State, gen: torch.Generator) -> State:
        ex = dict(state.extra)
        r, n = self.n_replicas, ex["n"]
        b_rows = ex["ladder"].beta.to(state.energy)
        beta = b_rows.view(r, n)
        raw_e = (state.energy / b_rows).view(r, n)
        start = ex["parity"]
        ex["parity"] = 1 - start
        lo = torch.arange(start, r - 1, 2, device=state.x.device)
        if lo.numel() == 0:
            return state.replace(extra=ex)
        hi = lo + 1
        log_a = (beta[lo] - beta[hi]) * (raw_e[lo] - raw_e[hi])  # (pairs, N)
        accept = uniform(log_a.shape, log_a, gen).log_() < log_a
        ex["swap_tries"] = ex["swap_tries"].clone()
        ex["swap_accepts"] = ex["swap_accepts"].clone()
        ex["swap_tries"][lo.cpu()] += n
        ex["swap_accepts"][lo.cpu()] += accept.sum(1).double().cpu()
        perm = torch.arange(r, device=state.x.device)[:, None].expand(r, n).clone()
        perm[lo] = torch.where(accept, hi[:, None].expand_as(accept), perm[lo])
        perm[hi] = torch.where(accept, lo[:, None].expand_as(accept), perm[hi])
        idx = (perm * n + torch.arange(n, device=state.x.device)).reshape(-1)
        moved = state.take(idx)  # positions (and momenta) change replica; rescale to β_new
        scale = b_rows / b_rows[idx]
        grad = None if moved.grad is None else moved.grad * scale[:, None]
        walker = ex["walker"].gather(0, perm)
        ex["walker"] = walker
        ex["round_trips"] = ex["round_trips"] + self._round_trips(ex, walker)
        return moved.replace(energy=moved.energy * scale, grad=grad,
                             step_size=state.step_size, extra=ex)

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

