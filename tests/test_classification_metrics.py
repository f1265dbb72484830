"""Classification / OOD metrics against scikit-learn and a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ebmlab as el

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _sets(seed: int, n_in: int, n_out: int, ties: bool):
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 1.0, n_in)
    b = rng.normal(0.0, 1.5, n_out)
    if ties:  # coarse values: many ties within and across the two sets
        a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
    return a, b


@pytest.mark.parametrize("seed,n_in,n_out,ties", [(0, 200, 300, False), (1, 57, 13, True),
                                                  (2, 1000, 20, True), (3, 3, 400, False)])
def test_auroc_and_fpr_equal_sklearn(seed, n_in, n_out, ties):
    a, b = _sets(seed, n_in, n_out, ties)
    y = np.r_[np.ones(n_in), np.zeros(n_out)]
    s = np.r_[a, b]
    assert el.diagnostics.auroc(a, b) == pytest.approx(sklearn_metrics.roc_auc_score(y, s),
                                                       abs=1e-12)
    fpr, tpr, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    for level in (0.95, 0.9, 0.5, 1.0, 0.013):
        ref = fpr[np.searchsorted(tpr, level, side="left")]
        assert el.diagnostics.fpr_at_tpr(a, b, level) == pytest.approx(ref, abs=1e-12), level
    # Torch tensors in, the same numbers out.
    assert el.diagnostics.auroc(torch.tensor(a), torch.tensor(b)) == pytest.approx(
        el.diagnostics.auroc(a, b), abs=1e-12)


def test_auroc_fpr_extremes():
    a, b = np.arange(10.0) + 100, np.arange(10.0)
    assert el.diagnostics.auroc(a, b) == 1.0 and el.diagnostics.auroc(b, a) == 0.0
    assert el.diagnostics.fpr_at_tpr(a, b) == 0.0 and el.diagnostics.fpr_at_tpr(b, a) == 1.0
    assert el.diagnostics.auroc(np.ones(5), np.ones(7)) == 0.5  # all tied: chance


def test_ece_and_bins_against_a_hand_computation():
    # Four predictions, 2 bins (0, .5], (.5, 1]:
    #   conf .4 (pred 0, label 0, right), .45 (pred 1, label 0, wrong) -> bin 0: conf .425, acc .5
    #   conf .9 (pred 0, right), .7 (pred 1, label 1, right)           -> bin 1: conf .8,  acc 1
    # ECE = 2/4 |.5 - .425| + 2/4 |1 - .8| = .0375 + .1 = .1375.
    probs = torch.tensor([[0.4, 0.3, 0.3], [0.35, 0.45, 0.2], [0.9, 0.05, 0.05],
                          [0.2, 0.7, 0.1]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    bins = el.diagnostics.reliability_bins(probs, labels, n_bins=2)
    assert bins.count.tolist() == [2, 2]
    torch.testing.assert_close(bins.confidence, torch.tensor([0.425, 0.8], dtype=torch.float64))
    torch.testing.assert_close(bins.accuracy, torch.tensor([0.5, 1.0], dtype=torch.float64))
    assert el.diagnostics.ece(probs, labels, n_bins=2) == pytest.approx(0.1375, abs=1e-12)
    # Empty bins are NaN and do not count; the upper edge belongs to its bin: (0.4, 0.5].
    b10 = el.diagnostics.reliability_bins(torch.tensor([[0.5, 0.5], [1.0, 0.0]]),
                                          torch.tensor([0, 0]), n_bins=10)
    assert b10.count.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert torch.isnan(b10.accuracy[0]) and b10.ece == pytest.approx(0.25, abs=1e-12)


def test_ece_matches_a_loop_on_random_predictions():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 5, generator=gen), 1)
    labels = torch.randint(5, (500,), generator=gen)
    conf, pred = probs.max(1)
    total = 0.0
    for lo, hi in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:], strict=True):
        m = (conf > lo) & (conf <= hi) if lo > 0 else (conf <= hi)
        if m.any():
            total += float(m.double().mean()) * abs(float((pred[m] == labels[m]).double().mean())
                                                   - float(conf[m].double().mean()))
    assert el.diagnostics.ece(probs, labels, n_bins=15) == pytest.approx(total, abs=1e-9)


def test_metric_errors_name_the_parameter():
    with pytest.raises(ValueError, match="in_scores"):
        el.diagnostics.auroc([], [1.0])
    with pytest.raises(ValueError, match="out_scores must be finite"):
        el.diagnostics.auroc([1.0], [float("nan")])
    with pytest.raises(ValueError, match="tpr must be"):
        el.diagnostics.fpr_at_tpr([1.0], [0.0], tpr=0.0)
    with pytest.raises(ValueError, match="probs rows must sum to 1"):
        el.diagnostics.ece(torch.ones(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in"):
        el.diagnostics.ece(torch.full((3, 2), 0.5), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="labels must be a 1-D integer"):
        el.diagnostics.ece(torch.full((3, 2), 0.5), torch.zeros(3))
    with pytest.raises(ValueError, match="n_bins"):
        el.diagnostics.ece(torch.full((3, 2), 0.5), torch.zeros(3, dtype=torch.long), n_bins=0)
