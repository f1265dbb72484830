"""The sampler core: pure kernels, one chain driver, one particle engine. Reported costs
equal what a counting wrapper sees; kernels do not mutate their inputs; the driver and the
engine run a kernel on {-1, +1} spins unchanged; parallel tempering takes kernel objects;
the default start knows nothing of the target."""

from __future__ import annotations

import math

import pytest
import torch
from counting import Counting

import ebmlab as el
from ebmlab.energies import Energy, Gaussian, GaussianMixture
from ebmlab.params import Param
from ebmlab.samplers import (
    HMC,
    MALA,
    RWM,
    SMC,
    ULA,
    Chain,
    Info,
    Kernel,
    KineticLangevin,
    ParallelTempering,
    State,
    ais,
    multinomial_resample,
    residual_resample,
    run_particles,
    systematic_resample,
)

CORR = Gaussian([0.0, 0.0], [[1.0, 0.9], [0.9, 1.0]])
MIX = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 0.5]], [0.7, 0.6])
KERNELS = {
    "rwm": lambda: RWM(step_size=0.8),
    "ula": lambda: ULA(step_size=0.05),
    "mala": lambda: MALA(step_size=0.2),
    "hmc": lambda: HMC(step_size=0.2, n_leapfrog=4, jitter=0.3),
    "kinetic": lambda: KineticLangevin(step_size=0.1),
}


# -- pure kernels ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_are_pure_and_seeded(name):
    """``step`` leaves its input state untouched and depends only on (state, generator)."""
    k = KERNELS[name]()
    state = k.init(MIX, torch.randn(64, 2, generator=torch.Generator().manual_seed(0)),
                   torch.Generator().manual_seed(1))
    snapshot = {f: getattr(state, f).clone() for f in ("x", "energy", "grad", "momentum")
                if getattr(state, f) is not None}
    a, info_a = k.step(MIX, state, torch.Generator().manual_seed(7))
    b, _ = k.step(MIX, state, torch.Generator().manual_seed(7))
    for f, v in snapshot.items():
        assert torch.equal(getattr(state, f), v), f"{name}.step changed the input state's {f}"
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, state.x)
    assert isinstance(info_a, Info) and info_a.accept_prob.shape == (64,)
    if k.adapts:  # Metropolis kernels flag rejected non-finite proposals
        assert info_a.diverged is not None and info_a.diverged.dtype == torch.bool


def test_kernels_take_per_chain_step_sizes():
    """Every continuous kernel runs with ε as an (N, 1) tensor; equal entries give the
    same chain as the float step."""
    for name, make in KERNELS.items():
        k = make()
        s = k.init(MIX, torch.zeros(8, 2), torch.Generator().manual_seed(0))
        eps = float(k.step_size)
        a, _ = k.step(MIX, s.replace(step_size=eps), torch.Generator().manual_seed(3))
        b, _ = k.step(MIX, s.replace(step_size=torch.full((8, 1), eps)),
                      torch.Generator().manual_seed(3))
        assert torch.allclose(a.x, b.x, atol=1e-6), name


# -- cost counting ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_trace_reports_exactly_the_evaluations_made(name):
    E = Counting(MIX)
    t = KERNELS[name]().run(E, n_chains=16, n_steps=30, warmup=20, seed=0)
    assert t.n_grad_evals == E.grad_calls and t.n_energy_evals == E.energy_calls
    assert t.n_grad_evals + t.n_energy_evals > 0


def test_parallel_tempering_reports_exactly_the_evaluations_made():
    E = Counting(MIX)
    pt = ParallelTempering(kernel=HMC(step_size=0.2, n_leapfrog=3), n_replicas=4)
    t = pt.run(E, n_chains=8, n_steps=25, seed=0)
    assert t.n_grad_evals == E.grad_calls == 1 + 25 * 3
    assert E.rows == 4 * 8 * E.grad_calls  # every replica of every chain, every call


@pytest.mark.parametrize("kernel", [MALA(step_size=0.2), HMC(step_size=0.2, n_leapfrog=3),
                                    RWM(step_size=0.5)], ids=["mala", "hmc", "rwm"])
def test_ais_reports_exactly_the_evaluations_made(kernel):
    E = Counting(MIX)
    r = ais(E, n_chains=32, n_temps=6, kernel=kernel, n_steps_per_temp=2, seed=0)
    assert r.n_grad_evals == E.grad_calls and r.n_energy_evals == E.energy_calls
    per_move = kernel.hyper.get("n_leapfrog", 1)
    if kernel.uses_grad:
        assert E.grad_calls == 1 + 5 * 2 * per_move  # init, then 2 moves at 5 new β
    else:
        assert E.energy_calls == 1 + 5 * 2


