"""Diffusion models as energies: noise schedules, exact noised Gaussian mixtures, reverse-time
samplers for any score function, and Feynman–Kac correctors (temperature, product,
classifier-free guidance, reward steering) run on the one particle engine."""

from .correctors import (
    POTENTIALS,
    ReversePath,
    ReverseStep,
    ScoreLangevin,
    Target,
    TargetSlice,
    guided,
    product,
    steered,
    tempered,
)
from .mixtures import NoisedMixture, check_mixture, grid_density_1d
from .samplers import annealed_langevin, fk_sample, probability_flow, reverse_sde
from .schedules import Schedule, VESchedule, VPSchedule, check_noise_levels
from .training import MultiLevelDSM, ScoreNet

__all__ = [
    "MultiLevelDSM", "POTENTIALS", "NoisedMixture", "ReversePath", "ReverseStep", "Schedule",
    "ScoreLangevin", "ScoreNet",
    "Target", "TargetSlice", "VESchedule", "VPSchedule", "annealed_langevin", "check_mixture",
    "check_noise_levels", "fk_sample", "grid_density_1d", "guided", "probability_flow",
    "product", "reverse_sde", "steered", "tempered",
]
