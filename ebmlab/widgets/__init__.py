"""ipywidgets apps, thin views over the energies, samplers and diagnostics."""

from .explorer import EnergyExplorer
from .samplerlab import SamplerLab

__all__ = ["EnergyExplorer", "SamplerLab"]
