"""ipywidgets apps, thin views over the energies, samplers and diagnostics."""

from .explorer import EnergyExplorer
from .samplerlab import SamplerLab
from .tempering import TemperingLab

__all__ = ["EnergyExplorer", "SamplerLab", "TemperingLab"]
