"""The sampler core: kernel objects with pure ``init``/``step``, one chain driver
(``Chain``/``run`` -> ``Trace``) and one Feynman–Kac particle engine (``run_particles``;
``ais`` and ``SMC`` are configurations of it). Parallel tempering is a kernel wrapping any
other kernel."""

from .annealing import SMC, GeometricPath, PathEnergy, ais, default_base, sigmoid_schedule
from .discrete import (
    Gibbs,
    GibbsWithGradients,
    MetropolisFlip,
    SiteModel,
    Wolff,
    linear_parts,
    site_model,
)
from .driver import Chain, SamplerDivergence, Trace, initial_points, run
from .kernel import Kernel, get, live_params, names, register, spec
from .kernels import HMC, MALA, RWM, ULA, KineticLangevin
from .moves import DualAveraging
from .particles import (
    FeynmanKacModel,
    ParticleResult,
    ess,
    multinomial_resample,
    residual_resample,
    run_particles,
    systematic_resample,
)
from .state import Info, State, evaluate
from .tempering import Ladder, ParallelTempering, geometric_ladder

__all__ = [
    "HMC", "MALA", "RWM", "SMC", "ULA", "Chain", "DualAveraging", "FeynmanKacModel",
    "GeometricPath", "Info", "Kernel", "KineticLangevin", "Ladder", "ParallelTempering",
    "ParticleResult", "PathEnergy", "SamplerDivergence", "State", "Trace", "ais",
    "default_base", "ess", "evaluate", "geometric_ladder", "get", "initial_points",
    "live_params", "multinomial_resample", "names", "register", "residual_resample", "run",
    "run_particles", "sigmoid_schedule", "spec", "systematic_resample",
]
__all__ += [
    "Gibbs", "GibbsWithGradients", "MetropolisFlip", "SiteModel", "Wolff",
    "linear_parts", "site_model",
]
