"""ebmlab: an interactive workbench and course for energy-based models."""

__version__ = "0.1.0"

from . import diagnostics, energies, samplers, viz  # noqa: E402

__all__ = ["__version__", "diagnostics", "energies", "samplers", "viz"]
