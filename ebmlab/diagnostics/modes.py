"""Mass per mode: how samples split between an energy's declared modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# -- mass per mode with its target and error, for traces, particles and weighted samples ---


@dataclass(frozen=True)
class ModeMasses:
    """How samples split between an energy's declared modes.

    ``mass: (K,)`` the (weighted) fraction nearest each mode; ``target: (K,)`` the declared
    ``energy.mode_weights()`` (``None`` when not declared or when centres were given);
    ``n_eff``: the sample size behind ``stderr`` (``N``, or the weights' ESS ``1/ΣW²``, or
    what you passed); ``stderr: (K,)`` binomial standard errors ``√(m(1-m)/n_eff)``, honest
    only for independent draws — for correlated MCMC draws pass the ESS as ``n_eff``.
    """

    mass: torch.Tensor
    target: torch.Tensor | None
    n_eff: float
    stderr: torch.Tensor

    @property
    def error(self) -> float:
        """``max_k |mass_k - target_k|`` (``nan`` without a target)."""
        if self.target is None:
            return float("nan")
        return float((self.mass - self.target).abs().max())

    @property
    def visited(self) -> int:
        """Modes holding at least one sample."""
        return int((self.mass > 0).sum())

    def within(self, tol: float) -> bool:
        """Every mode's mass within ``tol`` of its target."""
        return self.error < tol

    def __repr__(self) -> str:
        m = ", ".join(f"{float(v):.3f}" for v in self.mass)
        t = "" if self.target is None else f", error={self.error:.3f}"
        return f"ModeMasses([{m}]{t}, n_eff={self.n_eff:.0f})"


def _modes_of(energy: Energy | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(energy, Energy):
        modes = energy.modes()
        if modes is None:
            raise ValueError(f"{type(energy).__name__} declares no modes; pass the centres "
                             "as a (K, D) tensor instead")
        return modes, energy.mode_weights()
    if isinstance(energy, torch.Tensor):
        if energy.ndim != 2 or energy.shape[0] < 1:
            raise ValueError(f"modes must have shape (K, D) with K >= 1, got "
                             f"{tuple(energy.shape)}")
        return energy, None
    raise TypeError(f"energy must be an Energy or a (K, D) tensor of modes, "
                    f"got {type(energy).__name__}")


def nearest_mode(x: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    """Index of the nearest mode (Euclidean) for each row of ``x: (N, D)``; ``-1`` for rows
    with a non-finite value: ``-> (N,)`` long."""
    x = x.detach()
    if not x.is_floating_point():
        x = x.double()
    m = modes.detach().to(device=x.device, dtype=x.dtype)
    ok = torch.isfinite(x).all(1)
    out = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
    if ok.any():
        d = torch.cdist(x[ok], m, compute_mode="donot_use_mm_for_euclid_dist")
        out[ok] = d.argmin(1)
    return out


def mode_masses(samples: Any, energy: Energy | torch.Tensor,
                weights: torch.Tensor | None = None, n_eff: float | None = None
                ) -> ModeMasses:
    """Mass per declared mode of ``samples``, with the declared target and its error.

    ``samples``: ``(N, D)`` points, ``(S, N, D)`` draws (all pooled), a ``Trace`` (its kept
    samples) or a particle result (its final samples, weighted by ``weights()``).
    ``weights: (N,)`` non-negative importance weights (normalised here). ``energy``: an
    ``Energy`` declaring ``modes()``, or a ``(K, D)`` tensor of centres (then no target).
    Each sample counts for its nearest mode, as in ``mass_per_mode``; non-finite rows count
    for none.
    """
    modes, target = _modes_of(energy)
    if weights is None and hasattr(samples, "log_weights") and hasattr(samples, "weights"):
        weights = samples.weights()
    x = getattr(samples, "samples", samples)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"samples must be a tensor, a Trace or a particle result, got "
                        f"{type(samples).__name__}")
    if x.ndim == 3:
        x = x.reshape(-1, x.shape[-1])
    if x.ndim != 2 or x.shape[1] != modes.shape[1] or x.shape[0] == 0:
        raise ValueError(f"samples must have shape (N, {modes.shape[1]}) or (S, N, "
                         f"{modes.shape[1]}) with N >= 1, got {tuple(x.shape)}")
    idx = nearest_mode(x, modes).cpu()
    k = modes.shape[0]
    if weights is None:
        w = torch.ones(x.shape[0], dtype=torch.float64)
        ess = float(x.shape[0])
    else:
        w = torch.as_tensor(weights).detach().double().cpu().reshape(-1)
        if w.shape[0] != x.shape[0] or not bool(torch.isfinite(w).all()) or bool(
                (w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be {x.shape[0]} finite non-negative numbers with a "
                             "positive sum")
        w = w / w.sum()
        ess = float(1.0 / (w * w).sum())
        w = w * x.shape[0]
    ok = idx >= 0
    mass = torch.zeros(k, dtype=torch.float64).index_add_(0, idx[ok], w[ok]) / x.shape[0]
    n = ess if n_eff is None else float(n_eff)
    if not n > 0:
        raise ValueError(f"n_eff must be > 0, got {n_eff!r}")
    stderr = torch.sqrt(mass * (1.0 - mass) / n)
    tgt = None if target is None else target.detach().double().cpu()
    return ModeMasses(mass=mass, target=tgt, n_eff=n, stderr=stderr)


def mode_mass_path(samples: Any, energy: Energy | torch.Tensor) -> torch.Tensor:
    """Mass per mode at every recorded step: ``(S, N, D)`` draws (or a ``Trace``) ->
    ``(S, K)``; row ``s`` is how the ``N`` chains split between the modes at step ``s``."""
    modes, _ = _modes_of(energy)
    x = getattr(samples, "samples", samples)
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != modes.shape[1]:
        raise ValueError(f"samples must be a Trace or a tensor of shape (S, N, "
                         f"{modes.shape[1]}), got {getattr(x, 'shape', type(x).__name__)}")
    s, n, _ = x.shape
    idx = nearest_mode(x.reshape(-1, x.shape[2]), modes).cpu().reshape(s, n)
    k = modes.shape[0]
    out = torch.zeros(s, k + 1, dtype=torch.float64)
    out.scatter_add_(1, torch.where(idx >= 0, idx, k), torch.ones(s, n, dtype=torch.float64))
    return out[:, :k] / n


def settled_after(values: Any, tol: float) -> int | None:
    """The first index from which ``values`` (a sequence, e.g. an error per step) stays
    strictly below ``tol`` to the end, or ``None`` if its last value is not below it.
    Measures convergence over the whole final window, not at a first passage."""
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if v.numel() == 0:
        raise ValueError("values must not be empty")
    bad = torch.nonzero(~(v < tol)).reshape(-1)
    if bad.numel() == 0:
        return 0
    last_bad = int(bad[-1])
    return None if last_bad == v.numel() - 1 else last_bad + 1
