"""Conditional sampling as energies, so that every kernel and the chain driver work unchanged.

- ``Clamped(energy, mask, observed)``: the conditional ``p(x_free | x_obs) ∝ exp(-E(x))`` over
  the free coordinates only (inpainting: the observed pixels are never touched by a sampler,
  so they stay exactly as given);
- ``Denoising(energy, noisy, noise_sd)``: the posterior ``p(x | y) ∝ exp(-E(x)) N(y; x, σ² I)``
  of a clean ``x`` given a noisy observation ``y = x + σ ε`` (denoising).

Observations may differ per chain (one row per chain: chain ``i`` conditions on row ``i``) or
be shared (one row for every chain). Per-row observations tie chains to rows, so they are
meant for the chain driver (``Chain``/``run``); a particle method that resamples
(``SMC``) or a warm-up that restarts stuck chains would move a chain onto another row's
observation.
"""

from __future__ import annotations

import torch

from .._checks import check_real
from .base import Energy


def _rows(name: str, t: object, dim: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of shape (D,) or (N, D) with D = {dim}, "
                         f"got {type(t).__name__}")
    t = t.detach()
    if t.ndim > 2:
        t = t.reshape(t.shape[0], -1)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (D,) or (N, D) with D = {dim} (images may "
                         f"be (N, C, H, W)), got {tuple(t.shape)}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite values (NaN or ±inf); every observed value "
                         "must be finite")
    return t


def _check_rows(owner: str, n_obs: int, x: torch.Tensor) -> None:
    if n_obs != 1 and x.shape[0] != n_obs:
        raise ValueError(f"{owner} holds one observation per chain ({n_obs} rows) but x has "
                         f"{x.shape[0]} rows; run exactly {n_obs} chains, or give one shared "
                         "observation")


class Clamped(Energy):
    """``E_c(z) = E(merge(z))``: ``energy`` with the coordinates where ``mask`` is ``True``
    clamped to ``observed``; ``z: (N, F)`` holds the ``F`` free coordinates.

    ``mask``: bool ``(D,)`` (or image-shaped), ``True`` = observed, shared by every chain.
    ``observed``: ``(D,)`` / ``(1, D)`` shared, or ``(N, D)`` one row per chain (only the
    masked entries are read). ``merge(z)`` returns full rows ``(N, D)`` whose observed
    entries are exactly ``observed``; ``free(x)`` extracts the free coordinates (e.g. to start
    chains). Gradients by autograd through ``energy`` (its parameters are not touched).
    """

    def __init__(self, energy: Energy, mask: torch.Tensor, observed: torch.Tensor) -> None:
        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be an ebmlab Energy, got {type(energy).__name__}")
        d = energy.dim
        if not isinstance(mask, torch.Tensor) or mask.numel() != d:
            raise ValueError(f"mask must be a bool tensor with D = {d} entries (True = "
                             f"observed), got {getattr(mask, 'shape', type(mask).__name__)}")
        m = mask.reshape(-1)
        if m.dtype != torch.bool:
            if not bool(((m == 0) | (m == 1)).all()):
                raise ValueError("mask must be boolean (or 0/1): True/1 marks observed entries")
            m = m.bool()
        n_free = int((~m).sum())
        if n_free == 0:
            raise ValueError("mask observes every coordinate: nothing is left to sample")
        super().__init__(n_free)
        self.energy = energy
        obs = _rows("observed", observed, d)
        self.register_buffer("mask", m.clone())
        self.register_buffer("observed", obs.clone())
        self.register_buffer("free_index", torch.nonzero(~m).squeeze(1))

    @property
    def n_rows(self) -> int:
        return self.observed.shape[0]

    def merge(self, z: torch.Tensor) -> torch.Tensor:
        """Full rows ``(N, D)``: ``observed`` where ``mask``, ``z`` elsewhere."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"z must have shape (N, {self.dim}) (the free coordinates), got "
                             f"{getattr(z, 'shape', type(z).__name__)}")
        _check_rows("Clamped", self.n_rows, z)
        obs = self.observed.to(dtype=z.dtype, device=z.device)
        full = obs.expand(z.shape[0], -1).clone()
        return full.index_copy(1, self.free_index.to(z.device), z)

    def free(self, x: torch.Tensor) -> torch.Tensor:
        """The free coordinates ``(N, F)`` of full rows ``x: (N, D)``."""
        x = _rows("x", x, self.energy.dim)
        return x[:, self.free_index.to(x.device)]

    def _validate(self, x: object) -> None:
        super()._validate(x)
        _check_rows("Clamped", self.n_rows, x)

    def _energy(self, z: torch.Tensor) -> torch.Tensor:
        return self.energy(self.merge(z))


class Denoising(Energy):
    """``E_y(x) = E(x) + ‖x - y‖² / (2σ²)``: the posterior of clean rows given noisy rows
    ``noisy = y`` observed with Gaussian noise of standard deviation ``noise_sd = σ``.

    ``noisy``: ``(D,)`` shared or ``(N, D)`` one row per chain. Its minimiser trades the
    prior's energy against closeness to ``y``; its samples are posterior draws, whose mean
    is the minimum-mean-squared-error denoiser under the model."""

    def __init__(self, energy: Energy, noisy: torch.Tensor, noise_sd: float) -> None:
        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be an ebmlab Energy, got {type(energy).__name__}")
        super().__init__(energy.dim)
        self.energy = energy
        self.noise_sd = check_real("noise_sd", noise_sd, gt=0.0)
        self.register_buffer("noisy", _rows("noisy", noisy, energy.dim).clone())

    def _validate(self, x: object) -> None:
        super()._validate(x)
        _check_rows("Denoising", self.noisy.shape[0], x)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        y = self.noisy.to(dtype=x.dtype, device=x.device)
        r = x - y
        return self.energy(x) + 0.5 * (r * r).sum(-1) / self.noise_sd**2
