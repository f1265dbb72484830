"""Discrete energies over binary sites: the 2-D Ising model, the restricted Boltzmann machine
(through its free energy) and a factorised Bernoulli base.

States are ``(N, D)`` tensors of any dtype (float or integer) whose entries take one of two
``values`` per site, ``(-1, +1)`` spins or ``(0, 1)`` units; energies are computed in the
energy's own float dtype (``dtype=`` at construction, the torch default otherwise).

What discrete kernels (``ebmlab.samplers.Gibbs``, ``MetropolisFlip``, ``Wolff``,
``GibbsWithGradients``) may ask of an energy — every method is optional, kernels fall back to
plain energy differences without it:

- ``values``: the two states of a site;
- ``flip_delta(x, index=None) -> (N, k)``: ``E(x with site index[n, j] flipped) - E(x)`` for
  each of the ``k`` sites of every chain, each flipped alone (from local fields, no full
  evaluation); every site, ``(N, D)``, when ``index`` is ``None``;
- ``colouring() -> (D,)`` long: a proper colouring of the interaction graph — sites of one
  colour do not interact, so their conditionals are independent given the rest (a
  checkerboard on the Ising lattice; all zeros when no site interacts with another). An
  energy that declares one must accept ``flip_delta(x, None)``: with up to four colours
  kernels update whole-lattice tensors under a colour mask;
- ``sample_hidden(v, gen)`` / ``sample_visible(h, gen)``: exact block conditionals of a
  latent-variable model whose free energy this is (the RBM);
- ``neighbour_table``, ``J``, ``h``: the nearest-neighbour lattice (cluster moves).

Input checks: shapes are checked on every call (as for every energy); whether the entries
are valid states is checked by ``check_states``, which ``log_prob`` and the discrete kernels'
``init`` call once — not on the sampling hot path.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_int, check_real, make_generator
from .base import Energy

ENUMERATION_LIMIT = 20  # sites (or hidden units) enumerated exactly: 2^20 ≈ 10^6 states
TRANSFER_LIMIT = 10  # Ising side length up to which the row transfer matrix (2^L) is used
_CHUNK = 1 << 16


def _float_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    return dtype


def _codes_to_states(codes: torch.Tensor, d: int, values: tuple[float, float],
                     dtype: torch.dtype) -> torch.Tensor:
    """Binary codes ``(M,)`` to states ``(M, d)``: bit ``i`` of the code is site ``i``."""
    bits = (codes[:, None] >> torch.arange(d, device=codes.device)) & 1
    a, b = values
    return (a + (b - a) * bits).to(dtype)


def _enumerate(d: int, values: tuple[float, float], fn, dtype=torch.float64) -> torch.Tensor:
    """``fn(states)`` over all ``2^d`` states in chunks, concatenated: ``(2^d, ...)``."""
    total = 1 << d
    out = []
    for start in range(0, total, _CHUNK):
        codes = torch.arange(start, min(total, start + _CHUNK))
        out.append(fn(_codes_to_states(codes, d, values, dtype)))
    return torch.cat(out)


def _log2cosh(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    return a + torch.log1p(torch.exp(-2.0 * a))


class BinaryEnergy(Energy):
    """Base class of energies over two values per site. Declares ``values`` and provides
    ``check_states`` (a ``ValueError`` for entries outside ``values``) and a ``log_prob``
    that checks its input."""

    values: ClassVar[tuple[float, float]] = (0.0, 1.0)

    def check_states(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` unchanged if it is ``(N, D)`` with entries in ``values``, else ``ValueError``
        (one reduction and one host sync)."""
        self._validate(x)
        a, b = self.values
        bad = ~((x == a) | (x == b))
        if bool(bad.any()):
            n_bad = int(bad.any(1).sum())
            bad_vals = torch.unique(x[bad])[:5].tolist()
            raise ValueError(f"states of {type(self).__name__} must have entries in "
                             f"{{{a:g}, {b:g}}}; {n_bad} of {x.shape[0]} rows have others, "
                             f"e.g. {bad_vals}")
        return x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = -E(x) - log Z`` for valid states (checked), ``(N,)``."""
        return -self(self.check_states(x)) - self.log_z()

    def colouring(self) -> torch.Tensor | None:
        return None

    def _flipped(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.values
        return (a + b) - x


# -- the Ising model -------------------------------------------------------------------------


def critical_temperature(J: float = 1.0) -> float:
    """Onsager's critical temperature of the square lattice, ``T_c = 2J / ln(1 + √2)``
    (≈ 2.269 J)."""
    J = check_real("J", J, gt=0.0)
    return 2.0 * J / math.log1p(math.sqrt(2.0))


def _like(T, out: np.ndarray):
    if isinstance(T, torch.Tensor):
        return torch.as_tensor(out, dtype=torch.float64)
    if np.ndim(T) == 0 and not isinstance(T, np.ndarray):
        return float(out)
    return out


def onsager_energy(T, J: float = 1.0):
    """Onsager's energy per spin of the infinite square lattice (``h = 0``):
    ``u = -J coth 2K [1 + (2/π)(2 tanh² 2K - 1) K₁(κ)]``, ``K = J/T``,
    ``κ = 2 sinh 2K / cosh² 2K``, ``K₁`` the complete elliptic integral of the first kind
    (``u(T_c) = -√2 J``). ``T``: a float, array or tensor (same type back)."""
    from scipy.special import ellipkm1

    J = check_real("J", J, gt=0.0)
    t = np.asarray(T.detach().cpu().numpy() if isinstance(T, torch.Tensor) else T,
                   dtype=float)
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"T must be finite and > 0, got {T!r}")
    k = 2.0 * J / t
    # κ² = 1 - κ'² with κ' = 2 tanh² 2K - 1: K₁(κ) = ellipkm1(κ'²) stays accurate near T_c,
    # where κ → 1 and κ' K₁(κ) → 0.
    coef = 2.0 * np.tanh(k) ** 2 - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ell = np.where(coef == 0.0, 0.0, coef * ellipkm1(coef**2))
    u = -J / np.tanh(k) * (1.0 + 2.0 / math.pi * ell)
    return _like(T, u)


def onsager_magnetisation(T, J: float = 1.0):
    """The spontaneous magnetisation of the infinite lattice (Onsager, Yang):
    ``m = (1 - sinh(2J/T)^-4)^(1/8)`` below ``T_c``, 0 above. Same input types as
    ``onsager_energy``."""
    J = check_real("J", J, gt=0.0)
    t = np.asarray(T.detach().cpu().numpy() if isinstance(T, torch.Tensor) else T,
                   dtype=float)
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"T must be finite and > 0, got {T!r}")
    inner = 1.0 - np.sinh(2.0 * J / t) ** -4.0
    m = np.where(inner > 0.0, np.abs(inner) ** 0.125, 0.0)
    return _like(T, m)


def kaufman_log_z(L: int, K: float | torch.Tensor) -> torch.Tensor:
    """Exact ``log Z`` of the ``L × L`` periodic Ising lattice at ``h = 0`` and coupling
    ``K = J/T > 0`` (Kaufman 1949):

    ``Z = ½ (2 sinh 2K)^{L²/2} [Π 2cosh(Lγ_{2r+1}/2) + Π 2sinh(Lγ_{2r+1}/2)
    + Π 2cosh(Lγ_{2r}/2) + Π 2sinh(Lγ_{2r}/2)]``, ``r = 0 … L-1``,

    ``cosh γ_l = cosh 2K coth 2K - cos(πl/L)`` for ``l ≥ 1`` and the *signed*
    ``γ_0 = 2K + ln tanh K``: negative above ``T_c``, which makes ``sinh(Lγ_0/2)`` and so the
    last product negative there. Products are summed in log space with their signs. Returns a
    float64 tensor (differentiable in ``K``)."""
    L = check_int("L", L, ge=2)
    K = torch.as_tensor(K, dtype=torch.float64)
    if not bool(K > 0):
        raise ValueError(f"K must be > 0, got {float(K):g}")
    r = torch.arange(1, 2 * L, dtype=torch.float64)
    c = torch.cosh(2 * K) / torch.tanh(2 * K) - torch.cos(math.pi * r / L)
    gam = torch.cat([(2 * K + torch.log(torch.tanh(K))).reshape(1), torch.acosh(c)])
    half = 0.5 * L * gam
    a = half.abs()
    log_c = a + torch.log1p(torch.exp(-2 * a))  # log 2cosh
    log_s = a + torch.log(-torch.expm1(-2 * a))  # log |2sinh|
    sgn = torch.sign(half.detach())
    odd, even = slice(1, None, 2), slice(0, None, 2)
    logs = torch.stack([log_c[odd].sum(), log_s[odd].sum(), log_c[even].sum(),
                        log_s[even].sum()])
    signs = torch.stack([torch.ones((), dtype=torch.float64), sgn[odd].prod(),
                         torch.ones((), dtype=torch.float64), sgn[even].prod()])
    m = logs.detach().max()
    total = (signs * torch.exp(logs - m)).sum()
    log_2sinh = 2 * K + torch.log(-torch.expm1(-4 * K))  # log 2 sinh 2K, no overflow
    return math.log(0.5) + 0.5 * L * L * log_2sinh + m + torch.log(total)


def _row_states(L: int) -> torch.Tensor:
    codes = torch.arange(1 << L)
    return _codes_to_states(codes, L, (-1.0, 1.0), torch.float64)


def transfer_matrix_log_z(L: int, K: float | torch.Tensor, H: float | torch.Tensor = 0.0
                          ) -> torch.Tensor:
    """Exact ``log Z = log Tr T^L`` of the ``L × L`` periodic Ising lattice with coupling
    ``K = J/T`` and field ``H = h/T``, by the symmetric row-to-row transfer matrix
    ``T(σ, σ') = e^{w(σ)/2} e^{K σ·σ'} e^{w(σ')/2}``, ``w(σ) = K Σ_c σ_c σ_{c+1} + H Σ_c σ_c``
    (``2^L × 2^L``; float64 eigenvalues). Any sign of ``K``, any ``H``."""
    L = check_int("L", L, ge=2)
    K = torch.as_tensor(K, dtype=torch.float64)
    H = torch.as_tensor(H, dtype=torch.float64)
    s = _row_states(L)
    w = K * (s * s.roll(-1, 1)).sum(1) + H * s.sum(1)
    log_t = 0.5 * w[:, None] + K * (s @ s.T) + 0.5 * w[None, :]
    c = log_t.detach().max()
    lam = torch.linalg.eigvalsh(torch.exp(log_t - c))
    top = lam.detach().abs().max()
    return L * (c + torch.log(top)) + torch.log(((lam / top) ** L).sum())


class Ising(BinaryEnergy):
    """The 2-D Ising model on an ``L × L`` periodic lattice:
    ``E(s) = -J Σ_<ij> s_i s_j - h Σ_i s_i``, ``s ∈ {-1, +1}^{L²}`` in row-major order.

    Bonds: every site couples to its right and its lower neighbour (with wrap-around), ``2L²``
    bonds; for ``L = 2`` the two bonds of a pair coincide, so each pair is coupled twice (the
    convention of the transfer-matrix and Kaufman formulae, which hold for every ``L ≥ 2``).

    Exact ``log Z`` (at every temperature: ``E/T`` is the Ising model with ``J/T``, ``h/T``):
    by enumeration up to 20 spins, by Kaufman's closed form for ``h = 0`` at any ``L``
    (ferromagnetic, or antiferromagnetic on even ``L`` by flipping a sublattice), by the row
    transfer matrix for ``L ≤ 10``; otherwise ``NotImplementedError``. Exact samples by
    enumeration up to 20 spins.

    Local structure for samplers: ``local_field(s) = J Σ_{j~i} s_j + h`` (flipping ``s_i``
    costs ``2 s_i f_i``), ``flip_delta``, a checkerboard ``colouring`` (three colours when
    ``L`` is odd), ``neighbour_table`` (right, left, down, up) for cluster moves.
    ``grad`` is ``-local_field`` (the energy is multilinear: first-order flips are exact).
    """

    values = (-1.0, 1.0)
    analytic_grad = True
    exact_when_tempered = True
    exact_log_z: bool
    exact_sampler: bool

    def __init__(self, L: int, J: float = 1.0, h: float = 0.0,
                 dtype: torch.dtype | None = None) -> None:
        L = check_int("L", L, ge=2)
        J = check_real("J", J)
        h = check_real("h", h)
        super().__init__(L * L)
        self.L, self.J, self.h = L, J, h
        self.register_buffer("coupling", torch.tensor([J, h], dtype=_float_dtype(dtype)))
        r, c = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
        idx = lambda rr, cc: ((rr % L) * L + cc % L).reshape(-1)  # noqa: E731
        self.register_buffer("neighbour_table", torch.stack(
            [idx(r, c + 1), idx(r, c - 1), idx(r + 1, c), idx(r - 1, c)], 1))
        if L % 2 == 0:
            colour = (r + c) % 2
        else:  # an odd cycle needs 3 colours; colour the torus by the sum mod 3
            c3 = torch.where(torch.arange(L) == L - 1, 2, torch.arange(L) % 2)
            colour = (c3[r] + c3[c]) % 3
        self.register_buffer("_colour", colour.reshape(-1).long())
        d = L * L
        self.exact_log_z = (d <= ENUMERATION_LIMIT or J == 0.0 or L <= TRANSFER_LIMIT
                            or (h == 0.0 and (J > 0 or L % 2 == 0)))
        self.exact_sampler = d <= ENUMERATION_LIMIT

    def extra_repr(self) -> str:
        return f"L={self.L}, J={self.J:g}, h={self.h:g}"

    @property
    def dtype(self) -> torch.dtype:
        return self.coupling.dtype

    # -- energy and local structure ----------------------------------------------------------
    def _spins(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.coupling.dtype).view(x.shape[0], self.L, self.L)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        s = self._spins(x)
        bonds = (s * (s.roll(-1, 1) + s.roll(-1, 2))).sum((1, 2))
        e = -self.J * bonds
        return e - self.h * s.sum((1, 2)) if self.h != 0.0 else e

    def local_field(self, x: torch.Tensor) -> torch.Tensor:
        """``f_i = J Σ_{j~i} s_j + h``: ``(N, D)``."""
        s = self._spins(x)
        nb = (s.roll(1, 1) + s.roll(-1, 1)).add_(s.roll(1, 2)).add_(s.roll(-1, 2))
        f = nb.mul_(self.J) if self.h == 0.0 else nb.mul_(self.J).add_(self.h)
        return f.view(x.shape[0], -1)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return -self.local_field(x)

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.local_field(x)
        s = x.to(f.dtype)
        # E = -½ Σ s_i (f_i - h) - h Σ s_i: each bond counted from both ends.
        e = -0.5 * (s * (f - self.h)).sum(1) - self.h * s.sum(1)
        return e, -f

    def flip_delta(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``E(flip s_i) - E(s) = 2 s_i f_i`` at ``index: (N, k)`` sites: ``(N, k)``; every
        site (``(N, D)``, from rolls of the lattice) when ``index`` is ``None``."""
        s = x.to(self.coupling.dtype)
        if index is None:
            return 2.0 * s * self.local_field(s)
        n, k = index.shape
        if index.stride(0) == 0:  # the same sites in every chain (a colour class)
            sites = index[0]
            nb = s[:, self.neighbour_table[sites].reshape(-1)].view(n, k, 4).sum(-1)
            s_i = s[:, sites]
        else:
            nb = s.gather(1, self.neighbour_table[index].reshape(n, 4 * k)).view(n, k, 4).sum(-1)
            s_i = s.gather(1, index)
        f = nb * self.J if self.h == 0.0 else nb * self.J + self.h
        return 2.0 * s_i * f

    def colouring(self) -> torch.Tensor:
        return self._colour

    # -- observables ------------------------------------------------------------------------
    @staticmethod
    def magnetisation(x: torch.Tensor) -> torch.Tensor:
        """Magnetisation per spin ``m = Σ s_i / D``: ``(..., D) -> (...)``."""
        s = x if x.is_floating_point() else x.to(torch.get_default_dtype())
        return s.mean(-1)

    def energy_per_spin(self, x: torch.Tensor) -> torch.Tensor:
        """``E(s) / D``: ``(N,)``."""
        return self(x) / self.dim

    critical_temperature = staticmethod(critical_temperature)
    onsager_energy = staticmethod(onsager_energy)
    onsager_magnetisation = staticmethod(onsager_magnetisation)

    # -- exact results ------------------------------------------------------------------------
    def _enumerate_energies(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies and magnetisations per spin of all ``2^D`` states (float64)."""
        if self.dim > ENUMERATION_LIMIT:
            raise NotImplementedError(f"enumeration is limited to {ENUMERATION_LIMIT} spins, "
                                      f"got L={self.L} ({self.dim} spins)")
        ref = Ising(self.L, self.J, self.h, dtype=torch.float64)
        e = _enumerate(self.dim, self.values, ref._energy)
        m = _enumerate(self.dim, self.values, lambda s: s.mean(1))
        return e, m

    def _log_z_at(self, temperature: float) -> float:
        return float(self._log_z_tensor(torch.tensor(1.0 / temperature, dtype=torch.float64)))

    def _log_z_tensor(self, beta: torch.Tensor) -> torch.Tensor:
        L, J, h, d = self.L, self.J, self.h, self.dim
        if J == 0.0:
            return d * _log2cosh(beta * h)
        if d <= ENUMERATION_LIMIT:
            e, _ = self._enumerate_energies()
            return torch.logsumexp(-beta * e, 0)
        if h == 0.0 and (J > 0 or L % 2 == 0):
            return kaufman_log_z(L, beta * abs(J))
        if L <= TRANSFER_LIMIT:
            return transfer_matrix_log_z(L, beta * J, beta * h)
        raise NotImplementedError(
            f"Ising.log_z is exact only for at most {ENUMERATION_LIMIT} spins (enumeration), "
            f"h = 0 (Kaufman; J > 0 or even L) or L <= {TRANSFER_LIMIT} (transfer matrix); got "
            f"L={L}, J={J:g}, h={h:g}. Estimate it with annealed importance sampling: "
            "el.samplers.ais(E, base=el.energies.BernoulliProduct.uniform(E.dim, (-1, 1)), "
            "kernel=el.samplers.Gibbs())")

    def exact_energy(self, temperature: float = 1.0) -> float:
        """Exact mean energy ``⟨E⟩_T = -∂ log Z / ∂β`` (the derivative of the exact ``log Z``
        by autograd: enumeration, Kaufman or transfer matrix, as for ``log_z``)."""
        t = check_real("temperature", temperature, gt=0.0)
        beta = torch.tensor(1.0 / t, dtype=torch.float64, requires_grad=True)
        with torch.enable_grad():
            lz = self._log_z_tensor(beta)
            (g,) = torch.autograd.grad(lz, beta)
        if not math.isfinite(float(g)):  # a degenerate eigenvalue or γ_0 = 0 exactly
            eps = 1e-6 / t
            g = (self._log_z_tensor(torch.tensor(1 / t + eps, dtype=torch.float64))
                 - self._log_z_tensor(torch.tensor(1 / t - eps, dtype=torch.float64))) / (2 * eps)
        return -float(g)

    def exact_moments(self, temperature: float = 1.0) -> dict[str, float]:
        """Exact averages by enumeration (at most 20 spins): ``energy`` ``⟨E⟩``,
        ``energy_per_spin``, ``abs_magnetisation`` ``⟨|m|⟩``, ``magnetisation`` ``⟨m⟩``,
        ``magnetisation_sq`` ``⟨m²⟩`` and ``specific_heat`` per spin ``Var(E)/(D T²)``; and the
        standard deviations ``energy_sd``, ``abs_magnetisation_sd`` (for standard errors)."""
        t = check_real("temperature", temperature, gt=0.0)
        e, m = self._enumerate_energies()
        p = torch.softmax(-e / t, 0)
        mean = lambda v: float((p * v).sum())  # noqa: E731
        e1, e2 = mean(e), mean(e * e)
        am, am2 = mean(m.abs()), mean(m * m)
        return {"energy": e1, "energy_per_spin": e1 / self.dim, "abs_magnetisation": am,
                "magnetisation": mean(m), "magnetisation_sq": am2,
                "specific_heat": (e2 - e1 * e1) / (self.dim * t * t),
                "energy_sd": math.sqrt(max(e2 - e1 * e1, 0.0)),
                "abs_magnetisation_sd": math.sqrt(max(am2 - am * am, 0.0))}

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        if self.dim > ENUMERATION_LIMIT:
            return super()._sample_at(n, temperature, gen)
        e, _ = self._enumerate_energies()
        p = torch.softmax(-e / temperature, 0)
        codes = torch.multinomial(p, n, replacement=True, generator=gen)
        return _codes_to_states(codes, self.dim, self.values, self.dtype).to(self._device())


# -- the restricted Boltzmann machine ----------------------------------------------------------


class RBM(BinaryEnergy):
    """A binary restricted Boltzmann machine, ``v ∈ {0,1}^{n_visible}``,
    ``h ∈ {0,1}^{n_hidden}``, joint energy ``E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh``; as an energy
    over ``v`` it is the free energy

        ``F(v) = -b_vᵀv - Σ_j softplus(b_h,j + (vᵀW)_j)``,   ``p(v) ∝ e^{-F(v)}``.

    ``W: (n_visible, n_hidden)``, ``b_visible``, ``b_hidden`` are ``nn.Parameter``s: ``W``
    drawn ``N(0, weight_scale²)`` from ``seed``, biases zero. Exact ``log Z`` and samples by
    enumerating the smaller layer when it has at most 20 units (tempered: only the visible
    layer can be enumerated). Conditionals ``p_h_given_v``, ``p_v_given_h`` and their samplers
    give block Gibbs; ``flip_delta`` gives single-site conditionals of ``F``.
    """

    values = (0.0, 1.0)
    analytic_grad = True
    exact_log_z: bool
    exact_sampler: bool
    exact_when_tempered: bool

    def __init__(self, n_visible: int, n_hidden: int, seed: int = 0,
                 weight_scale: float = 0.01, dtype: torch.dtype | None = None) -> None:
        nv = check_int("n_visible", n_visible, ge=1)
        nh = check_int("n_hidden", n_hidden, ge=1)
        scale = check_real("weight_scale", weight_scale, ge=0.0)
        dtype = _float_dtype(dtype)
        super().__init__(nv)
        gen = make_generator(seed)
        self.n_visible, self.n_hidden = nv, nh
        self.W = torch.nn.Parameter(
            scale * torch.randn(nv, nh, generator=gen, dtype=torch.float64).to(dtype))
        self.b_visible = torch.nn.Parameter(torch.zeros(nv, dtype=dtype))
        self.b_hidden = torch.nn.Parameter(torch.zeros(nh, dtype=dtype))
        self.exact_log_z = self.exact_sampler = min(nv, nh) <= ENUMERATION_LIMIT
        self.exact_when_tempered = nv <= ENUMERATION_LIMIT

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"

    def _v(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.W.dtype)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        v = self._v(x)
        return -(v @ self.b_visible) - F.softplus(self.b_hidden + v @ self.W).sum(1)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self._value_and_grad(x)[1]

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self._v(x)
        with torch.no_grad():
            a = self.b_hidden + v @ self.W
            e = -(v @ self.b_visible) - F.softplus(a).sum(1)
            g = -self.b_visible - torch.sigmoid(a) @ self.W.T
        return e, g

    def joint_energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh``: ``(N,)``."""
        v, h = self._v(v), h.to(self.W.dtype)
        return -(v @ self.b_visible) - (h @ self.b_hidden) - ((v @ self.W) * h).sum(1)

    def p_h_given_v(self, v: torch.Tensor) -> torch.Tensor:
        """``p(h_j = 1 | v) = σ(b_h,j + (vᵀW)_j)``: ``(N, n_hidden)``."""
        return torch.sigmoid(self.b_hidden + self._v(v) @ self.W)

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """``p(v_i = 1 | h) = σ(b_v,i + (W h)_i)``: ``(N, n_visible)``."""
        return torch.sigmoid(self.b_visible + h.to(self.W.dtype) @ self.W.T)

    def sample_hidden(self, v: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``h ~ p(h | v)`` in ``v``'s dtype."""
        p = self.p_h_given_v(v)
        return (torch.rand(p.shape, generator=gen, dtype=p.dtype, device=p.device) < p).to(
            v.dtype)

    def sample_visible(self, h: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``v ~ p(v | h)`` in ``h``'s dtype."""
        p = self.p_v_given_h(h)
        return (torch.rand(p.shape, generator=gen, dtype=p.dtype, device=p.device) < p).to(
            h.dtype)

    def flip_delta(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``F(v with v_i flipped) - F(v)`` at ``index: (N, k)`` (every site when ``None``;
        memory ``N·k·n_hidden``): with ``a = b_h + vᵀW`` and ``d = 1 - 2v_i``,
        ``-d b_v,i - Σ_j [softplus(a_j + d W_ij) - softplus(a_j)]``."""
        v = self._v(x)
        a = self.b_hidden + v @ self.W  # (N, H)
        if index is None:
            d, w, bv = 1.0 - 2.0 * v, self.W[None], self.b_visible
        else:
            d, w, bv = 1.0 - 2.0 * v.gather(1, index), self.W[index], self.b_visible[index]
        sp = F.softplus(a)[:, None, :]
        return -d * bv - (F.softplus(a[:, None, :] + d[..., None] * w) - sp).sum(-1)

    # -- exact results ------------------------------------------------------------------------
    def _log_z_at(self, temperature: float) -> float:
        nv, nh = self.n_visible, self.n_hidden
        W = self.W.detach().double()
        bv, bh = self.b_visible.detach().double(), self.b_hidden.detach().double()
        if nv <= ENUMERATION_LIMIT and (nv <= nh or temperature != 1.0):
            e = _enumerate(nv, self.values, lambda v: -(v @ bv) - F.softplus(bh + v @ W).sum(1))
            return float(torch.logsumexp(-e / temperature, 0))
        if nh <= ENUMERATION_LIMIT and temperature == 1.0:
            # Σ_v e^{-E(v,h)} = e^{b_hᵀh} Π_i (1 + e^{b_v,i + (Wh)_i})
            lw = _enumerate(nh, self.values,
                            lambda h: h @ bh + F.softplus(bv + h @ W.T).sum(1))
            return float(torch.logsumexp(lw, 0))
        raise NotImplementedError(
            f"RBM.log_z is exact only when the smaller layer has at most {ENUMERATION_LIMIT} "
            f"units (the visible one when tempered); got n_visible={nv}, n_hidden={nh}, "
            f"T={temperature:g}. Estimate it with el.samplers.ais(rbm, base="
            "el.energies.BernoulliProduct(logits), kernel=el.samplers.Gibbs())")

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        nv, nh = self.n_visible, self.n_hidden
        W = self.W.detach().double()
        bv, bh = self.b_visible.detach().double(), self.b_hidden.detach().double()
        dtype = torch.get_default_dtype()
        if nv <= ENUMERATION_LIMIT and (nv <= nh or temperature != 1.0):
            e = _enumerate(nv, self.values, lambda v: -(v @ bv) - F.softplus(bh + v @ W).sum(1))
            codes = torch.multinomial(torch.softmax(-e / temperature, 0), n, replacement=True,
                                      generator=gen)
            return _codes_to_states(codes, nv, self.values, dtype)
        if nh <= ENUMERATION_LIMIT and temperature == 1.0:
            lw = _enumerate(nh, self.values,
                            lambda h: h @ bh + F.softplus(bv + h @ W.T).sum(1))
            codes = torch.multinomial(torch.softmax(lw, 0), n, replacement=True, generator=gen)
            h = _codes_to_states(codes, nh, self.values, torch.float64)
            p = torch.sigmoid(bv + h @ W.T)
            return (torch.rand(p.shape, generator=gen, dtype=torch.float64) < p).to(dtype)
        return super()._sample_at(n, temperature, gen)


# -- a factorised base ------------------------------------------------------------------------


class BernoulliProduct(BinaryEnergy):
    """Independent sites: ``p(x_i = b) = σ(θ_i)`` for ``values = (a, b)``;
    ``E(x) = -Σ_i θ_i (x_i - a)/(b - a)``, ``log Z = Σ_i softplus(θ_i)`` (at temperature
    ``T``: ``θ/T``). Exact samples; every site its own conditional (one colour). The base
    of annealed importance sampling on binary states."""

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True
    analytic_grad = True
    values: tuple[float, float]

    def __init__(self, logits, values: tuple[float, float] = (0.0, 1.0),
                 dtype: torch.dtype | None = None) -> None:
        try:
            t = torch.as_tensor(logits, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"logits must be array-like numbers, got {logits!r}") from err
        if t.ndim != 1 or t.numel() < 1:
            raise ValueError(f"logits must be a vector of shape (D,), got {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError("logits must be finite")
        a, b = (check_real("values", v) for v in values)
        if a == b:
            raise ValueError(f"values must be two different numbers, got {values}")
        super().__init__(t.numel())
        self.values = (a, b)
        self.register_buffer("logits", t.to(_float_dtype(dtype)))

    @classmethod
    def uniform(cls, dim: int, values: tuple[float, float] = (0.0, 1.0)) -> BernoulliProduct:
        """The uniform law on ``{a, b}^dim`` (``log Z = dim · log 2``)."""
        return cls(torch.zeros(check_int("dim", dim, ge=1)), values)

    @classmethod
    def from_data(cls, data: torch.Tensor, values: tuple[float, float] = (0.0, 1.0),
                  smoothing: float = 1.0) -> BernoulliProduct:
        """Matching the data's marginals, ``p_i = (n_i + s)/(N + 2s)`` (``s``: smoothing)."""
        a, b = values
        u = ((data.double() - a) / (b - a)).sum(0)
        s = check_real("smoothing", smoothing, gt=0.0)
        p = (u + s) / (data.shape[0] + 2 * s)
        return cls(torch.log(p) - torch.log1p(-p), values)

    def _u(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.values
        return (x.to(self.logits.dtype) - a) / (b - a)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return -(self._u(x) @ self.logits)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.values
        return (-self.logits / (b - a)).expand(x.shape[0], -1)

    def flip_delta(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``E(flip x_i) - E(x) = θ_i (2u_i - 1)``, ``u_i = (x_i - a)/(b - a)``: ``(N, k)``
        at ``index: (N, k)``, ``(N, D)`` when ``None``."""
        if index is None:
            return self.logits * (2.0 * self._u(x) - 1.0)
        return self.logits[index] * (2.0 * self._u(x).gather(1, index) - 1.0)

    def colouring(self) -> torch.Tensor:
        return torch.zeros(self.dim, dtype=torch.long, device=self.logits.device)

    def _log_z_at(self, temperature: float) -> float:
        return float(F.softplus(self.logits.double() / temperature).sum())

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        p = torch.sigmoid(self.logits.double() / temperature)
        u = torch.rand(n, self.dim, generator=gen, dtype=torch.float64, device=p.device)
        a, b = self.values
        return torch.where(u < p, b, a).to(self.logits.dtype)
