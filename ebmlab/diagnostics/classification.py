"""Classification and out-of-distribution metrics: AUROC, the false-positive rate at a fixed
true-positive rate, expected calibration error and the bins of a reliability diagram.

Scores follow one convention: **higher score = more in-distribution** (e.g. the maximum
softmax probability, or ``-E(x)``). The in-distribution set is the positive class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .._checks import check_int, check_real


def _scores(name: str, s: Any) -> torch.Tensor:
    t = torch.as_tensor(s).detach().cpu()
    if t.ndim != 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of scores, got shape "
                         f"{tuple(t.shape)}")
    t = t.double()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite; got {int((~torch.isfinite(t)).sum())} "
                         "non-finite value(s)")
    return t


def auroc(in_scores: Any, out_scores: Any) -> float:
    """Area under the ROC curve for telling ``in_scores`` (positives) from ``out_scores``:
    the probability that a random in-distribution score exceeds a random out-of-distribution
    one, ties counting ½ (Mann-Whitney U / (n_in·n_out)); equals scikit-learn's
    ``roc_auc_score`` with the in-distribution set labelled 1. 0.5 is chance, 1 perfect."""
    a, b = _scores("in_scores", in_scores), _scores("out_scores", out_scores)
    both = torch.cat([a, b])
    # Mid-ranks (average rank over ties), 1-based.
    sorted_vals, order = torch.sort(both, stable=True)
    ranks = torch.empty_like(both)
    uniq, inverse, counts = torch.unique_consecutive(sorted_vals, return_inverse=True,
                                                     return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    mid = ends - (counts.double() - 1) / 2  # average of the 1-based ranks in each tie group
    ranks[order] = mid[inverse]
    u = float(ranks[: len(a)].sum()) - len(a) * (len(a) + 1) / 2
    return u / (len(a) * len(b))


def fpr_at_tpr(in_scores: Any, out_scores: Any, tpr: float = 0.95) -> float:
    """False-positive rate at the highest threshold ``t`` whose true-positive rate
    ``#{in ≥ t}/n_in`` is at least ``tpr``: the fraction of ``out_scores ≥ t``. With
    ``tpr=0.95`` this is the usual "FPR95" (lower is better; 0 perfect). Equals the first
    point of scikit-learn's ``roc_curve`` (``drop_intermediate=False``) with ``tpr ≥ tpr``."""
    tpr = check_real("tpr", tpr, gt=0.0, le=1.0)
    a, b = _scores("in_scores", in_scores), _scores("out_scores", out_scores)
    n = len(a)
    k = max(1, math.ceil(tpr * n))  # the smallest k with k/n >= tpr, in floating point too
    while k > 1 and (k - 1) / n >= tpr:
        k -= 1
    while k < n and k / n < tpr:
        k += 1
    t = torch.sort(a, descending=True).values[k - 1]
    return float((b >= t).double().mean())


@dataclass
class ReliabilityBins:
    """Equal-width confidence bins ``(lo, hi]`` (the first also holds 0): per bin the number
    of predictions, their mean confidence and their accuracy (NaN in empty bins)."""

    edges: torch.Tensor       # (n_bins + 1,)
    count: torch.Tensor       # (n_bins,) int64
    confidence: torch.Tensor  # (n_bins,) mean max-probability
    accuracy: torch.Tensor    # (n_bins,) fraction correct

    @property
    def ece(self) -> float:
        """``Σ_b (n_b/N) |acc_b - conf_b|`` over non-empty bins."""
        w = self.count.double() / self.count.sum()
        gap = (self.accuracy - self.confidence).abs()
        return float(torch.where(self.count > 0, w * gap, torch.zeros_like(gap)).sum())


def _probs_labels(probs: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(probs).detach().cpu().double()
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must be an (N, K) array of class probabilities with N >= 1 "
                         f"and K >= 2, got shape {tuple(p.shape)}")
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError("probs must be finite and non-negative")
    worst = float((p.sum(1) - 1).abs().max())
    if worst > 1e-3:
        raise ValueError(f"probs rows must sum to 1 (softmax outputs), worst row is off by "
                         f"{worst:.3g}")
    y = torch.as_tensor(labels).detach().cpu()
    if y.ndim != 1 or len(y) != len(p) or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer array of length {len(p)}, got "
                         f"{y.dtype} of shape {tuple(y.shape)}")
    if bool((y < 0).any()) or bool((y >= p.shape[1]).any()):
        raise ValueError(f"labels must lie in [0, {p.shape[1] - 1}], got values in "
                         f"[{int(y.min())}, {int(y.max())}]")
    return p, y.long()


def reliability_bins(probs: Any, labels: Any, n_bins: int = 15) -> ReliabilityBins:
    """Bin the predictions (``argmax`` of ``probs: (N, K)``) by their confidence (the max
    probability) into ``n_bins`` equal-width bins and measure each bin's accuracy."""
    n_bins = check_int("n_bins", n_bins, ge=1)
    p, y = _probs_labels(probs, labels)
    conf, pred = p.max(1)
    correct = (pred == y).double()
    idx = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins)
    s_conf = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, conf)
    s_acc = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, correct)
    denom = count.double()
    nan = torch.full_like(denom, float("nan"))
    return ReliabilityBins(
        edges=torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64),
        count=count,
        confidence=torch.where(count > 0, s_conf / denom.clamp_min(1), nan),
        accuracy=torch.where(count > 0, s_acc / denom.clamp_min(1), nan),
    )


def ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Expected calibration error: ``Σ_b (n_b/N) |accuracy_b - confidence_b|`` over
    ``n_bins`` equal-width confidence bins ``(lo, hi]`` (see ``reliability_bins``); 0 for a
    calibrated classifier. ``probs: (N, K)`` rows of class probabilities, ``labels: (N,)``."""
    return reliability_bins(probs, labels, n_bins).ece
