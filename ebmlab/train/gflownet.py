"""A small GFlowNet trained by trajectory balance (Bengio et al. 2021; Malkin et al. 2022)
on a hypergrid, where everything can be checked exactly.

**Environment.** ``HyperGrid(dim, side)``: states are the points of ``{0, …, side-1}^dim``;
every trajectory starts at the origin, each action adds 1 to one coordinate (while it stays
on the grid) or stops, and the state where it stops is the sample ``x``. The target is
``p*(x) ∝ R(x) = e^{-E(x)}`` for an energy on the grid points.

**Policies.** A forward policy ``P_F(a | s)`` (a neural network on the one-hot coordinates,
or a table) and the uniform backward policy ``P_B(s | s') = 1 / #parents(s')`` (fixed: with
it the optimal forward policy is unique). A learned scalar ``log Z``.

**Trajectory balance.** For a complete trajectory ``τ = (s_0 → … → s_n = x → stop)``,

    ``L(τ) = (log Z + Σ_t log P_F(s_{t+1} | s_t) - log R(x) - Σ_t log P_B(s_t | s_{t+1}))²``,

zero for every trajectory exactly when ``P_F`` samples ``x`` with probability ``R(x)/Z`` and
``Z = Σ_x R(x)``. Training minimises it on trajectories drawn from ``P_F`` itself (an
``epsilon`` of uniformly random actions may be mixed in; trajectory balance holds off-policy).

**Exact checks** (the grid is enumerable): ``exact_policy`` gives the flows and the optimal
forward policy for a reward (their loss is zero), ``GFlowNet.terminal_log_probs`` the exact
distribution of ``x`` under the learned ``P_F`` (dynamic programming over the grid, no
sampling), to be compared with ``target_log_probs``.

Because the grid is small, the forward policy is evaluated on *all* states once per training
step (``policy_table``) and trajectories are sampled by table look-ups: one network call per
update whatever the batch and the trajectory length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from .._checks import check_int, check_real, make_generator
from .fit import History, TrainingDiverged


class HyperGrid:
    """The ``side^dim`` grid: states as integer coordinates ``(N, dim)`` (long), actions
    ``0 … dim-1`` (add 1 to that coordinate) and ``dim`` (stop)."""

    def __init__(self, dim: int, side: int) -> None:
        self.dim = check_int("dim", dim, ge=1, le=6)
        self.side = check_int("side", side, ge=2, le=64)
        if self.side**self.dim > 1_000_000:
            raise ValueError(f"side**dim must be at most 1e6 states (enumerable), got "
                             f"{self.side}**{self.dim}")
        self.n_states = self.side**self.dim
        self.n_actions = self.dim + 1
        self.stop = self.dim
        self._strides = torch.tensor([self.side ** (self.dim - 1 - i) for i in range(self.dim)])

    def __repr__(self) -> str:
        return f"HyperGrid(dim={self.dim}, side={self.side})"

    @property
    def max_length(self) -> int:
        """Actions in the longest trajectory (to the far corner, then stop)."""
        return self.dim * (self.side - 1) + 1

    def all_states(self) -> torch.Tensor:
        """Every state ``(side^dim, dim)``, row ``index(x)``."""
        idx = torch.arange(self.n_states)
        return (idx[:, None] // self._strides) % self.side

    def index(self, x: torch.Tensor) -> torch.Tensor:
        """Row-major index of states ``(N, dim) -> (N,)``."""
        return (x * self._strides.to(x.device)).sum(-1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot coordinates ``(N, dim · side)`` float."""
        oh = torch.nn.functional.one_hot(x, self.side)
        return oh.reshape(x.shape[0], -1).to(torch.get_default_dtype())

    def forward_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Allowed actions ``(N, dim + 1)``: a coordinate below ``side - 1`` may grow; stop is
        always allowed."""
        grow = x < self.side - 1
        return torch.cat([grow, torch.ones_like(grow[:, :1])], 1)

    def n_parents(self, x: torch.Tensor) -> torch.Tensor:
        """Number of states one action away before ``x`` (coordinates above 0): ``(N,)``."""
        return (x > 0).sum(-1)


class TabularPolicy(torch.nn.Module):
    """A table of logits, one row per state: ``(N, dim) -> (N, dim + 1)``."""

    def __init__(self, env: HyperGrid) -> None:
        super().__init__()
        self.env = env
        self.logits = torch.nn.Parameter(torch.zeros(env.n_states, env.n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[self.env.index(x)]


class MLPPolicy(torch.nn.Module):
    """An MLP on the one-hot coordinates: ``(N, dim) -> (N, dim + 1)`` logits."""

    def __init__(self, env: HyperGrid, hidden: int = 64, layers: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.env = env
        hidden = check_int("hidden", hidden, ge=1)
        layers = check_int("layers", layers, ge=1)
        gen = make_generator(seed)
        mods: list[torch.nn.Module] = []
        width = env.dim * env.side
        for _ in range(layers):
            mods += [torch.nn.Linear(width, hidden), torch.nn.LeakyReLU()]
            width = hidden
        mods.append(torch.nn.Linear(width, env.n_actions))
        self.net = torch.nn.Sequential(*mods)
        with torch.no_grad():  # seeded initialisation, independent of the global RNG
            for m in self.net:
                if isinstance(m, torch.nn.Linear):
                    bound = 1.0 / math.sqrt(m.in_features)
                    m.weight.copy_((2 * torch.rand(m.weight.shape, generator=gen) - 1) * bound)
                    m.bias.copy_((2 * torch.rand(m.bias.shape, generator=gen) - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.env.encode(x))


def _masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.masked_fill(~mask, -math.inf), -1)


def target_log_probs(env: HyperGrid, energy: Callable[[torch.Tensor], torch.Tensor]
                     ) -> tuple[torch.Tensor, float]:
    """The exact target ``log p*(x) = -E(x) - log Z`` over all states ``(side^dim,)``
    (float64), and ``log Z = log Σ_x e^{-E(x)}``."""
    e = energy(env.all_states()).double()
    log_z = torch.logsumexp(-e, 0)
    return -e - log_z, float(log_z)


def exact_policy(env: HyperGrid, log_reward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The flows that satisfy every balance condition for ``log_reward`` ``(side^dim,)`` with
    the uniform backward policy: returns ``(log_flow (S,), log_pf (S, dim + 1))``.

    Terminal flow ``R(x)``; edge flow ``F(s → s') = F(s') P_B(s | s')``; state flow
    ``F(s) = R(s) + Σ_{s'} F(s → s')``, computed from the far corner back to the origin;
    ``P_F(s' | s) = F(s → s') / F(s)``, ``P_F(stop | s) = R(s) / F(s)``;
    ``F(origin) = Z = Σ_x R(x)``."""
    states = env.all_states()
    log_r = log_reward.double()
    idx_order = torch.argsort(states.sum(1), descending=True, stable=True)
    log_flow = torch.full((env.n_states,), -math.inf, dtype=torch.float64)
    log_pb_in = -torch.log(env.n_parents(states).clamp(min=1).double())  # log P_B(·|s')
    strides = env._strides
    for i in idx_order.tolist():
        s = states[i]
        terms = [log_r[i]]
        for a in range(env.dim):
            if s[a] < env.side - 1:
                j = i + int(strides[a])
                terms.append(log_flow[j] + log_pb_in[j])
        log_flow[i] = torch.logsumexp(torch.stack(terms), 0)
    log_pf = torch.full((env.n_states, env.n_actions), -math.inf, dtype=torch.float64)
    for a in range(env.dim):
        ok = states[:, a] < env.side - 1
        j = torch.nonzero(ok).squeeze(1)
        nxt = j + int(strides[a])
        log_pf[j, a] = log_flow[nxt] + log_pb_in[nxt] - log_flow[j]
    log_pf[:, env.stop] = log_r - log_flow
    return log_flow, log_pf


