"""The kernel interface and the registry of named kernels.

A kernel is an object holding its hyperparameters (declared ``Param``s, validated at
construction) with two pure methods:

- ``init(energy, x, gen) -> State``: evaluate the energy (and gradient) at ``x: (N, D)``;
- ``step(energy, state, gen) -> (State, Info)``: one transition of every chain.

Neither mutates its inputs; all randomness comes from ``gen``. ``kernel.run(...)`` hands the
kernel to the one chain driver (``ebmlab.samplers.driver``). Names (``"mala"``) exist for the
registry and the widgets; code passes kernel objects.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..params import Param, validate_params
from .state import Info, State, evaluate


class Kernel:
    """Base class. Subclasses set ``name``, ``params``, ``uses_grad`` and implement ``step``
    (and ``init`` when they carry more than position, energy and gradient).

    ``adapts``: the kernel has ``step_size``, ``target_accept`` and ``adapt`` and the driver
    tunes ``ε`` by dual averaging during warm-up. ``float_state``: ``x`` must be floating
    point (Langevin/HMC); discrete kernels set it to ``False``.
    """

    name: ClassVar[str] = "kernel"
    params: ClassVar[tuple[Param, ...]] = ()
    uses_grad: ClassVar[bool] = True
    adapts: ClassVar[bool] = False
    float_state: ClassVar[bool] = True

    def __init__(self, **hyper: Any) -> None:
        self.hyper: dict[str, Any] = validate_params(type(self).__name__, self.params, hyper)
        for k, v in self.hyper.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    def with_params(self, **changes: Any) -> Kernel:
        """A copy with some hyperparameters changed (validated again)."""
        return type(self)(**(self.hyper | changes))

    def with_step_size(self, step_size: float) -> Kernel:
        """A copy with the given step size and adaptation off (e.g. ``trace.step_size``)."""
        changes: dict[str, Any] = {"step_size": step_size}
        if "adapt" in self.hyper:
            changes["adapt"] = False
        return self.with_params(**changes)

    # -- the kernel ----------------------------------------------------------------------
    def check_input(self, energy, x: torch.Tensor) -> torch.Tensor:
        from ..energies.base import Energy

        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be an ebmlab Energy, got {type(energy).__name__}")
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != energy.dim:
            raise ValueError(f"x0 must be a tensor of shape (N, {energy.dim}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if self.float_state and not x.is_floating_point():
            raise ValueError(f"x0 must be floating point for {type(self).__name__}, got dtype "
                             f"{x.dtype}")
        return x.detach()

    def init(self, energy, x: torch.Tensor, gen: torch.Generator) -> State:
        """The state at ``x: (N, D)``: one evaluation of ``E`` (and ``∇E`` if used)."""
        x = self.check_input(energy, x)
        with torch.no_grad():
            e, g, aux = evaluate(energy, x, self.uses_grad)
        bad = ~torch.isfinite(e)
        if bad.any():
            raise ValueError(f"x0 has non-finite energy in {int(bad.sum())} of {x.shape[0]} "
                             "chains; start inside the support of the energy")
        return State(x=x, energy=e, grad=g, aux=aux,
                     step_size=float(self.hyper.get("step_size", 0.0)))

    def init_cost(self) -> Info:
        """What ``init`` evaluated (the driver adds it to the run's cost)."""
        one = torch.ones(1)
        return Info(accept_prob=one, n_grad=int(self.uses_grad), n_energy=int(not self.uses_grad))

    def step(self, energy, state: State, gen: torch.Generator) -> tuple[State, Info]:
        raise NotImplementedError

    def view(self, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        """What a Trace records: positions ``(n, D)`` and energies ``(n,)`` (parallel
        tempering keeps the ``T = 1`` replica)."""
        return state.x, state.energy

    def view_rows(self, state: State) -> int:
        return state.x.shape[0]

    def trace_extras(self, state: State) -> dict[str, Any]:
        return {}

    def divergence_message(self, step: int, n_bad: int, n_chains: int,
                           step_size: float) -> str:
        return (f"{type(self).__name__} diverged at step {step}: {n_bad} of {n_chains} chains "
                f"became non-finite. Likely cause: step_size={step_size:.4g} is too large for "
                "this energy; reduce it (or use an adjusted sampler such as MALA/HMC), or pass "
                "on_divergence='drop' to freeze the bad chains.")

    def run(self, energy, x0: torch.Tensor | None = None, n_chains: int | None = None,
            n_steps: int = 1000, warmup: int = 0, thin: int = 1, seed: int | None = 0,
            init: str = "gaussian", callback=None, on_divergence: str = "raise",
            progress: bool = False):
        """Run the chains with the driver: see ``ebmlab.samplers.driver.run``."""
        from .driver import run

        return run(self, energy, x0=x0, n_chains=n_chains, n_steps=n_steps, warmup=warmup,
                   thin=thin, seed=seed, init=init, callback=callback,
                   on_divergence=on_divergence, progress=progress)


_REGISTRY: dict[str, type[Kernel]] = {}


def register(cls: type[Kernel]) -> type[Kernel]:
    """Class decorator: list a kernel by its ``name`` (widgets build controls from ``params``)."""
    if cls.name in _REGISTRY:
        raise ValueError(f"a kernel named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def names(state: str | None = None) -> list[str]:
    """Registered kernel names; ``state="continuous"`` (float ``x``: Langevin, HMC, …) or
    ``"discrete"`` (spins, binary units: Gibbs, Wolff, …) keeps one kind."""
    if state is None:
        return list(_REGISTRY)
    if state not in ("continuous", "discrete"):
        raise ValueError(f"state must be 'continuous', 'discrete' or None, got {state!r}")
    return [n for n, k in _REGISTRY.items() if k.float_state == (state == "continuous")]


def spec(name: str) -> type[Kernel]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown sampler kernel {name!r}; registered: "
                         f"{', '.join(_REGISTRY)}") from None


def get(name: str, **hyper: Any) -> Kernel:
    return spec(name)(**hyper)


def live_params(kernel: type[Kernel] | Kernel) -> tuple[Param, ...]:
    """The parameters a widget may change while chains run."""
    return tuple(p for p in kernel.params if p.live)
