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
