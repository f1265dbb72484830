"""Pure figure functions (data in, figure out) and ``savefig``."""

from .chains import plot_autocorrelation, plot_bars, plot_error_order, plot_traces
from .classify import plot_label_histograms, plot_reliability
from .diffusion import plot_density_1d, plot_ess_traces
from .discrete import plot_filters, plot_heatmaps
from .images import plot_histograms, plot_image_grid
from .landscape import (
    landscape_arrays,
    mass_thresholds,
    plot_curves,
    plot_gradient_field,
    plot_landscape,
    plot_marginals,
    plot_samples,
    plot_temperatures,
    plot_trajectories,
    surface_3d,
)
from .panels import budget_plot, plot_mode_masses, replica_panels
from .save import configure, figure_metadata, savefig
from .style import OKABE_ITO, new_figure, style

__all__ = [
    "budget_plot", "plot_mode_masses", "replica_panels", "plot_density_1d", "plot_ess_traces",
    "OKABE_ITO", "configure", "figure_metadata", "landscape_arrays", "mass_thresholds",
    "new_figure", "plot_autocorrelation", "plot_bars", "plot_curves", "plot_error_order",
    "plot_gradient_field",
    "plot_landscape", "plot_marginals", "plot_samples", "plot_temperatures", "plot_traces",
    "plot_trajectories", "savefig", "style", "surface_3d",
]
__all__ += ["plot_histograms", "plot_image_grid"]
__all__ += ["plot_label_histograms", "plot_reliability"]
__all__ += ["plot_filters", "plot_heatmaps"]
