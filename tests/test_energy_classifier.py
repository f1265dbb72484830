"""EnergyClassifier: the energy identities, shapes, bad input; classifier objectives through
the one ``fit`` (cross-entropy, JEM, energy margin)."""

from __future__ import annotations

import math

import pytest
import torch

import ebmlab as el
from ebmlab.energies import EnergyClassifier


def _model(**kw) -> EnergyClassifier:
    torch.manual_seed(0)
    return EnergyClassifier(dim=6, n_classes=4, hidden=16, **kw).double()


def test_energy_identities_and_shapes():
    m = _model()
    x = torch.rand(7, 6, dtype=torch.float64)
    f = m.logits(x)
    assert f.shape == (7, 4) and m(x).shape == (7,)
    ej = m.joint_energy(x)
    torch.testing.assert_close(ej, -f)
    # E(x) = -log Σ_y exp(-E(x, y)); p(y|x) = exp(E(x) - E(x, y)) = softmax(f).
    torch.testing.assert_close(m(x), -torch.logsumexp(-ej, 1))
    torch.testing.assert_close(m.class_probs(x), torch.exp(m(x)[:, None] - ej))
    torch.testing.assert_close(m.class_probs(x).sum(1), torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(m.log_class_probs(x), torch.log(m.class_probs(x)))
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    torch.testing.assert_close(m.joint_energy(x, y), -f[torch.arange(7), y])
    torch.testing.assert_close(m.joint_energy(x, 2), -f[:, 2])
    assert torch.equal(m.predict(x), f.argmax(1))
    # Shifting every logit by c(x) leaves p(y|x) and changes E(x) by -c(x).
    shifted = EnergyClassifier(dim=6, n_classes=4,
                               net=torch.nn.Sequential(m.net, _Shift(3.5))).double()
    torch.testing.assert_close(shifted.class_probs(x), m.class_probs(x))
    torch.testing.assert_close(shifted(x), m(x) - 3.5)
    # Temperature: E_T(x) = -T logsumexp(f/T) -> -max f as T -> 0; p(y|x) unchanged.
    cold = EnergyClassifier(dim=6, n_classes=4, net=m.net, temperature=1e-3).double()
    torch.testing.assert_close(cold(x), -f.max(1).values, atol=1e-3 * math.log(4), rtol=0)
    torch.testing.assert_close(cold.class_probs(x), m.class_probs(x))
    # The class-conditional energy, for one label or one per chain; gradients by autograd.
    torch.testing.assert_close(m.conditional(1)(x), -f[:, 1])
    torch.testing.assert_close(m.conditional(y)(x), -f[torch.arange(7), y])
    g = m.conditional(y).grad(x)
    assert g.shape == (7, 6) and torch.isfinite(g).all()
    assert not (m.has_exact_log_z or m.has_exact_sampler or m.has_analytic_grad)


class _Shift(torch.nn.Module):
    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, f):
        return f + self.c


def test_class_conditional_langevin_runs_through_the_chain_driver():
    m = _model()
    E = m.conditional(torch.tensor([0, 1, 2, 3]))
    trace = el.samplers.ULA(step_size=0.01).run(E, x0=torch.rand(4, 6, dtype=torch.float64),
                                                n_steps=5, seed=0)
    assert trace.final.shape == (4, 6)


