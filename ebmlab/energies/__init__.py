"""Energies ``E(x)``, ``x: (N, D) -> (N,)``, defining ``p_T(x) ∝ exp(-E(x)/T)``.

Use ``names()`` / ``get(name, **params)`` for the registered 2-D landscapes.
"""

from .base import Box, Energy, EnergySpec, Param, Sum, Tempered, get, names, register, spec
from .gaussian import Gaussian, GaussianMixture
from .landscapes import Banana, Donut, DoubleWell, Funnel, Rastrigin, Squiggle
from .neural import LearnableGaussian, MLPEnergy

__all__ = [
    "Banana", "Box", "Donut", "DoubleWell", "Energy", "EnergySpec", "Funnel", "Gaussian",
    "GaussianMixture", "LearnableGaussian", "MLPEnergy", "Param", "Rastrigin", "Squiggle",
    "Sum", "Tempered", "get", "names", "register", "spec",
]
