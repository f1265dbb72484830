"""Negative samples for maximum-likelihood training: short-run Langevin dynamics (the ULA
kernel, run by the one chain driver) and a replay buffer (persistent chains), as in the
well-known image-EBM recipes."""

from __future__ import annotations

import torch

from .._checks import check_int, check_real
from ..energies.base import Energy
from ..samplers import ULA, Chain, SamplerDivergence


class ModuleEnergy(Energy):
    """Any ``torch.nn.Module`` mapping ``(N, D) -> (N,)`` seen as an ``Energy`` (autograd
    gradients), so the chain driver can sample it."""

    def __init__(self, module: torch.nn.Module, dim: int) -> None:
        super().__init__(dim)
        self.module = module

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def as_energy(model: torch.nn.Module, dim: int) -> Energy:
    return model if isinstance(model, Energy) else ModuleEnergy(model, dim)


def langevin_negatives(energy: torch.nn.Module, x: torch.Tensor, n_steps: int = 20,
                       step_size: float = 0.01, noise_scale: float | None = None,
                       grad_clip: float | None = None, gen: torch.Generator | None = None,
                       box: tuple[float, float] | None = None) -> torch.Tensor:
    """``n_steps`` of ``x ← x - ε·clip(∇E(x)) + σ ξ`` from ``x: (N, D)``, by the ULA kernel
    (no gradient reaches the parameters). ``σ = √(2ε)`` (``noise_scale=None``, the default)
    is exact Langevin; a smaller ``noise_scale`` samples ``e^{-E/T}`` with
    ``T = σ²/(2ε) < 1`` — a biased, sharpened target. ``grad_clip`` caps each chain's
    gradient norm; ``box`` clamps coordinates."""
    n_steps = check_int("n_steps", n_steps, ge=0)
    step_size = check_real("step_size", step_size, gt=0.0)
    temperature = 1.0
    if noise_scale is not None:
        noise_scale = check_real("noise_scale", noise_scale, gt=0.0)
        temperature = noise_scale**2 / (2.0 * step_size)
    clip = 0.0 if grad_clip is None else check_real("grad_clip", grad_clip, gt=0.0)
    if n_steps == 0:
        return x.detach().clone()
    kernel = ULA(step_size=step_size, temperature=temperature, grad_clip=clip, bounds=box)
    target = as_energy(energy, x.shape[1])
    was = [p.requires_grad for p in energy.parameters()]
    for p in energy.parameters():
        p.requires_grad_(False)
    try:
        if gen is None:
            gen = torch.Generator(device=x.device)
            gen.seed()
        try:
            chain = Chain(kernel, target, x.detach(), gen)
        except ValueError as err:  # a non-finite energy at the starts: the model broke
            raise SamplerDivergence(f"negative sampler could not start: {err}") from err
        chain.advance(n_steps)
    finally:
        for p, w in zip(energy.parameters(), was, strict=True):
            p.requires_grad_(w)
    return chain.state.x.detach()


class LangevinRecipe:
    """What objectives with Langevin negatives from a box-initialised replay buffer share
    (``ContrastiveDivergence``, ``JEM``): they set ``step_size`` ``ε``, ``noise_scale`` ``σ``
    (``None``: the exact ``√(2ε)``) and ``box``."""

    step_size: float
    noise_scale: float | None
    box: tuple[float, float]

    @property
    def effective_temperature(self) -> float:
        """``T_eff = σ²/(2ε)``: 1 for the exact noise; the chains target ``exp(-E/T_eff)``."""
        if self.noise_scale is None:
            return 1.0
        return self.noise_scale**2 / (2 * self.step_size)

    def noise(self, n: int, dim: int, gen, like: torch.Tensor) -> torch.Tensor:
        lo, hi = self.box
        u = torch.rand(n, dim, generator=gen, dtype=like.dtype)
        return (lo + (hi - lo) * u).to(like.device)


class ReplayBuffer:
    """Persistent negatives: ``sample(n)`` draws ``n`` stored states, re-initialising a
    fraction ``reinit`` of them from ``init_fn`` (noise), and ``push`` writes the updated
    states back. Capacity-bounded; starts full of ``init_fn`` samples."""

    def __init__(self, capacity: int, init_fn, reinit: float = 0.05,
                 gen: torch.Generator | None = None) -> None:
        self.capacity = check_int("capacity", capacity, ge=1)
        self.reinit = check_real("reinit", reinit, ge=0.0, le=1.0)
        self.init_fn = init_fn
        self.gen = gen
        self.data = init_fn(self.capacity).detach().clone()
        self._idx: torch.Tensor | None = None

    def sample(self, n: int) -> torch.Tensor:
        n = check_int("n", n, ge=1)
        idx = torch.randint(self.capacity, (n,), generator=self.gen)
        x = self.data[idx].clone()
        fresh = torch.rand(n, generator=self.gen) < self.reinit
        if bool(fresh.any()):
            x[fresh] = self.init_fn(int(fresh.sum())).to(x)
        self._idx = idx
        return x

    def push(self, x: torch.Tensor) -> None:
        """Store the updated versions of the states returned by the last ``sample``."""
        if self._idx is None or len(self._idx) != len(x):
            raise ValueError("push() takes the updated batch of the last sample() call")
        self.data[self._idx] = x.detach().to(self.data)
        self._idx = None