class GFlowNet(torch.nn.Module):
    """A forward policy over a ``HyperGrid``, the uniform backward policy and a learned
    ``log_z``. ``policy``: ``"mlp"`` (``MLPPolicy``), ``"table"`` or any module mapping
    states ``(N, dim)`` to logits ``(N, dim + 1)``."""

    def __init__(self, env: HyperGrid, policy: str | torch.nn.Module = "mlp",
                 hidden: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.env = env
        if policy == "mlp":
            policy = MLPPolicy(env, hidden=hidden, seed=seed)
        elif policy == "table":
            policy = TabularPolicy(env)
        elif not isinstance(policy, torch.nn.Module):
            raise ValueError(f"policy must be 'mlp', 'table' or a torch module, got {policy!r}")
        self.policy = policy
        self.log_z = torch.nn.Parameter(torch.zeros((), dtype=torch.get_default_dtype()))
        self.register_buffer("_states", env.all_states(), persistent=False)

    def policy_table(self) -> torch.Tensor:
        """``log P_F(a | s)`` for every state ``(side^dim, dim + 1)`` (``-inf`` where not
        allowed), differentiable in the policy's parameters."""
        s = self._states
        return _masked_log_softmax(self.policy(s), self.env.forward_mask(s))

    def sample(self, n: int, seed: int | torch.Generator | None = None, epsilon: float = 0.0,
               log_pf_table: torch.Tensor | None = None):
        """``n`` trajectories from ``P_F`` (mixed with uniformly random allowed actions with
        probability ``epsilon``): terminal states ``(n, dim)`` and the sums over each
        trajectory of ``log P_F`` (differentiable) and ``log P_B``, ``(n,)`` each."""
        n = check_int("n", n, ge=1)
        epsilon = check_real("epsilon", epsilon, ge=0.0, le=1.0)
        gen = make_generator(seed)
        env = self.env
        table = self.policy_table() if log_pf_table is None else log_pf_table
        x = torch.zeros(n, env.dim, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        log_pf = torch.zeros(n, dtype=table.dtype)
        log_pb = torch.zeros(n, dtype=torch.float64)
        rows = torch.arange(n)
        for _ in range(env.max_length):
            lp = table[env.index(x)]  # (n, A)
            with torch.no_grad():
                probs = lp.exp()
                if epsilon > 0:
                    mask = env.forward_mask(x).to(probs.dtype)
                    probs = (1 - epsilon) * probs + epsilon * mask / mask.sum(1, keepdim=True)
                a = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            live = ~done
            log_pf = log_pf + torch.where(live, lp[rows, a], torch.zeros_like(log_pf))
            grow = live & (a != env.stop)
            step = torch.nn.functional.one_hot(a.clamp(max=env.dim - 1), env.dim) * grow[:, None]
            x = x + step
            log_pb = log_pb - torch.where(grow, torch.log(env.n_parents(x).double()),
                                          torch.zeros_like(log_pb))
            done = done | (live & (a == env.stop))
            if bool(done.all()):
                break
        return x, log_pf, log_pb

    def trajectory_balance(self, log_pf: torch.Tensor, log_pb: torch.Tensor,
                           log_reward: torch.Tensor) -> torch.Tensor:
        """Mean trajectory-balance loss ``(log Z + log P_F - log R - log P_B)²``."""
        r = self.log_z + log_pf - log_reward.to(log_pf.dtype) - log_pb.to(log_pf.dtype)
        return (r * r).mean()

    @torch.no_grad()
    def terminal_log_probs(self) -> torch.Tensor:
        """The exact ``log P(x)`` of the states where ``P_F``'s trajectories stop
        ``(side^dim,)`` float64, by dynamic programming from the origin (no sampling)."""
        env = self.env
        table = self.policy_table().double()
        states = self._states
        order = torch.argsort(states.sum(1), stable=True).tolist()
        reach = torch.zeros(env.n_states, dtype=torch.float64)
        reach[0] = 1.0
        pf = table.exp()
        for i in order:
            for a in range(env.dim):
                if states[i, a] < env.side - 1:
                    reach[i + int(env._strides[a])] += reach[i] * pf[i, a]
        return torch.log(reach * pf[:, env.stop])


def train_gflownet(gfn: GFlowNet, energy: Callable[[torch.Tensor], torch.Tensor],
                   steps: int = 1000, batch_size: int = 64, lr: float = 1e-3,
                   lr_log_z: float = 0.1, epsilon: float = 0.0, seed: int | None = 0,
                   callbacks: tuple = ()) -> History:
    """Minimise the trajectory-balance loss on batches of ``batch_size`` trajectories from
    the current forward policy (Adam: ``lr`` for the policy, ``lr_log_z`` for ``log Z``), the
    reward ``R(x) = e^{-E(x)}`` (``energy``: integer states ``(N, dim) -> (N,)``). Returns a
    ``History`` (``loss``, ``info["log_z"]``); ``callbacks`` as in ``fit``: ``cb(step, gfn,
    history, info)``, ``False`` stops. A non-finite loss raises ``TrainingDiverged``."""
    steps = check_int("steps", steps, ge=1)
    batch_size = check_int("batch_size", batch_size, ge=1)
    lr = check_real("lr", lr, gt=0.0)
    lr_log_z = check_real("lr_log_z", lr_log_z, gt=0.0)
    gen = make_generator(seed)
    log_r_all = -energy(gfn.env.all_states()).double()
    if not bool(torch.isfinite(log_r_all).all()):
        raise ValueError("the energy must be finite at every grid point")
    opt = torch.optim.Adam([{"params": list(gfn.policy.parameters()), "lr": lr},
                            {"params": [gfn.log_z], "lr": lr_log_z}])
    history = History()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, log_pf, log_pb = gfn.sample(batch_size, gen, epsilon=epsilon)
        loss = gfn.trajectory_balance(log_pf, log_pb, log_r_all[gfn.env.index(x)])
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDiverged(f"trajectory-balance loss became {value} at step {step} "
                                   f"(lr={lr:g}); to fix: lower lr or lr_log_z.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        info = {"log_z": float(gfn.log_z.detach())}
        history.record(step, value, info, time.perf_counter() - start)
        if any(cb(step, gfn, history, info) is False for cb in callbacks):
            break
    return history


def corner_energy(env: HyperGrid, r0: float = 0.1, r1: float = 0.5, r2: float = 2.0
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The hypergrid benchmark's reward as an energy (Bengio et al. 2021):
    ``R(x) = r0 + r1 Π_i 1[0.25 < |u_i - 0.5|] + r2 Π_i 1[0.3 < |u_i - 0.5| < 0.4]``,
    ``u = x / (side - 1)``, ``E = -log R``: ``2^dim`` high-reward corners separated by a
    plateau of reward ``r0`` (the smaller ``r0``, the harder to find every corner)."""
    r0 = check_real("r0", r0, gt=0.0)
    r1 = check_real("r1", r1, ge=0.0)
    r2 = check_real("r2", r2, ge=0.0)

    def energy(x: torch.Tensor) -> torch.Tensor:
        u = (x.double() / (env.side - 1) - 0.5).abs()
        ring = ((u > 0.3) & (u < 0.4)).all(-1).double()
        outer = (u > 0.25).all(-1).double()
        return -torch.log(r0 + r1 * outer + r2 * ring)

    return energy
