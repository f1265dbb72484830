"""ipywidgets apps, thin views over the energies, samplers, diagnostics and training.

``Lab`` is the live-lab base (Play / Pause / Step / Reset, the throttled frame loop, errors
as messages, frame timing); ``SamplerLab``, ``TemperingLab``, ``TrainingMonitor`` and
``IsingLab`` (the 2-D Ising model live) stand on it. ``live_frontend()`` says whether a person
will see the widgets (not in a headless papermill run, where the labs keep plain plotly
figures)."""

from .explorer import EnergyExplorer
from .ising import IsingLab
from .lab import Lab, live_frontend
from .samplerlab import SamplerLab
from .tempering import TemperingLab
from .training import TrainingMonitor

__all__ = ["EnergyExplorer", "IsingLab", "Lab", "SamplerLab", "TemperingLab", "TrainingMonitor",
           "live_frontend"]
