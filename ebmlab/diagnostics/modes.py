"""Mass per mode: how samples split between an energy's declared modes."""

from __future__ import annotations

import torch

from ..energies.base import Energy


def mass_per_mode(x: torch.Tensor, energy: Energy | torch.Tensor) -> torch.Tensor:
    """Fraction of the samples ``x: (N, D)`` nearest (Euclidean) to each mode: ``-> (K,)``.

    ``energy`` is an ``Energy`` that declares ``modes()`` or a ``(K, D)`` tensor of centres.
    Rows of ``x`` with a non-finite value belong to no mode, so the fractions then sum to
    less than 1. Compare with ``energy.mode_weights()`` (equal up to the overlap between
    modes) or, for the exact mass of the same nearest-mode cells of a 2-D energy,
    ``el.diagnostics.basin_masses(energy, energy.modes())``.
    """
    if isinstance(energy, Energy):
        modes = energy.modes()
        if modes is None:
            raise ValueError(f"{type(energy).__name__} declares no modes; pass the centres "
                             "as a (K, D) tensor instead")
    elif isinstance(energy, torch.Tensor):
        modes = energy
    else:
        raise TypeError(f"energy must be an Energy or a (K, D) tensor of modes, "
                        f"got {type(energy).__name__}")
    if modes.ndim != 2 or modes.shape[0] < 1:
        raise ValueError(f"modes must have shape (K, D) with K >= 1, got {tuple(modes.shape)}")
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != modes.shape[1]:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (N, {modes.shape[1]}) to match the "
                         f"modes, got {got}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one sample, got shape (0, D)")
    x = x.detach()
    if not x.is_floating_point():
        x = x.double()
    m = modes.detach().to(device=x.device, dtype=x.dtype)
    ok = torch.isfinite(x).all(1)
    d = torch.cdist(x[ok], m, compute_mode="donot_use_mm_for_euclid_dist")  # exact distances
    counts = torch.bincount(d.argmin(1), minlength=m.shape[0])
    return counts.double().cpu() / x.shape[0]
