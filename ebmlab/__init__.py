"""ebmlab: an interactive workbench and course for energy-based models."""

__version__ = "0.1.0"

from . import data, diagnostics, diffusion, energies, samplers, train, viz  # noqa: E402
from .results import record  # noqa: E402

__all__ = ["__version__", "data", "diagnostics", "diffusion", "energies", "record", "samplers",
           "train", "viz", "widgets"]


def __getattr__(name: str):
    if name == "widgets":  # imported on first use: it pulls in ipywidgets and plotly
        import importlib

        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module 'ebmlab' has no attribute {name!r}")
