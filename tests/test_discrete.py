"""Discrete energies and kernels: exact Ising and RBM normalisers against enumeration and the
transfer matrix; every discrete kernel against the exact moments of a 4 × 4 lattice; costs
against a counting wrapper; AIS on an RBM; parallel tempering on Ising; bad input."""

from __future__ import annotations

import math

import pytest
import torch
from counting import Counting

import ebmlab as el
from ebmlab.energies import (
    RBM,
    BernoulliProduct,
    Ising,
    critical_temperature,
    kaufman_log_z,
    onsager_energy,
    onsager_magnetisation,
    transfer_matrix_log_z,
)
from ebmlab.samplers import (
    Gibbs,
    GibbsWithGradients,
    MetropolisFlip,
    ParallelTempering,
    PathEnergy,
    Wolff,
    ais,
    site_model,
)

# -- helpers ----------------------------------------------------------------------------------


def all_states(d: int, values=(-1.0, 1.0)) -> torch.Tensor:
    """All ``2^d`` states ``(2^d, d)``, float64."""
    bits = (torch.arange(2**d)[:, None] >> torch.arange(d)) & 1
    return values[0] + (values[1] - values[0]) * bits.double()


def brute_log_z(E, d: int, values=(-1.0, 1.0)) -> float:
    return float(torch.logsumexp(-E(all_states(d, values)).detach().double(), 0))


