"""Batched MCMC samplers behind one interface (``init`` / ``step`` / ``run`` -> ``Trace``)."""

from .annealing import SMC, AISResult, SMCResult, ais, systematic_resample
from .base import (
    DualAveraging,
    Sampler,
    SamplerDivergence,
    State,
    Trace,
    get,
    initial_points,
    names,
    register,
    spec,
)
from .kernels import HMC, MALA, RWM, ULA, KineticLangevin
from .tempering import Ladder, ParallelTempering, geometric_ladder

__all__ = [
    "AISResult", "HMC", "MALA", "RWM", "SMC", "SMCResult", "ULA", "ais",
    "systematic_resample", "DualAveraging", "KineticLangevin", "Ladder",
    "ParallelTempering", "Sampler", "geometric_ladder",
    "SamplerDivergence", "State", "Trace", "get", "initial_points", "names", "register", "spec",
]
