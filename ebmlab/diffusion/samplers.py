"""Reverse-time samplers for any score function ``s(x, t)``, and Feynman–Kac corrected
sampling of targets built from scores. All run on the one particle engine
(``ebmlab.samplers.run_particles``): the plain samplers are its unweighted configurations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import check_real
from ..samplers.particles import ParticleResult, run_particles
from .correctors import NoiseLevels, ReversePath, Target, tempered
from .schedules import Schedule


def _finish(res: ParticleResult, model: ReversePath) -> ParticleResult:
    res.extras["t"] = model.diffusion_times(res.times)
    res.extras["target"] = model.target.name
    res.extras["weighted"] = model.weighted
    res.extras["exact_start"] = model.target.exact_start
    return res


def fk_sample(target: Target, schedule: Schedule, n_particles: int, n_steps: int = 500,
              weighted: bool = True, ess_threshold: float = 0.5,
              resampling: str = "systematic", seed: int | torch.Generator | None = 0,
              snapshots: int = 0, spacing: str = "uniform") -> ParticleResult:
    """Sample ``target`` (``tempered``/``product``/``guided``/``steered``) with the
    Feynman–Kac corrected reverse SDE: ``n_steps`` Euler–Maruyama steps from ``t_max`` to
    ``t_min``, resampling (``resampling`` scheme) when ``ESS < ess_threshold · N`` (for a
    steered target, only every ``target.interval`` steps). ``weighted=False``: the naive
    sampler (the same moves, no weights, no resampling).

    Returns the engine's ``ParticleResult``: ``samples`` with ``weights()``, ``ess_history``,
    ``resampled``, ``log_z`` (≈ ``log ∫ γ_{t_min}`` when every model has ``log_prob``),
    ``n_grad_evals`` (score evaluations of every model), ``extras["t"]`` (the diffusion time
    of each entry of ``times``). Weight degeneracy shows in ``ess_history`` and ``ess``.
    """
    model = ReversePath(target, schedule, n_steps, weighted=weighted, spacing=spacing)
    res = run_particles(model, model.kernel, n_particles, n_mutations=1,
                        resampling=resampling,
                        ess_threshold=ess_threshold if weighted else 0.0,
                        tune=False, snapshots=snapshots, seed=seed)
    return _finish(res, model)


def reverse_sde(score, schedule: Schedule, n: int, n_steps: int = 500, dim: int | None = None,
                seed: int | torch.Generator | None = 0, snapshots: int = 0) -> ParticleResult:
    """Euler–Maruyama on the reverse-time SDE ``dx = [-f x + g² s(x, t)] dτ + g dW̄`` from the
    prior ``N(0, s_T² I)`` at ``t_max`` to ``t_min``. ``score``: ``s(x, t)`` or an object with
    ``.score`` (e.g. ``NoisedMixture``). Returns a ``ParticleResult`` (``.samples``)."""
    return fk_sample(tempered(score, 1.0, dim=dim), schedule, n, n_steps, weighted=False,
                     seed=seed, snapshots=snapshots)


def probability_flow(score, schedule: Schedule, n: int, n_steps: int = 500,
                     dim: int | None = None, seed: int | torch.Generator | None = 0,
                     snapshots: int = 0) -> ParticleResult:
    """Euler steps of the probability-flow ODE ``dx = [-f x + ½ g² s(x, t)] dτ`` (the same
    marginals as the SDE, deterministic given the start)."""
    model = ReversePath(tempered(score, 1.0, dim=dim), schedule, n_steps, weighted=False,
                        ode=True)
    res = run_particles(model, model.kernel, n, n_mutations=1, ess_threshold=0.0, tune=False,
                        snapshots=snapshots, seed=seed)
    return _finish(res, model)


def annealed_langevin(score, schedule: Schedule, n: int, n_levels: int = 10,
                      n_steps_each: int = 100, eps: float = 0.05, dim: int | None = None,
                      seed: int | torch.Generator | None = 0, snapshots: int = 0,
                      times: Sequence[float] | None = None, spacing: str = "g2",
                      init_scale: float = 1.0) -> ParticleResult:
    """Annealed Langevin dynamics (Song & Ermon 2019): ``n_levels`` noise levels from
    ``t_max`` to ``t_min`` (``schedule.times(n_levels - 1, spacing)``, or the given ``times``,
    noise decreasing), ``n_steps_each`` unadjusted Langevin moves
    ``x' = x + ε s + √(2ε) ξ`` at each, ``ε = eps σ(t)²`` (the step follows the noise
    variance). One level (``times=[t]``) is plain Langevin with the score of that level.
    The chains start from ``N(0, (init_scale · s_T)² I)`` (``s_T`` the prior's sd)."""
    eps = check_real("eps", eps, gt=0.0)
    model = NoiseLevels(tempered(score, 1.0, dim=dim), schedule, n_levels, eps, times=times,
                        spacing=spacing)
    model.init_scale = check_real("init_scale", init_scale, gt=0.0)
    return run_particles(model, model.kernel, n, n_mutations=n_steps_each, ess_threshold=0.0,
                         tune=False, snapshots=snapshots, seed=seed)
