"""The trajectory-balance GFlowNet on a hypergrid: the environment, the exact flows (zero
loss, the right terminal distribution and log Z), the exact terminal distribution of a
policy against sampling, training to the target on a tiny grid, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.train import (
    GFlowNet,
    HyperGrid,
    corner_energy,
    exact_policy,
    target_log_probs,
    train_gflownet,
)


def test_hypergrid_states_masks_and_parents():
    env = HyperGrid(2, 3)
    s = env.all_states()
    assert s.shape == (9, 2) and env.max_length == 5
    assert torch.equal(env.index(s), torch.arange(9))
    mask = env.forward_mask(torch.tensor([[2, 0]]))
    assert torch.equal(mask, torch.tensor([[False, True, True]]))
    assert env.n_parents(torch.tensor([[0, 0], [1, 0], [1, 2]])).tolist() == [0, 1, 2]
    assert env.encode(s).shape == (9, 6) and bool((env.encode(s).sum(1) == 2).all())


def _exact_gfn(env, energy):
    log_r = -energy(env.all_states()).double()
    _, log_pf = exact_policy(env, log_r)
    gfn = GFlowNet(env, policy="table")
    with torch.no_grad():
        gfn.policy.logits.copy_(log_pf.clamp(min=-1e4))
        gfn.log_z.fill_(float(torch.logsumexp(log_r, 0)))
    return gfn, log_r


@pytest.mark.parametrize("dim,side", [(1, 5), (2, 4), (3, 3)])
def test_exact_flows_have_zero_loss_and_the_target_distribution(dim, side):
    """The flows built from R with the uniform backward policy: F(origin) = Z, the
    trajectory-balance loss of every sampled trajectory is 0 (to rounding), and the exact
    terminal distribution of their forward policy is R/Z."""
    env = HyperGrid(dim, side)
    energy = corner_energy(env, r0=0.05)
    log_flow, _ = exact_policy(env, -energy(env.all_states()))
    target, log_z = target_log_probs(env, energy)
    assert abs(float(log_flow[0]) - log_z) < 1e-12
    gfn, log_r = _exact_gfn(env, energy)
    x, log_pf, log_pb = gfn.sample(512, seed=0)
    loss = gfn.trajectory_balance(log_pf, log_pb, log_r[env.index(x)])
    assert float(loss.detach()) < 1e-8, float(loss.detach())
    p = gfn.terminal_log_probs().exp()
    assert float((p - target.exp()).abs().sum()) < 1e-5


def test_terminal_distribution_matches_sampling():
    """The dynamic-programming terminal distribution of an arbitrary (random) policy equals
    the frequencies of sampled trajectories' end points within 4 binomial standard errors."""
    env = HyperGrid(2, 4)
    gfn = GFlowNet(env, policy="mlp", hidden=16, seed=3)
    p = gfn.terminal_log_probs().exp()
    assert abs(float(p.sum()) - 1.0) < 1e-6
    n = 40_000
    with torch.no_grad():
        x, _, _ = gfn.sample(n, seed=1)
    freq = torch.bincount(env.index(x), minlength=env.n_states).double() / n
    se = torch.sqrt(p * (1 - p) / n)
    assert bool(((freq - p).abs() <= 4 * se + 1e-4).all()), (freq, p)


def test_wrong_flows_have_positive_loss():
    env = HyperGrid(2, 4)
    energy = corner_energy(env)
    gfn, log_r = _exact_gfn(env, energy)
    with torch.no_grad():
        gfn.log_z.add_(0.3)  # Z off by 0.3 nats: every trajectory's residual is 0.3
    x, log_pf, log_pb = gfn.sample(64, seed=0)
    loss = gfn.trajectory_balance(log_pf, log_pb, log_r[env.index(x)])
    assert abs(float(loss.detach()) - 0.09) < 1e-6


@pytest.mark.parametrize("policy", ["table", "mlp"])
def test_training_reaches_the_target_on_a_tiny_grid(policy):
    """Trajectory balance on a 4 × 4 grid with four corner modes: the exact terminal
    distribution within L1 0.1 of the target and log Z within 0.1."""
    env = HyperGrid(2, 4)
    energy = corner_energy(env, r0=0.1)
    target, log_z = target_log_probs(env, energy)
    gfn = GFlowNet(env, policy=policy, hidden=32, seed=0)
    lr = 0.05 if policy == "table" else 3e-3
    hist = train_gflownet(gfn, energy, steps=300, batch_size=64, lr=lr, seed=0)
    l1 = float((gfn.terminal_log_probs().exp() - target.exp()).abs().sum())
    assert l1 < 0.1, l1
    assert abs(float(gfn.log_z) - log_z) < 0.1, (float(gfn.log_z), log_z)
    assert len(hist.loss) == 300 and len(hist.info["log_z"]) == 300


def test_seeded_and_bad_input():
    env = HyperGrid(2, 3)
    a = GFlowNet(env, seed=1).sample(16, seed=5)[0]
    b = GFlowNet(env, seed=1).sample(16, seed=5)[0]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="side"):
        HyperGrid(2, 1)
    with pytest.raises(ValueError, match="dim"):
        HyperGrid(0, 4)
    with pytest.raises(ValueError, match="policy"):
        GFlowNet(env, policy="transformer")
    with pytest.raises(ValueError, match="finite"):
        train_gflownet(GFlowNet(env), lambda x: torch.full((x.shape[0],), math.inf), steps=1)
