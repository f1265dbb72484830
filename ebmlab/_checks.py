"""Argument validation shared by every constructor: errors name the parameter,
the allowed range and the value received, and are raised before any work starts."""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch


def _fmt(value: object) -> str:
    return repr(value) if not isinstance(value, float) else f"{value:g}"


def check_real(
    name: str,
    value: object,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> float:
    """Return ``value`` as a finite float, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {_fmt(v)}")
    if gt is not None and not v > gt:
        raise ValueError(f"{name} must be > {gt:g}, got {_fmt(v)}")
    if ge is not None and not v >= ge:
        raise ValueError(f"{name} must be >= {ge:g}, got {_fmt(v)}")
    if lt is not None and not v < lt:
        raise ValueError(f"{name} must be < {lt:g}, got {_fmt(v)}")
    if le is not None and not v <= le:
        raise ValueError(f"{name} must be <= {le:g}, got {_fmt(v)}")
    return v


def check_int(
    name: str, value: object, *, ge: int | None = None, le: int | None = None
) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if ge is not None and v < ge:
        raise ValueError(f"{name} must be >= {ge}, got {v}")
    if le is not None and v > le:
        raise ValueError(f"{name} must be <= {le}, got {v}")
    return v


def check_choice(name: str, value: object, choices: tuple) -> object:
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def make_generator(seed: int | torch.Generator | None, device: torch.device | str = "cpu"):
    """A seeded ``torch.Generator`` (``seed=None`` draws a fresh random seed)."""
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(check_int("seed", seed, ge=0))
    return gen
