"""Chain diagnostics: autocorrelation, bulk/tail ESS and rank-normalised split-R-hat
(Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021), acceptance summaries, moment errors;
the Stein residual (configurational temperature by default), whose mean is zero under the
target, and a power-law fit of an error against a step size (the measured order of a bias).

Inputs are a ``Trace`` or a tensor laid out like ``Trace.samples``: ``(draws, chains)`` or
``(draws, chains, D)``. Results are per coordinate: ``(D,)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import special


def _draws(x: Any) -> np.ndarray:
    """``(chains, draws, D)`` float64 numpy array from a Trace or a (draws, chains[, D]) tensor."""
    s = getattr(x, "samples", x)
    if isinstance(s, torch.Tensor):
        s = s.detach().double().cpu().numpy()
    s = np.asarray(s, dtype=float)
    if s.ndim == 2:
        s = s[:, :, None]
    if s.ndim != 3:
        raise ValueError(f"samples must have shape (draws, chains[, D]), got {s.shape}")
    if s.shape[0] < 4:
        raise ValueError(f"need at least 4 draws per chain, got {s.shape[0]}")
    return np.transpose(s, (1, 0, 2))


def _split(c: np.ndarray) -> np.ndarray:
    """Split each chain in half: ``(M, N) -> (2M, N//2)``."""
    n = c.shape[1] // 2
    return np.concatenate([c[:, :n], c[:, -n:]], 0)


def _autocov(c: np.ndarray) -> np.ndarray:
    """Biased autocovariance of each chain by FFT: ``(M, N) -> (M, N)``."""
    m, n = c.shape
    z = c - c.mean(1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(z, size, axis=1)
    return np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n


def _ess_1d(c: np.ndarray) -> float:
    """ESS of ``(M, N)`` draws with Geyer's initial monotone sequence (as in Stan/ArviZ)."""
    m, n = c.shape
    if np.ptp(c) == 0 or not np.isfinite(c).all():
        return float("nan")
    acov = _autocov(c)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += c.mean(1).var(ddof=1)
    rho = np.zeros(n)
    rho[0] = 1.0
    mean_acov = acov.mean(0)
    even, odd = 1.0, 1.0 - (mean_var - mean_acov[1]) / var_plus
    rho[1] = odd
    t = 1
    while t < n - 3 and even + odd > 0:
        even = 1.0 - (mean_var - mean_acov[t + 1]) / var_plus
        odd = 1.0 - (mean_var - mean_acov[t + 2]) / var_plus
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # monotone: pair sums may not increase
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = 0.5 * (rho[t - 1] + rho[t])
        t += 2
    total = m * n
    tau = -1.0 + 2.0 * rho[: max_t + 1].sum() + rho[max_t + 1: max_t + 2].sum()
    tau = max(tau, 1.0 / math.log10(total))
    return total / tau


def _rank_normal(c: np.ndarray) -> np.ndarray:
    """Rank-normalise pooled draws: ``Φ⁻¹((r - 3/8)/(S + 1/4))``."""
    from scipy.stats import rankdata

    r = rankdata(c.ravel(), method="average").reshape(c.shape)
    return special.ndtri((r - 0.375) / (c.size + 0.25))


def _rhat_1d(c: np.ndarray) -> float:
    m, n = c.shape
    w = c.var(1, ddof=1).mean()
    b = n * c.mean(1).var(ddof=1)
    return float(math.sqrt(((n - 1) / n * w + b / n) / w)) if w > 0 else float("nan")


def ess(x: Any, kind: str = "bulk") -> torch.Tensor:
    """Effective sample size per coordinate, ``(D,)``: ``kind`` = ``"bulk"`` (rank-normalised
    split chains), ``"tail"`` (min over the 5 % and 95 % quantile indicators) or ``"basic"``."""
    d = _draws(x)
    out = []
    for j in range(d.shape[2]):
        c = d[:, :, j]
        if kind == "bulk":
            out.append(_ess_1d(_rank_normal(_split(c))))
        elif kind == "tail":
            s = _split(c)
            lo, hi = np.quantile(s, [0.05, 0.95])
            out.append(min(_ess_1d((s <= lo).astype(float)), _ess_1d((s <= hi).astype(float))))
        elif kind == "basic":
            out.append(_ess_1d(_split(c)))
        else:
            raise ValueError(f"kind must be one of 'bulk', 'tail', 'basic', got {kind!r}")
    return torch.tensor(out, dtype=torch.float64)


def rhat(x: Any) -> torch.Tensor:
    """Rank-normalised split-R-hat per coordinate, ``(D,)``: the max of the bulk and the
    folded (``|x - median|``) versions. Values above 1.01 signal non-convergence."""
    d = _draws(x)
    out = []
    for j in range(d.shape[2]):
        s = _split(d[:, :, j])
        folded = np.abs(s - np.median(s))
        out.append(max(_rhat_1d(_rank_normal(s)), _rhat_1d(_rank_normal(folded))))
    return torch.tensor(out, dtype=torch.float64)


def autocorrelation(x: Any, max_lag: int | None = None) -> torch.Tensor:
    """Autocorrelation averaged over chains, ``(max_lag + 1, D)``."""
    d = _draws(x)
    n = d.shape[1]
    max_lag = min(n - 1, max_lag if max_lag is not None else n // 2)
    out = []
    for j in range(d.shape[2]):
        acov = _autocov(d[:, :, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            acf = acov / acov[:, :1]
        out.append(np.nanmean(acf, 0)[: max_lag + 1])
    return torch.tensor(np.stack(out, 1), dtype=torch.float64)


def integrated_autocorrelation_time(x: Any) -> torch.Tensor:
    """``τ = (chains × draws) / ESS_basic`` per coordinate: steps per independent sample."""
    d = _draws(x)
    return d.shape[0] * (d.shape[1] // 2) * 2 / ess(x, "basic")


def acceptance_summary(trace: Any) -> dict[str, float]:
    """Mean, spread and extremes of the per-chain acceptance rates of a ``Trace``."""
    a = getattr(trace, "acceptance", trace)
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    q = torch.quantile(a, torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64))
    return {"mean": float(a.mean()), "min": float(a.min()), "q05": float(q[0]),
            "median": float(q[1]), "q95": float(q[2]), "max": float(a.max())}


def moment_errors(x: Any, mean: Any, var: Any | None = None,
                  reference_n: int | None = None) -> dict[str, torch.Tensor]:
    """Errors of the sample mean (and variance) in Monte Carlo standard errors, per coordinate.

    ``z_mean = (x̄ - μ) / (s/√ESS_mean)`` and ``z_var = (s² - σ²) / √((m₄ - s⁴)/ESS_var)``, where
    for chains (``x`` a Trace or a ``(draws, chains, D)`` tensor) ``ESS_mean`` is the ESS of
    ``x`` and ``ESS_var`` the ESS of ``(x - x̄)²`` (as for Stan's MCSE of the mean and the sd),
    and for an ``(N, D)`` tensor of independent samples both are ``N``. If ``mean``/``var`` were
    themselves estimated from ``reference_n`` independent exact samples, their variance is
    added: ``SE² = σ²/ESS + σ²/reference_n``. ``|z| < 4`` is a 4-standard-error agreement.
    """
    s = getattr(x, "samples", x)
    s = torch.as_tensor(s).double()
    if s.ndim == 2:  # independent samples (N, D)
        flat = s
        n_mean = n_var = torch.full((s.shape[1],), float(s.shape[0]), dtype=torch.float64)
    else:
        flat = s.reshape(-1, s.shape[-1])
        n_mean = ess(s, "basic")
        n_var = ess((s - flat.mean(0)) ** 2, "basic")
    extra = 0.0 if reference_n is None else 1.0 / reference_n
    mu = torch.as_tensor(mean, dtype=torch.float64)
    m = flat.mean(0)
    v = flat.var(0)
    out = {"z_mean": (m - mu) / torch.sqrt(v * (1.0 / n_mean + extra)), "ess": n_mean}
    if var is not None:
        sig2 = torch.as_tensor(var, dtype=torch.float64)
        m4 = ((flat - m) ** 4).mean(0)
        out["z_var"] = (v - sig2) / torch.sqrt((m4 - v**2).clamp_min(1e-300)
                                               * (1.0 / n_var + extra))
        out["ess_var"] = n_var
    return out


def _diagonal_derivative(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``∂f_i/∂x_i`` for ``f: (N, D)`` computed from ``x: (N, D)`` row by row, by autograd."""
    d = x.shape[1]
    return torch.stack([torch.autograd.grad(f[:, i].sum(), x, retain_graph=i < d - 1)[0][:, i]
                        for i in range(d)], 1)


def _stein_terms(energy, x: torch.Tensor, test_function, analytic: bool
                 ) -> torch.Tensor:
    if test_function is None:  # φ = ∇E: differentiate the gradient itself
        if analytic:
            g = energy.grad(x)
        else:
            (g,) = torch.autograd.grad(energy(x).sum(), x, create_graph=True)
        return g.detach() * g.detach() - _diagonal_derivative(g, x)
    g = energy.grad(x).detach()
    phi = test_function(x)
    if not isinstance(phi, torch.Tensor) or phi.shape != x.shape:
        raise ValueError(f"test_function must map (N, {x.shape[1]}) points to (N, "
                         f"{x.shape[1]}) values, got {getattr(phi, 'shape', type(phi))}")
    return phi.detach() * g - _diagonal_derivative(phi, x)


def stein_residual(x: Any, energy, test_function=None, chunk: int = 100_000) -> torch.Tensor:
    """The Stein residual ``r_i(x) = φ_i(x) ∂_i E(x) - ∂_i φ_i(x)`` per point and coordinate,
    shaped like ``x`` (a Trace's samples, ``(draws, chains, D)``, or ``(N, D)``).

    Integration by parts gives ``E_p[φ_i ∂_i E] = E_p[∂_i φ_i]`` for ``p ∝ e^{-E}`` and any
    smooth ``φ`` that does not grow too fast, so ``E_p[r_i] = 0`` exactly: the mean of ``r``
    over a sampler's draws measures its bias from ``∇E`` alone, with no exact samples and no
    ``log Z`` (the identity behind the kernel Stein discrepancy). The default ``φ = ∇E``
    gives the configurational temperature of molecular dynamics, ``r_i = (∂_i E)² - ∂²_i E``
    (``T_conf = E(∂_iE)² / E ∂²_iE = 1``). ``test_function`` maps ``(N, D) -> (N, D)`` with
    differentiable torch operations. Derivatives by autograd (through the energy's analytic
    gradient where it declares one), in float64, ``chunk`` points at a time.
    """
    s = getattr(x, "samples", x)
    if not isinstance(s, torch.Tensor) or s.ndim < 2 or s.shape[-1] != energy.dim:
        raise ValueError(f"x must be a Trace or a tensor of shape (..., {energy.dim}), got "
                         f"{getattr(s, 'shape', type(s).__name__)}")
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    flat = s.detach().reshape(-1, energy.dim)
    dtype = next((p.dtype for p in energy.parameters()), torch.float64)
    out = []
    with torch.enable_grad():
        for part in flat.split(chunk):
            xg = part.to(dtype).requires_grad_(True)
            try:  # an analytic gradient written with in-place ops cannot be differentiated
                r = _stein_terms(energy, xg, test_function, energy.has_analytic_grad)
            except RuntimeError:
                if test_function is not None or not energy.has_analytic_grad:
                    raise
                r = _stein_terms(energy, xg, None, False)
            out.append(r.detach().double())
    return torch.cat(out).reshape(s.shape)


def power_law_fit(x: Any, y: Any, se: Any) -> dict[str, float]:
    """Fit ``y = a · x^p`` by weighted least squares in linear space (weights ``1/se²``; the
    standard errors are taken as known), e.g. a sampler's bias ``y ± se`` against its step
    size ``x``: ``p`` is the measured order of the error.

    Returns ``order`` (``p``), ``order_se`` (its standard error from the fit's covariance),
    ``prefactor`` (``a``) and ``chi2`` (the weighted residual sum of squares; about
    ``len(x) - 2`` when the model and the standard errors are right). Fitting in linear space
    keeps small, noisy ``y`` (even ≤ 0) usable, which a log–log fit cannot.
    """
    from scipy.optimize import curve_fit

    xs, ys, ss = (np.asarray(torch.as_tensor(v, dtype=torch.float64), dtype=float).ravel()
                  for v in (x, y, se))
    if not (xs.size == ys.size == ss.size) or xs.size < 3:
        raise ValueError(f"x, y and se must have the same length >= 3, got {xs.size}, "
                         f"{ys.size}, {ss.size}")
    if (xs <= 0).any() or (ss <= 0).any() or not np.isfinite(np.r_[xs, ys, ss]).all():
        raise ValueError("x and se must be positive and all values finite")
    ref = float(np.exp(np.log(xs).mean()))  # fit a·(x/ref)^p: a and p nearly uncorrelated
    pos = ys > 0
    if pos.sum() >= 2:  # start from the log–log fit of the positive points
        p0, c0 = np.polyfit(np.log(xs[pos] / ref), np.log(ys[pos]), 1)
        start = (float(np.exp(c0)), float(p0))
    else:
        start = (float(np.abs(ys).mean()), 1.0)

    def model(t, a, p):
        return a * (t / ref) ** p

    (a, p), cov = curve_fit(model, xs, ys, p0=start, sigma=ss, absolute_sigma=True,
                            maxfev=10_000)
    chi2 = float((((ys - model(xs, a, p)) / ss) ** 2).sum())
    return {"order": float(p), "order_se": float(math.sqrt(cov[1, 1])),
            "prefactor": float(a * ref ** (-p)), "chi2": chi2}