def small_rbm(nv: int, nh: int, seed: int = 3) -> RBM:
    r = RBM(nv, nh, seed=seed, weight_scale=1.0, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        r.b_visible.copy_(0.5 * torch.randn(nv, generator=g, dtype=torch.float64))
        r.b_hidden.copy_(0.5 * torch.randn(nh, generator=g, dtype=torch.float64))
    return r


def mean_and_se(obs: torch.Tensor) -> tuple[float, float]:
    """Mean of ``obs: (draws, chains)`` and its standard error ``sd / √ESS`` (the basic ESS
    of the mean, ``el.diagnostics.ess``)."""
    n_eff = float(el.diagnostics.ess(obs.double(), kind="basic")[0])
    return float(obs.double().mean()), float(obs.double().std()) / math.sqrt(n_eff)


class CountingSites(Counting):
    """``Counting`` that also exposes (and counts) the site structure of its base: every
    call into the energy — energy, flip deltas, block conditionals — is one ``energy_calls``
    (``Info.n_energy`` counts the same way)."""

    def __init__(self, base) -> None:
        super().__init__(base)
        self.values = base.values
        for name in ("L", "J", "h"):
            if hasattr(base, name):
                setattr(self, name, getattr(base, name))
        for name in ("neighbour_table", "coupling"):
            if hasattr(base, name):
                self.register_buffer(name, getattr(base, name))
        if hasattr(base, "sample_hidden"):  # only what the base declares
            self.sample_hidden, self.sample_visible = self._sample_hidden, self._sample_visible

    def flip_delta(self, x, index):
        self.energy_calls += 1
        return self.base.flip_delta(x, index)

    def colouring(self):
        return self.base.colouring()

    def _sample_hidden(self, v, gen):
        self.energy_calls += 1
        return self.base.sample_hidden(v, gen)

    def _sample_visible(self, h, gen):
        self.energy_calls += 1
        return self.base.sample_visible(h, gen)


# -- exact normalisers --------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 3, 4])
def test_ising_log_z_matches_brute_force_and_transfer_matrix(L):
    for J, h, T in [(1.0, 0.0, 1.5), (1.0, 0.0, critical_temperature()), (1.0, 0.3, 2.5),
                    (-0.7, 0.2, 1.0), (0.5, -0.4, 0.8)]:
        E = Ising(L, J, h, dtype=torch.float64)
        exact = brute_log_z(E.tempered(T), L * L)
        assert E.tempered(T).has_exact_log_z
        assert abs(E.tempered(T).log_z() / exact - 1) < 1e-12
        tm = float(transfer_matrix_log_z(L, J / T, h / T))
        assert abs(tm / exact - 1) < 1e-10, (L, J, h, T)
        if h == 0.0 and J > 0:
            assert abs(float(kaufman_log_z(L, J / T)) / exact - 1) < 1e-10


@pytest.mark.parametrize("L", [5, 6, 7, 8, 9, 10])
def test_kaufman_matches_the_transfer_matrix(L):
    """Kaufman's closed form for h = 0 against Tr T^L, above, at and below T_c (where the
    signed γ₀ changes sign): 1e-8 relative."""
    for K in [0.1, 0.3, math.log1p(math.sqrt(2)) / 2, 0.6, 1.2]:
        tm, ka = float(transfer_matrix_log_z(L, K)), float(kaufman_log_z(L, K))
        assert abs(ka / tm - 1) < 1e-8, (L, K, ka, tm)
    E = Ising(L, 1.0, 0.0)
    assert abs(E.tempered(2.0).log_z() / float(transfer_matrix_log_z(L, 0.5)) - 1) < 1e-8


def test_ising_log_z_at_large_L_and_its_limits():
    E = Ising(32)
    assert E.has_exact_log_z and E.tempered(2.0).has_exact_log_z
    assert math.isfinite(E.tempered(2.0).log_z())
    # The antiferromagnet on an even lattice has the ferromagnet's partition function.
    assert abs(Ising(12, J=-1.0).log_z() - Ising(12, J=1.0).log_z()) < 1e-9
    # The free energy per spin tends to Onsager's: at T = 1.5, L = 32 is already within 1e-8.
    assert abs(E.exact_energy(1.5) / E.dim - onsager_energy(1.5)) < 1e-8
    for bad in (Ising(12, h=0.1), Ising(11, J=-1.0)):
        assert not bad.has_exact_log_z
        with pytest.raises(NotImplementedError, match="ais"):
            bad.log_z()
    assert Ising(10, h=0.1).has_exact_log_z  # the transfer matrix


def test_ising_exact_energy_and_moments():
    E = Ising(4, dtype=torch.float64)
    s = all_states(16)
    for T in (1.8, 3.0):
        p = torch.softmax(-E(s) / T, 0)
        mom = E.exact_moments(T)
        assert abs(mom["energy"] - float((p * E(s)).sum())) < 1e-10
        assert abs(mom["abs_magnetisation"] - float((p * s.mean(1).abs()).sum())) < 1e-12
        assert abs(E.exact_energy(T) - mom["energy"]) < 1e-8
    big = Ising(16)
    eps = 1e-5  # -d log Z / dβ by central differences against the autograd derivative
    fd = -(big.tempered(1 / (0.5 + eps)).log_z() - big.tempered(1 / (0.5 - eps)).log_z()) / (
        2 * eps)
    assert abs(big.exact_energy(2.0) - fd) < 1e-4


def test_onsager_formulas():
    tc = critical_temperature()
    assert abs(tc - 2 / math.log(1 + math.sqrt(2))) < 1e-12 and abs(tc - 2.269185) < 1e-6
    assert abs(onsager_energy(tc) + math.sqrt(2)) < 1e-10
    assert abs(onsager_energy(tc * (1 + 1e-9)) + math.sqrt(2)) < 1e-6  # continuous at T_c
    assert onsager_magnetisation(tc * 1.01) == 0.0
    assert abs(onsager_magnetisation(2.0) - 0.911319) < 1e-6
    assert abs(onsager_energy(2.0) + 1.745564575) < 1e-8
    t = torch.tensor([1.0, 2.0, 3.0])
    assert isinstance(onsager_energy(t), torch.Tensor) and onsager_energy(t).shape == (3,)
    with pytest.raises(ValueError, match="T must be"):
        onsager_energy(-1.0)


@pytest.mark.parametrize("nv,nh", [(6, 9), (9, 5)], ids=["enumerate-visible", "enumerate-hidden"])
def test_rbm_log_z_free_energy_and_conditionals(nv, nh):
    r = small_rbm(nv, nh)
    v, h = all_states(nv, (0.0, 1.0)), all_states(nh, (0.0, 1.0))
    joint = -r.joint_energy(v.repeat_interleave(len(h), 0), h.repeat(len(v), 1)).view(
        len(v), len(h)).detach()
    assert abs(r.log_z() - float(torch.logsumexp(joint.reshape(-1), 0))) < 1e-10
    # The free energy marginalises h; p(h_j = 1 | v) is the conditional of the joint.
    assert torch.allclose(-r(v).detach(), torch.logsumexp(joint, 1), atol=1e-10)
    p_joint = torch.softmax(joint, 1)
    assert torch.allclose(r.p_h_given_v(v).detach(), p_joint @ h, atol=1e-10)
    p_vh = torch.softmax(joint, 0)  # columns: p(v | h)
    assert torch.allclose(r.p_v_given_h(h).detach(), p_vh.T @ v, atol=1e-10)
    # Tempered: only the visible layer can be enumerated.
    rt = r.tempered(1.7)
    assert rt.has_exact_log_z == (nv <= 20)
    assert abs(rt.log_z() - brute_log_z(rt, nv, (0.0, 1.0))) < 1e-10
    # Exact samples match the exact marginals within 4 binomial standard errors.
    s = r.sample(20000, seed=0).double()
    p1 = torch.softmax(-r(v).detach(), 0) @ v
    assert ((s.mean(0) - p1).abs() < 4 * (p1 * (1 - p1) / 20000).sqrt() + 1e-9).all()


def test_rbm_log_z_limit_names_ais():
    r = RBM(30, 25)
    assert not r.has_exact_log_z
    with pytest.raises(NotImplementedError, match="ais"):
        r.log_z()
    assert RBM(30, 12).has_exact_log_z and not RBM(30, 12).tempered(2.0).has_exact_log_z


def test_flip_deltas_match_energy_differences():
    g = torch.Generator().manual_seed(0)
    ising = Ising(5, 0.8, 0.3, dtype=torch.float64)
    rbm = small_rbm(7, 4)
    bern = BernoulliProduct(torch.randn(7, generator=g), (0.0, 1.0), dtype=torch.float64)
    cases = [(ising, (-1.0, 1.0)), (rbm, (0.0, 1.0)), (bern, (0.0, 1.0)),
             (PathEnergy(bern, rbm, 0.3), (0.0, 1.0)), (ising.tempered(2.5), (-1.0, 1.0)),
             (ising + Ising(5, 0.2, 0.0, dtype=torch.float64), (-1.0, 1.0))]
    for E, (a, b) in cases:
        d = E.dim
        x = torch.where(torch.rand(6, d, generator=g) < 0.5, a, b).to(torch.int8)
        fd = site_model(E).flip_delta
        idx = torch.arange(d).expand(6, d)
        brute = torch.stack([E(torch.where(torch.arange(d) == i, a + b - x, x)) - E(x)
                             for i in range(d)], 1)
        assert torch.allclose(fd(x, idx).double(), brute.double().detach(), atol=1e-6), E
        per_chain = torch.randint(d, (6, 1), generator=g)
        assert torch.allclose(fd(x, per_chain), brute.gather(1, per_chain), atol=1e-6)
        assert torch.allclose(fd(x, None).double(), brute.double().detach(), atol=1e-6)
    # Ising's analytic gradient is -local_field; the energy from value_and_grad is E.
    x = torch.where(torch.rand(6, 25, generator=g) < 0.5, -1.0, 1.0).double()
    e, grad = ising.value_and_grad(x)
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(ising._energy(xg).sum(), xg)
    assert torch.allclose(e, ising(x)) and torch.allclose(grad, auto)


@pytest.mark.parametrize("L", [2, 3, 4, 5, 7])
def test_colouring_is_proper(L):
    E = Ising(L)
    col = E.colouring()
    nb = E.neighbour_table
    assert (col[nb] != col[:, None]).all()
    assert int(col.max()) + 1 == (2 if L % 2 == 0 else 3)


# -- the kernels against the exact 4 × 4 lattice ---------------------------------------------

KERNELS = {
    "gibbs-checkerboard": (lambda: Gibbs(), 400),
    "gibbs-random": (lambda: Gibbs(scan="random"), 150),
    "flip-random": (lambda: MetropolisFlip(), 150),
    "flip-checkerboard": (lambda: MetropolisFlip(scan="checkerboard"), 400),
    "flip-2": (lambda: MetropolisFlip(n_flips=2), 100),
    "wolff": (lambda: Wolff(), 400),
    "gwg": (lambda: GibbsWithGradients(), 60),
}


@pytest.mark.parametrize("T", [1.8, 3.0])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_reproduce_exact_ising_moments(name, T):
    """⟨E⟩ and ⟨|m|⟩ of the 4 × 4 lattice within 4 standard errors (SE = sd/√ESS), from the
    default start (uniformly random spins) after 100 warm-up steps."""
    make, n_steps = KERNELS[name]
    E = Ising(4)
    exact = E.exact_moments(T)
    t = make().run(E.tempered(T), n_chains=32, n_steps=n_steps, warmup=100, seed=1)
    assert set(t.samples.unique().tolist()) == {-1.0, 1.0}
    for obs, ref in [(t.samples.double().mean(-1).abs(), exact["abs_magnetisation"]),
                     (t.energy.double() * T, exact["energy"])]:
        m, se = mean_and_se(obs)
        assert abs(m - ref) < 4 * se, (name, T, m, ref, se)


def test_generic_fallback_and_integer_states():
    """An energy that declares nothing but its values (Counting hides the structure): Gibbs
    and Metropolis fall back to plain energy differences; int8 states stay int8."""
    T = 2.2
    E = Ising(4)
    exact = E.exact_moments(T)
    x0 = (torch.randint(2, (32, 16), generator=torch.Generator().manual_seed(0)) * 2 - 1).to(
        torch.int8)
    for k in (Gibbs(values=(-1, 1)), MetropolisFlip(scan="checkerboard", values=(-1, 1))):
        t = k.run(Counting(E.tempered(T)), x0=x0, n_steps=150, warmup=50, seed=2)
        assert t.samples.dtype == torch.int8
        m, se = mean_and_se(t.samples.double().mean(-1).abs())
        assert abs(m - exact["abs_magnetisation"]) < 4 * se, (k, m, se)
    with pytest.raises(ValueError, match="values="):
        Gibbs().run(Counting(E), x0=x0, n_steps=1)


def test_kernels_on_an_rbm_match_its_exact_marginals():
    """Block Gibbs, single-site Gibbs, Metropolis and Gibbs-with-gradients (whose Taylor
    estimate is inexact on the free energy, so its MH correction matters): ⟨Σ v⟩ within
    4 standard errors of the exact value."""
    r = small_rbm(10, 6)
    v = all_states(10, (0.0, 1.0))
    exact = float(torch.softmax(-r(v).detach(), 0) @ v.sum(1))
    for k, n in [(Gibbs(), 300), (Gibbs(block=False), 150), (MetropolisFlip(), 150),
                 (GibbsWithGradients(), 60)]:
        t = k.run(r, n_chains=32, n_steps=n, warmup=50, seed=0)
        m, se = mean_and_se(t.samples.double().sum(-1))
        assert abs(m - exact) < 4 * se, (k, m, exact, se)


def test_wolff_with_a_field_and_what_it_refuses():
    """h ≠ 0: the cluster flip is a Metropolis–Hastings proposal; ⟨m⟩ within 4 SE."""
    T, E = 2.0, Ising(4, h=0.2)
    exact = E.exact_moments(T)
    t = Wolff().run(E.tempered(T), n_chains=32, n_steps=400, warmup=100, seed=0)
    m, se = mean_and_se(t.samples.double().mean(-1))
    assert abs(m - exact["magnetisation"]) < 4 * se, (m, exact["magnetisation"], se)
    assert 0.02 < float(t.acceptance.mean()) < 0.9
    with pytest.raises(ValueError, match="Wolff needs an Ising energy"):
        Wolff().run(small_rbm(4, 3), n_chains=2, n_steps=1)
    with pytest.raises(ValueError, match="Wolff needs an Ising energy"):
        Wolff().run(PathEnergy(BernoulliProduct.uniform(16, (-1, 1)), E, 0.5), n_chains=2,
                    n_steps=1)


# -- costs, purity, parameters --------------------------------------------------------------------

COST_CASES = {
    "gibbs-checkerboard": (Gibbs, {}, "ising", 2 + 1),
    "gibbs-random": (Gibbs, {"scan": "random"}, "ising", 16 + 1),
    "gibbs-random-one": (Gibbs, {"scan": "random", "sweep": False}, "ising", 1),
    "flip-checkerboard": (MetropolisFlip, {"scan": "checkerboard"}, "ising", 2 + 1),
    "flip-2": (MetropolisFlip, {"n_flips": 2}, "ising", 16),
    "wolff": (Wolff, {"n_clusters": 2}, "ising", 1),
    "gibbs-block": (Gibbs, {}, "rbm", 3),
    "gibbs-rbm-sites": (Gibbs, {"block": False}, "rbm", 5 + 1),
}


@pytest.mark.parametrize("name", sorted(COST_CASES))
def test_reported_costs_match_a_counting_wrapper(name):
    cls, hyper, which, per_step = COST_CASES[name]
    base = Ising(4) if which == "ising" else small_rbm(5, 3)
    E = CountingSites(base)
    t = cls(**hyper).run(E, n_chains=8, n_steps=7, warmup=3, seed=0)
    assert t.n_energy_evals == E.energy_calls == 1 + 10 * per_step
    assert t.n_grad_evals == E.grad_calls == 0


def test_gwg_and_ais_costs_match_a_counting_wrapper():
    E = CountingSites(Ising(4))
    t = GibbsWithGradients(sweep=False).run(E, n_chains=8, n_steps=9, seed=0)
    assert t.n_grad_evals == E.grad_calls == 1 + 9 and E.energy_calls == 0
    r = CountingSites(small_rbm(5, 3))
    res = ais(r, base=BernoulliProduct.uniform(5), n_chains=16, n_temps=6, kernel=Gibbs(),
              seed=0)
    assert res.n_energy_evals == r.energy_calls and res.n_grad_evals == r.grad_calls == 0


@pytest.mark.parametrize("make", [Gibbs, lambda: Gibbs(scan="random"), MetropolisFlip,
                                  Wolff, GibbsWithGradients],
                         ids=["gibbs", "gibbs-random", "flip", "wolff", "gwg"])
def test_discrete_kernels_are_pure_and_seeded(make):
    k, E = make(), Ising(4).tempered(2.0)
    s = k.init(E, torch.randn(16, 16, generator=torch.Generator().manual_seed(0)),
               torch.Generator().manual_seed(1))
    x0 = s.x.clone()
    a, info = k.step(E, s, torch.Generator().manual_seed(5))
    b, _ = k.step(E, s, torch.Generator().manual_seed(5))
    assert torch.equal(s.x, x0) and torch.equal(a.x, b.x) and not torch.equal(a.x, x0)
    assert info.accept_prob.shape == (16,)
    assert torch.allclose(a.energy, E(a.x))


def test_params_and_names():
    assert el.samplers.names("discrete") == ["gibbs", "flip", "wolff", "gwg"]
    for name in el.samplers.names("discrete"):
        cls = el.samplers.spec(name)
        assert not cls.float_state and cls.params
        assert all(p.doc and p.validate(p.default) == p.default for p in cls.params)
    assert {p.name for p in el.samplers.live_params(Gibbs)} == {"scan", "sweep", "block"}
    assert isinstance(el.samplers.get("flip", n_flips=3), MetropolisFlip)
    with pytest.raises(ValueError, match="unknown sampler kernel"):
        el.samplers.get("glauber")
    with pytest.raises(ValueError, match="state must be"):
        el.samplers.names("spins")


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make,msg", [
    (lambda: Ising(1), "L must be >= 2"),
    (lambda: Ising(4, J=float("nan")), "J must be finite"),
    (lambda: Ising(4, h=float("inf")), "h must be finite"),
    (lambda: RBM(0, 3), "n_visible must be >= 1"),
    (lambda: RBM(3, 2, weight_scale=-1.0), "weight_scale must be >= 0"),
    (lambda: BernoulliProduct([0.0, float("nan")]), "logits must be finite"),
    (lambda: MetropolisFlip(n_flips=2, scan="checkerboard"), "n_flips=2 needs scan='random'"),
    (lambda: Gibbs(scan="diagonal"), "scan must be one of"),
    (lambda: Gibbs(values=(1, 1)), "values must be two different"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input(make, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace("=", "=")):
        make()


def test_invalid_states_are_refused_where_it_matters():
    E = Ising(3)
    zeros_ones = torch.randint(2, (4, 9))
    with pytest.raises(ValueError, match=r"entries in \{-1, 1\}"):
        E.log_prob(zeros_ones)
    with pytest.raises(ValueError, match=r"entries in \{-1, 1\}"):
        Gibbs().run(E, x0=zeros_ones, n_steps=1)
    assert torch.isfinite(E.log_prob(2 * zeros_ones - 1)).all()
    with pytest.raises(ValueError, match=r"shape \(N, 9\)"):
        E(torch.ones(4, 8))


# -- annealing and tempering on discrete energies -----------------------------------------------


def test_ais_on_an_rbm_recovers_log_z():
    """AIS from a factorised Bernoulli base with Gibbs moves of the path's exact conditionals
    (the path's flip deltas are (1-β)·base + β·target): within 0.1 nats of the exact log Z and
    within 4 of its standard errors."""
    r = small_rbm(12, 8)
    base = BernoulliProduct(r.b_visible.detach())
    res = ais(r, base=base, n_chains=256, n_temps=150, kernel=Gibbs(), seed=0)
    exact = r.log_z()
    assert abs(res.log_z - exact) < 0.1 and abs(res.log_z - exact) < 4 * res.stderr + 0.02, (
        res.log_z, exact, res.stderr)


def test_ais_and_smc_on_ising_from_uniform_spins():
    """Both particle runs from uniform spins (log Z₀ = D log 2) with Gibbs moves: within 4 of
    their standard errors (+0.02 for the Jensen bias of log Ẑ) of the exact log Z."""
    E = Ising(4).tempered(2.5)
    base = BernoulliProduct.uniform(16, (-1, 1))
    assert abs(base.log_z() - 16 * math.log(2)) < 1e-12
    res = ais(E, base=base, n_chains=256, n_temps=100, kernel=Gibbs(), seed=0)
    assert abs(res.log_z - E.log_z()) < 4 * res.stderr + 0.02, (res.log_z, E.log_z(),
                                                              res.stderr)
    smc = el.samplers.SMC(kernel=MetropolisFlip(scan="checkerboard"), n_mcmc=2).run(
        E, base=base, n_particles=512, seed=0)
    assert abs(smc.log_z - E.log_z()) < 4 * smc.stderr + 0.02, (smc.log_z, smc.stderr)


@pytest.mark.parametrize("kernel", [Gibbs(), Wolff()], ids=["gibbs", "wolff"])
def test_parallel_tempering_on_ising(kernel):
    """Replicas at T = 1.8 … 3.6 over the 4 × 4 lattice: the cold replica's ⟨|m|⟩ within
    4 SE of the exact value; swaps happen."""
    T = 1.8
    E = Ising(4).tempered(T)
    pt = ParallelTempering(kernel=kernel, n_replicas=4, max_temperature=2.0)
    t = pt.run(E, n_chains=32, n_steps=300, warmup=50, seed=0)
    m, se = mean_and_se(t.samples.double().mean(-1).abs())
    exact = Ising(4).exact_moments(T)["abs_magnetisation"]
    assert abs(m - exact) < 4 * se, (m, exact, se)
    assert min(t.extras["swap_acceptance"]) > 0.2


def test_parallel_tempering_runs_integer_states():
    """int8 spins through the ladder: the inverse temperatures stay floating point (an int8
    ladder would round 1/T to 0 or 1), so the cold replica's ⟨|m|⟩ matches the exact value
    within 4 SE, as with float spins."""
    T = 1.8
    x0 = torch.ones(32, 16, dtype=torch.int8)
    pt = ParallelTempering(kernel=Gibbs(), n_replicas=4, max_temperature=2.0)
    t = pt.run(Ising(4).tempered(T), x0=x0, n_steps=300, warmup=50, seed=0)
    assert t.samples.dtype == torch.int8
    m, se = mean_and_se(t.samples.double().mean(-1).abs())
    exact = Ising(4).exact_moments(T)["abs_magnetisation"]
    assert abs(m - exact) < 4 * se, (m, exact, se)


def test_rbm_block_gibbs_reuses_the_hidden_input_only_while_parameters_are_unchanged():
    """Block Gibbs on an RBM carries b_h + vW to the next step (one matrix product saved);
    the draws equal sample_hidden/sample_visible's, and a parameter update (an optimiser's
    in-place step) invalidates the carried value."""
    rbm = el.energies.RBM(30, 12, seed=0, weight_scale=0.3)
    v0 = torch.bernoulli(torch.full((50, 30), 0.5), generator=torch.Generator().manual_seed(1))
    kernel = el.samplers.Gibbs()

    def reference(state, gen, steps):
        for _ in range(steps):
            v = rbm.sample_visible(rbm.sample_hidden(state.x, gen), gen)
            state = state.replace(x=v, energy=rbm(v).detach(), aux=None)
        return state

    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = kernel.init(rbm, v0, gen_a)
    b = kernel.init(rbm, v0, gen_b)
    with torch.no_grad():
        for _ in range(5):
            a, _ = kernel.step(rbm, a, gen_a)
        b = reference(b, gen_b, 5)
        assert torch.equal(a.x, b.x) and torch.allclose(a.energy, b.energy)
        rbm.W.add_(0.5)  # in place, as an optimiser does
        rbm.b_hidden.sub_(0.3)
        for _ in range(3):
            a, _ = kernel.step(rbm, a, gen_a)
        b = reference(b, gen_b, 3)
    assert torch.equal(a.x, b.x) and torch.allclose(a.energy, rbm(a.x).detach())
