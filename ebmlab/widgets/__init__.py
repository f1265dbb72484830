"""ipywidgets apps, thin views over the energies, samplers, diagnostics and training."""

from .explorer import EnergyExplorer
from .samplerlab import SamplerLab
from .tempering import TemperingLab
from .training import TrainingMonitor

__all__ = ["EnergyExplorer", "SamplerLab", "TemperingLab", "TrainingMonitor"]
