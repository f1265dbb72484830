"""scikit-learn's bundled 8×8 handwritten digits (1,797 images, shipped inside the package:
no download), scaled to [0, 1] or binarised, with a seeded train/test split."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_real, make_generator


@dataclass
class Digits:
    x_train: torch.Tensor  # (n_train, 64) in [0, 1] (or {0, 1})
    y_train: torch.Tensor  # (n_train,)
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(binarize: bool = False, test_fraction: float = 0.2, seed: int = 0,
           threshold: float = 0.5) -> Digits:
    """The digits as ``(N, 64)`` tensors; ``binarize`` thresholds the [0, 1] intensities."""
    test_fraction = check_real("test_fraction", test_fraction, gt=0.0, lt=1.0)
    threshold = check_real("threshold", threshold, gt=0.0, lt=1.0)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("digits() needs scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.get_default_dtype()) / 16.0
    if binarize:
        x = (x > threshold).to(x.dtype)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=make_generator(seed))
    n_test = int(round(test_fraction * len(x)))
    te, tr = perm[:n_test], perm[n_test:]
    return Digits(x[tr], y[tr], x[te], y[te])


def split_by_class(data: Digits, in_classes, name: str = "in_classes"
                   ) -> tuple[Digits, Digits]:
    """``(inside, outside)``: the digits whose label is in ``in_classes`` and the rest, with
    the labels of ``inside`` re-indexed to ``0..len(in_classes)-1`` in the order given (those
    of ``outside`` kept). ``in_classes`` must be a non-empty list of distinct labels in 0–9
    that leaves at least one class out; otherwise a ``ValueError`` naming ``name``."""
    try:
        vals = list(in_classes)
    except TypeError:
        raise ValueError(f"{name} must be a list of digit labels in 0-9, got "
                         f"{in_classes!r}") from None
    if not vals:
        raise ValueError(f"{name} must name at least one digit class (labels 0-9), got []")
    if any(isinstance(v, bool) or not isinstance(v, (int, torch.Tensor)) or not 0 <= int(v) <= 9
           for v in vals):
        raise ValueError(f"{name} must hold integer labels in 0-9, got {vals!r}")
    vals = [int(v) for v in vals]
    if len(set(vals)) != len(vals):
        raise ValueError(f"{name} must not repeat a class, got {vals!r}")
    if len(vals) == 10:
        raise ValueError(f"{name} must leave at least one of the ten classes out (they are "
                         f"the out-of-distribution digits), got all ten: {vals!r}")
    classes = torch.tensor(vals)
    remap = torch.full((10,), -1, dtype=torch.long)
    remap[classes] = torch.arange(len(vals))

    def part(x: torch.Tensor, y: torch.Tensor, inside: bool):
        m = torch.isin(y, classes)
        m = m if inside else ~m
        return x[m], (remap[y[m]] if inside else y[m])

    xi, yi = part(data.x_train, data.y_train, True)
    xti, yti = part(data.x_test, data.y_test, True)
    xo, yo = part(data.x_train, data.y_train, False)
    xto, yto = part(data.x_test, data.y_test, False)
    return Digits(xi, yi, xti, yti), Digits(xo, yo, xto, yto)
