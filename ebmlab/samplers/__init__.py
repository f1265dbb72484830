"""Batched MCMC samplers behind one interface (``init`` / ``step`` / ``run`` -> ``Trace``)."""

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

__all__ = [
    "HMC", "MALA", "RWM", "ULA", "DualAveraging", "KineticLangevin", "Sampler",
    "SamplerDivergence", "State", "Trace", "get", "initial_points", "names", "register", "spec",
]
