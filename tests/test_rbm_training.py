"""Contrastive divergence on binary energies (``ebmlab.train.rbm``): the loss's gradient is
the exact log-likelihood gradient when the negatives are exact samples; CD-k starts at the
data, PCD's chains persist and start uniform; fit dispatches binary energies to Gibbs
negatives; training an RBM on a teacher's samples approaches the teacher's exact
likelihood; bad input."""

from __future__ import annotations

import pytest
import torch

import ebmlab as el
from ebmlab.energies import RBM, Ising
from ebmlab.samplers import MetropolisFlip
from ebmlab.train import DiscreteContrastiveDivergence, HeldOutLogLikelihood


def teacher(nv: int = 8, nh: int = 3, seed: int = 1) -> RBM:
    r = RBM(nv, nh, seed=seed, weight_scale=1.5, dtype=torch.float64)
    with torch.no_grad():
        r.b_visible.fill_(-0.5)
    return r


def exact_log_z_tensor(rbm: RBM) -> torch.Tensor:
    """Differentiable log Z by enumerating the visible layer."""
    nv = rbm.n_visible
    v = ((torch.arange(2**nv)[:, None] >> torch.arange(nv)) & 1).double()
    return torch.logsumexp(-rbm(v), 0)


def test_loss_gradient_is_the_likelihood_gradient_with_exact_negatives():
    """With many exact model samples in place of the kernel's negatives, the gradient of
    ``mean F(data) - mean F(neg)`` is ``-∇ mean log p(data)`` (enumerated) up to Monte Carlo
    error (200k negatives: a few 1e-3)."""
    model = teacher(6, 3, seed=2)
    data = teacher(6, 3, seed=5).sample(500, seed=0).double()
    obj = DiscreteContrastiveDivergence("cd", k=1)
    neg = model.sample(200_000, seed=1).double()
    loss = model(data).mean() - model(neg).mean()
    g_cd = torch.autograd.grad(loss, [model.W, model.b_visible, model.b_hidden])
    nll = -(-model(data) - exact_log_z_tensor(model)).mean()
    g_exact = torch.autograd.grad(nll, [model.W, model.b_visible, model.b_hidden])
    for a, b in zip(g_cd, g_exact, strict=True):
        assert float((a - b).abs().max()) < 0.02, (a, b)
    # the objective's own loss has the same form
    l2, info = obj(model, data, torch.Generator().manual_seed(0))
    assert set(info) >= {"e_pos", "e_neg", "energy_gap", "negatives"}
    assert abs(float(l2) - (info["e_pos"] - info["e_neg"])) < 1e-9


def test_cd_starts_at_the_data_and_pcd_persists():
    model = teacher()
    data = model.sample(64, seed=0).double()
    gen = torch.Generator().manual_seed(0)
    cd = DiscreteContrastiveDivergence("cd", k=1)
    neg = cd.negatives(model, data, gen)
    assert neg.shape == data.shape and set(neg.unique().tolist()) <= {0.0, 1.0}
    assert cd.n_energy_evals == 1 + 3  # the chain's initial energy, one block-Gibbs step
    pcd = DiscreteContrastiveDivergence("pcd", k=2, n_persistent=100)
    first = pcd.negatives(model, data, gen)
    assert first.shape == (100, 8)
    assert torch.equal(pcd.persistent, first)
    second = pcd.negatives(model, data, gen)
    assert second.shape == (100, 8) and torch.equal(pcd.persistent, second)


def test_fit_dispatches_binary_energies_to_gibbs_negatives():
    """``fit(rbm, data, method="pcd")`` trains with block-Gibbs PCD: the held-out exact
    log-likelihood rises from the untrained model's to within 0.1 nats of the teacher's."""
    t = teacher()
    data, held = t.sample(4000, seed=0).float(), t.sample(2000, seed=1).float()
    student = RBM(8, 3, seed=0)
    cb = HeldOutLogLikelihood(held, every=100)
    hist = el.train.fit(student, data, method="pcd", steps=600, batch_size=100, lr=0.02,
                        seed=0, callbacks=(cb,), n_persistent=200)
    best = float(t.log_prob(held).mean())
    assert cb.steps[0] == 1 and cb.steps[-1] == 600
    assert cb.values[-1] > cb.values[0] + 0.3, cb.values
    assert cb.values[-1] > best - 0.1, (cb.values[-1], best)
    assert "energy_gap" in hist.info


def test_other_kernels_and_lattices():
    """CD on an Ising lattice with a Metropolis kernel: negatives are valid spins and the
    loss is finite (any binary energy, any discrete kernel)."""
    E = Ising(4)
    x = torch.ones(8, 16)
    obj = DiscreteContrastiveDivergence("pcd", k=1, kernel=MetropolisFlip(), n_persistent=8)
    loss, info = obj(E, x, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and set(info["negatives"].unique().tolist()) <= {-1.0, 1.0}


def test_bad_input():
    with pytest.raises(ValueError, match="kind"):
        DiscreteContrastiveDivergence("short_run")
    with pytest.raises(ValueError, match="k"):
        DiscreteContrastiveDivergence("cd", k=0)
    with pytest.raises(ValueError, match="kernel"):
        DiscreteContrastiveDivergence("cd", kernel="gibbs")
    with pytest.raises(ValueError, match="values"):
        DiscreteContrastiveDivergence("cd").negatives(
            el.energies.Gaussian.isotropic(2, 1.0), torch.zeros(4, 2), None)