def test_bad_input_names_the_parameter():
    m = _model()
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(N, 6\)"):
        m(torch.rand(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x has non-finite values"):
        m.logits(torch.full((2, 6), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="x must be floating point"):
        m.logits(torch.ones(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\]"):
        m.joint_energy(torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="y must be an integer label"):
        m.joint_energy(torch.rand(2, 6, dtype=torch.float64), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="y must be"):
        m.conditional(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="n_classes"):
        EnergyClassifier(n_classes=1)
    with pytest.raises(ValueError, match="temperature"):
        EnergyClassifier(temperature=0.0)
    with pytest.raises(ValueError, match="net must map"):
        EnergyClassifier(dim=6, n_classes=4, net=torch.nn.Linear(6, 3))(torch.rand(2, 6))


def _blobs(n: int = 300, seed: int = 0):
    """Four Gaussian blobs in [0, 1]^6, one per class."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(4, (n,), generator=gen)
    centres = torch.rand(4, 6, generator=gen)
    x = (centres[y] + 0.08 * torch.randn(n, 6, generator=gen)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("method,kw", [("ce", {}), ("ce", {"classes": "batch", "alpha": 0.1}),
                                       ("jem", {"k": 5, "step_size": 0.01})])
def test_fit_trains_classifiers_and_reduces_the_loss(method, kw):
    x, y = _blobs()
    torch.manual_seed(0)
    m = EnergyClassifier(dim=6, n_classes=4, hidden=32)
    h = el.train.fit(m, x, labels=y, method=method, steps=300, batch_size=64, lr=3e-3,
                     seed=0, **kw)
    ce = h.info["ce"]
    assert sum(ce[-30:]) / 30 < 0.5 * sum(ce[:30]) / 30
    if kw.get("classes") != "batch":
        with torch.no_grad():
            assert float((m.predict(x) == y).double().mean()) > 0.9
    if method == "jem":
        assert "e_pos" in h.info and len(h.info["energy_gap"]) == 300


def test_jem_negatives_stay_in_the_box_and_the_buffer_persists():
    x, y = _blobs(100)
    m = EnergyClassifier(dim=6, n_classes=4, hidden=16)
    obj = el.train.JEM(k=3, step_size=0.5, noise_scale=0.01, buffer_size=200)
    assert obj.effective_temperature == pytest.approx(1e-4)
    el.train.fit(m, x, labels=y, objective=obj, steps=5, batch_size=32, seed=0)
    assert obj.buffer is not None and obj.buffer.data.shape == (200, 6)
    assert float(obj.buffer.data.min()) >= 0.0 and float(obj.buffer.data.max()) <= 1.0


def test_energy_margin_separates_outliers():
    x, y = _blobs()
    gen = torch.Generator().manual_seed(1)
    outliers = torch.rand(300, 6, generator=gen)
    test_out = torch.rand(300, 6, generator=gen)
    torch.manual_seed(0)
    m = EnergyClassifier(dim=6, n_classes=4, hidden=32)
    el.train.fit(m, x, labels=y, method="ce", steps=300, batch_size=64, lr=3e-3, seed=0)
    with torch.no_grad():
        before = el.diagnostics.auroc(-m(x), -m(test_out))
    obj = el.train.EnergyMargin(outliers, m_in=-8.0, m_out=-2.0, weight=0.5)
    el.train.fit(m, x, labels=y, objective=obj, steps=300, batch_size=64, lr=3e-3, seed=0)
    with torch.no_grad():
        after = el.diagnostics.auroc(-m(x), -m(test_out))
        assert float((m.predict(x) == y).double().mean()) > 0.9
    assert after > before + 0.05, (before, after)


def test_fit_label_errors_name_the_parameter():
    x, y = _blobs(50)
    m = EnergyClassifier(dim=6, n_classes=4, hidden=8)
    with pytest.raises(ValueError, match="labels must be an integer tensor of shape"):
        el.train.fit(m, x, method="ce", steps=1)
    with pytest.raises(ValueError, match="labels must be an integer tensor of shape"):
        el.train.fit(m, x, labels=y[:10], method="jem", steps=1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        el.train.fit(m, x, labels=y + 4, method="ce", steps=1)
    with pytest.raises(ValueError, match="labels are only used by classifier objectives"):
        el.train.fit(el.energies.MLPEnergy(dim=6), x, labels=y, method="pcd", steps=1)
    with pytest.raises(ValueError, match="classes must be one of"):
        el.train.fit(m, x, labels=y, method="ce", classes="some", steps=1)
    with pytest.raises(ValueError, match="m_in must be < m_out"):
        el.train.EnergyMargin(x, m_in=0.0, m_out=-1.0)
    with pytest.raises(ValueError, match="box must be"):
        el.train.JEM(box=(1.0, 0.0))
    with pytest.raises(ValueError, match="model must be a classifier"):
        el.train.fit(el.energies.MLPEnergy(dim=6), x, labels=y, method="ce", steps=1)


def test_split_by_class_validates_and_reindexes():
    pytest.importorskip("sklearn")
    d = el.data.digits(seed=0)
    inside, outside = el.data.split_by_class(d, [3, 7])
    assert set(inside.y_train.tolist()) == {0, 1} and set(inside.y_test.tolist()) == {0, 1}
    assert torch.equal(inside.x_train, d.x_train[(d.y_train == 3) | (d.y_train == 7)])
    assert (inside.y_train == 0).sum() == (d.y_train == 3).sum()
    assert not set(outside.y_train.tolist()) & {3, 7}
    assert len(inside.x_test) + len(outside.x_test) == len(d.x_test)
    for bad, match in [([], "at least one"), (list(range(10)), "all ten"), ([0, 10], "0-9"),
                       ([-1], "0-9"), ([1, 1], "repeat"), ([0.5], "0-9"), (3, "list")]:
        with pytest.raises(ValueError, match=f"IN_CLASSES.*{match}"):
            el.data.split_by_class(d, bad, name="IN_CLASSES")
