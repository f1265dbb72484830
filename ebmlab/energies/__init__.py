"""Energies ``E(x)``, ``x: (N, D) -> (N,)``, defining ``p_T(x) ∝ exp(-E(x)/T)``.

Use ``names()`` / ``get(name, **params)`` for the registered 2-D landscapes. Each energy
declares its capabilities (``has_exact_log_z``, ``has_exact_sampler``, ``has_analytic_grad``,
``modes()``); ``box`` is its plotting view and ``domain`` where grid numerics are trusted.
"""

from .base import Box, Energy, EnergySpec, Param, get, names, register, spec
from .classifier import ClassConditional, EnergyClassifier
from .composition import Sum, Tempered
from .conditional import Clamped, Denoising
from .conv import ConvEnergy, ImageShape, as_images, conv_features
from .discrete import (
    RBM,
    BernoulliProduct,
    BinaryEnergy,
    Ising,
    critical_temperature,
    kaufman_log_z,
    onsager_energy,
    onsager_magnetisation,
    transfer_matrix_log_z,
)
from .gaussian import Gaussian, GaussianMixture
from .landscapes import Banana, Donut, DoubleWell, Funnel, Rastrigin, Squiggle
from .neural import LearnableGaussian, MLPEnergy

__all__ = [
    "Banana", "Box", "Donut", "DoubleWell", "Energy", "EnergySpec", "Funnel", "Gaussian",
    "GaussianMixture", "LearnableGaussian", "MLPEnergy", "Param", "Rastrigin", "Squiggle",
    "Sum", "Tempered", "get", "names", "register", "spec",
]
__all__ += [
    "RBM", "BernoulliProduct", "BinaryEnergy", "Ising", "critical_temperature", "kaufman_log_z",
    "onsager_energy", "onsager_magnetisation", "transfer_matrix_log_z",
]
__all__ += ["Clamped", "ConvEnergy", "Denoising", "ImageShape", "as_images", "conv_features"]
__all__ += ["ClassConditional", "EnergyClassifier"]
