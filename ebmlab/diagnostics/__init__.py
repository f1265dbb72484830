"""Diagnostics: grid numerics (quadrature log Z, grid KL / TV, basin masses), the mass of
samples per declared mode, chain diagnostics (ESS, R-hat, autocorrelation, acceptance,
moment errors), sample discrepancies (MMD, kernel Stein discrepancy), cost against
accuracy (``budget_curve``) and classification / OOD metrics (AUROC, FPR at a TPR, ECE)."""

from .budget import BudgetCurve, budget_curve
from .chains import (
    acceptance_summary,
    autocorrelation,
    ess,
    integrated_autocorrelation_time,
    moment_errors,
    power_law_fit,
    rhat,
    stein_residual,
)
from .classification import ReliabilityBins, auroc, ece, fpr_at_tpr, reliability_bins
from .discrepancy import ksd, median_bandwidth, mmd, mmd_test
from .modes import (
    ModeMasses,
    mass_per_mode,
    mode_mass_path,
    mode_masses,
    nearest_mode,
    settled_after,
)
from .quadrature import (
    basin_masses,
    cell_probabilities,
    energy_values,
    exact_marginals,
    grid_kl,
    grid_tv,
    log_z_quadrature,
)

__all__ = [
    "BudgetCurve", "ModeMasses", "budget_curve", "mode_mass_path", "mode_masses",
    "nearest_mode", "settled_after",
    "acceptance_summary", "autocorrelation", "basin_masses", "cell_probabilities",
    "energy_values", "ess", "exact_marginals", "grid_kl", "grid_tv",
    "integrated_autocorrelation_time", "ksd", "log_z_quadrature", "mass_per_mode",
    "median_bandwidth", "mmd", "mmd_test", "moment_errors", "power_law_fit", "rhat",
    "stein_residual",
]
__all__ += ["ReliabilityBins", "auroc", "ece", "fpr_at_tpr", "reliability_bins"]
