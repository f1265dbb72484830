"""Negative samples for maximum-likelihood training: short-run Langevin dynamics and a replay
buffer (persistent chains), as in the well-known image-EBM recipes."""

from __future__ import annotations

import torch

from .._checks import check_int, check_real


def langevin_negatives(energy: torch.nn.Module, x: torch.Tensor, n_steps: int = 20,
                       step_size: float = 0.01, noise_scale: float | None = None,
                       grad_clip: float | None = None, gen: torch.Generator | None = None,
                       box: tuple[float, float] | None = None) -> torch.Tensor:
    """``x ← x - step_size · clip(∇E(x)) + noise_scale · ξ`` for ``n_steps`` (no gradient to
    the parameters). ``noise_scale = √(2 step_size)`` is exact Langevin; recipes often use a
    smaller noise. ``grad_clip`` caps each chain's gradient norm; ``box`` clamps coordinates."""
    n_steps = check_int("n_steps", n_steps, ge=0)
    step_size = check_real("step_size", step_size, gt=0.0)
    noise = (2 * step_size) ** 0.5 if noise_scale is None else check_real("noise_scale",
                                                                          noise_scale, ge=0.0)
    x = x.detach().clone()
    was = [p.requires_grad for p in energy.parameters()]
    for p in energy.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(n_steps):
            x.requires_grad_(True)
            with torch.enable_grad():
                (g,) = torch.autograd.grad(energy(x).sum(), x)
            x = x.detach()
            if grad_clip is not None:
                norm = torch.linalg.vector_norm(g, dim=-1, keepdim=True).clamp_min(1e-12)
                g = g * (grad_clip / norm).clamp(max=1.0)
            x = x - step_size * g
            if noise > 0:
                x = x + noise * torch.randn(x.shape, generator=gen, dtype=x.dtype,
                                            device=x.device)
            if box is not None:
                x = x.clamp(box[0], box[1])
    finally:
        for p, w in zip(energy.parameters(), was, strict=True):
            p.requires_grad_(w)
    return x.detach()


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