def test_smc_reports_exactly_the_evaluations_made():
    E = Counting(MIX)
    r = SMC(n_mcmc=3, target_cess=0.7).run(E, n_particles=256, seed=0)
    steps = len(r.betas) - 1
    assert r.n_grad_evals == E.grad_calls == 1 + 3 * steps
    assert E.energy_calls == r.n_energy_evals == 0


# -- the driver --------------------------------------------------------------------------------


def test_default_start_knows_nothing_of_the_target():
    """A ring of radius 4: the default starts are N(0, 2² I) — their mean radius is
    2·√(π/2) ≈ 2.5, far from the ring — while the tempered-grid oracle starts near it."""
    ring = el.energies.get("ring")
    gen = torch.Generator().manual_seed(0)
    x = el.samplers.initial_points(ring, 4000, gen)
    r = x.norm(dim=1)
    # Rayleigh(σ = 2): mean 2·√(π/2), SD 2·√((4 - π)/2); SE of the mean over 4000 draws.
    se = 2 * math.sqrt((4 - math.pi) / 2) / math.sqrt(4000)
    assert abs(float(r.mean()) - 2 * math.sqrt(math.pi / 2)) < 4 * se
    oracle = el.samplers.initial_points(ring, 4000, gen, init="tempered-grid")
    assert float(oracle.norm(dim=1).mean()) > 3.3
    t = MALA().run(ring, n_chains=50, n_steps=1, seed=0)
    assert t.init == "gaussian"
    with pytest.raises(ValueError, match="init"):
        MALA().run(ring, n_chains=5, n_steps=1, init="target")


def test_chain_advance_is_resumable_and_equals_one_run():
    """Two advances of 10 steps give the numbers of one run of 20 (same generator)."""
    x0 = torch.zeros(5, 2)
    c = Chain(MALA(step_size=0.3, adapt=False), MIX, x0, seed=4)
    c.advance(10)
    c.advance(10)
    t = MALA(step_size=0.3, adapt=False).run(MIX, x0=x0, n_steps=20, seed=4)
    assert torch.equal(c.positions, t.final)
    assert c.n_grad == t.n_grad_evals == 21 and c.steps == 20


class SpinFlip(Kernel):
    """Metropolis single-spin flips on {-1, +1}^D (a test kernel: the discrete issue adds the
    real ones). Flip a uniformly chosen spin; accept with min(1, e^{E(x) - E(x')})."""

    name = "test-spin-flip"
    uses_grad = False
    float_state = False
    params = (Param("unused", 0.0, 0.0, 1.0, doc="no hyperparameters"),)

    def step(self, energy, state: State, gen: torch.Generator):
        n, d = state.x.shape
        j = torch.randint(d, (n,), generator=gen)
        y = state.x.clone()
        y[torch.arange(n), j] *= -1
        e_y = energy(y)
        prop = state.replace(x=y, energy=e_y)
        return el.samplers.moves.metropolis(state, prop, state.energy - e_y, gen, n_energy=1)


class Chain1D(Energy):
    """Ferromagnetic Ising chain with field: ``E(s) = -J Σ s_i s_{i+1} - h Σ s_i`` on integer
    spins; exact law by enumeration for small D."""

    exact_log_z = False

    def __init__(self, dim: int, coupling: float, field: float) -> None:
        super().__init__(dim)
        self.j, self.h = coupling, field

    def _energy(self, s: torch.Tensor) -> torch.Tensor:
        s = s.double()
        return -self.j * (s[:, 1:] * s[:, :-1]).sum(1) - self.h * s.sum(1)

    def enumerate(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.dim
        codes = torch.arange(2**d)
        s = ((codes[:, None] >> torch.arange(d)) & 1) * 2 - 1
        return s.to(torch.int8), torch.softmax(-self(s.to(torch.int8)), 0)


def test_driver_and_engine_run_discrete_states():
    """The driver samples int8 spins unchanged: the mean magnetisation matches enumeration
    within 4 standard errors (SE from the chains' ESS); the particle engine anneals the same
    kernel to the exact log Z."""
    E = Chain1D(6, 0.5, 0.2)
    s, p = E.enumerate()
    exact_m = float((p * s.double().sum(1)).sum())
    x0 = torch.ones(400, 6, dtype=torch.int8)
    t = SpinFlip().run(E, x0=x0, n_steps=400, warmup=100, seed=0)
    assert t.samples.dtype == torch.int8 and set(t.samples.unique().tolist()) == {-1, 1}
    m = t.samples.double().sum(-1, keepdim=True)  # (steps, chains, 1)
    n_eff = float(el.diagnostics.ess(m)[0])
    se = float(m.std()) / math.sqrt(n_eff)
    assert abs(float(m.mean()) - exact_m) < 4 * se, (float(m.mean()), exact_m, se)

    class SpinPath:  # π_β ∝ exp(-β E) from the uniform law on spins (log Z_0 = D log 2)
        t0, t_end, log_z0 = 0.0, 1.0, 6 * math.log(2.0)

        def initial(self, n, gen):
            return (torch.randint(2, (n, 6), generator=gen) * 2 - 1).to(torch.int8)

        def energy(self, beta):
            return E.tempered(1.0 / beta) if beta > 0 else Chain1D(6, 0.0, 0.0)

        def next_time(self, t, state, log_w):
            return min(1.0, round(t + 0.05, 10))

        def log_potential(self, t, t_next, state):
            return -(t_next - t) * E(state.x).double()

        def retarget(self, energy, state):
            return state.replace(energy=energy(state.x)), 0, 1

    r = run_particles(SpinPath(), SpinFlip(), 4000, n_mutations=2, ess_threshold=0.5, seed=0)
    exact = float(torch.logsumexp(-E(s), 0))
    assert abs(r.log_z - exact) < 4 * r.stderr + 0.01, (r.log_z, exact, r.stderr)
    assert r.samples.dtype == torch.int8


# -- parallel tempering with kernel objects ---------------------------------------------------


@pytest.mark.parametrize("kernel", [MALA(step_size=0.2), HMC(step_size=0.2, n_leapfrog=5),
                                    KineticLangevin(step_size=0.2, friction=1.0)],
                         ids=["mala", "hmc", "kinetic"])
def test_parallel_tempering_with_kernel_objects_recovers_mode_weights(kernel):
    """Separated 0.7/0.3 modes, every chain started in the 30 % mode: the T = 1 replica's
    left-mode share is 0.7 within 0.05 (the issue's acceptance bound)."""
    mix = el.energies.get("bimodal", separation=8.0, weight=0.7, std=0.7)
    x0 = torch.tensor([[4.0, 0.0]]).expand(200, 2).clone()
    pt = ParallelTempering(kernel=kernel, n_replicas=8, max_temperature=30.0)
    t = pt.run(mix, x0=x0, n_steps=1000, warmup=200, seed=0)
    left = float((t.samples[..., 0] < 0).double().mean())
    assert abs(left - 0.7) < 0.05, left
    assert pt.step_size == kernel.step_size


# -- resampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", [systematic_resample, multinomial_resample,
                                    residual_resample])
def test_resampling_schemes_are_unbiased(scheme):
    g = torch.Generator().manual_seed(0)
    w = torch.rand(50, generator=g)
    reps = 400
    mean = torch.zeros(50, dtype=torch.float64)
    for _ in range(reps):
        idx = scheme(w, g)
        assert idx.shape == (50,)
        mean += torch.bincount(idx, minlength=50).double()
    mean /= reps
    expected = 50 * w.double() / w.sum()
    # Counts are at most Binomial(N, wᵢ): SD ≤ √(N wᵢ), SE of the mean ≤ √(N wᵢ / reps).
    assert ((mean - expected).abs() < 4 * (expected / reps).sqrt() + 1e-9).all()


def test_residual_resampling_keeps_the_integer_parts():
    g = torch.Generator().manual_seed(1)
    w = torch.tensor([0.55, 0.3, 0.1, 0.05])
    for _ in range(20):
        counts = torch.bincount(residual_resample(w, g), minlength=4)
        assert (counts >= torch.floor(4 * w).long()).all() and counts.sum() == 4


def test_params_have_bool_and_choice_kinds():
    assert MALA().hyper["adapt"] is True
    with pytest.raises(ValueError, match="adapt must be True or False"):
        MALA(adapt=1)
    with pytest.raises(ValueError, match="splitting must be one of"):
        KineticLangevin(splitting="ABOBA")
    live = {p.name for p in el.samplers.live_params(HMC)}
    assert "step_size" in live and "target_accept" not in live


def test_annealers_keep_the_kernel_step_unless_told():
    """``ais(kernel=MALA(step_size=0.5))`` moves with 0.5 (not a default of the function):
    its mean acceptance differs from the same run at step 0.1."""
    big = ais(MIX, n_chains=64, n_temps=20, kernel=MALA(step_size=1.5), tune=False, seed=0)
    small = ais(MIX, n_chains=64, n_temps=20, kernel=MALA(step_size=1.5), step_size=0.05,
                tune=False, seed=0)
    assert big.acceptance < small.acceptance - 0.2, (big.acceptance, small.acceptance)
    assert SMC(kernel=MALA(step_size=0.7)).kernel.step_size == 0.7
    assert SMC().kernel.step_size == 0.1
