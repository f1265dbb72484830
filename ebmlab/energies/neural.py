"""Neural energies: ``E_θ(x)`` given by a network; gradients by autograd."""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int
from .base import Box, Energy
from .gaussian import _DOMAIN_SDS

_ACTIVATIONS = {"silu": torch.nn.SiLU, "softplus": torch.nn.Softplus, "tanh": torch.nn.Tanh,
                "elu": torch.nn.ELU, "gelu": torch.nn.GELU}


def mlp(dim: int, out: int, hidden: int, layers: int, activation: str) -> torch.nn.Sequential:
    """``layers`` hidden ``Linear -> activation`` blocks of width ``hidden``, then a linear
    read-out: ``(N, dim) -> (N, out)`` (an energy's ``out = 1``, a classifier's logits)."""
    act = _ACTIVATIONS[activation]
    mods: list[torch.nn.Module] = []
    width = dim
    for _ in range(layers):
        mods += [torch.nn.Linear(width, hidden), act()]
        width = hidden
    mods.append(torch.nn.Linear(width, out))
    return torch.nn.Sequential(*mods)


class MLPEnergy(Energy):
    """``E_θ(x) = MLP(x)``: ``layers`` hidden layers of width ``hidden``; ``x: (N, D) -> (N,)``.

    Smooth activations (SiLU by default) keep ``∇ₓE`` continuous, as Langevin samplers need.
    Nothing exact is declared; gradients by autograd. ``box`` is the plotting view; grid
    numerics are trusted only on ``domain``, by default the box itself (a network is only
    shaped where it was trained), at every temperature.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3,
                 activation: str = "silu", box: Box | None = None,
                 domain: Box | None = None) -> None:
        dim = check_int("dim", dim, ge=1)
        hidden = check_int("hidden", hidden, ge=1)
        layers = check_int("layers", layers, ge=1)
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        super().__init__(dim, box, domain)
        self.net = mlp(dim, 1, hidden, layers, activation)

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def _domain_at(self, temperature: float) -> Box:
        return self._domain if self._domain is not None else self.box


class LearnableGaussian(Energy):
    """``E_θ(x) = ½ (x-μ)ᵀ L Lᵀ (x-μ)`` with learnable mean ``μ`` and lower-triangular ``L``
    (``learn_precision=False`` keeps ``L = I``): the model of the estimation notebooks, with
    an exact ``log Z = D/2 log 2π - log|det L|`` to check estimators against, and exact
    samples ``μ + L⁻ᵀ z``. Gradients by autograd (through the parameters too, for training).
    """

    exact_log_z = True
    exact_sampler = True
    exact_when_tempered = True

    def __init__(self, dim: int = 2, learn_precision: bool = True,
                 mean: float | list[float] = 0.0, scale: float = 1.0) -> None:
        dim = check_int("dim", dim, ge=1)
        super().__init__(dim)
        m = torch.as_tensor(mean, dtype=torch.get_default_dtype())
        self.mean = torch.nn.Parameter(m.expand(dim).clone() if m.ndim == 0 else m.clone())
        eye = torch.eye(dim) / float(scale)
        if learn_precision:
            self.L = torch.nn.Parameter(eye)
        else:
            self.register_buffer("L", eye)

    @property
    def precision(self) -> torch.Tensor:
        lower = torch.tril(self.L)
        return lower @ lower.T

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        d = (x - self.mean) @ torch.tril(self.L).to(x)
        return 0.5 * (d * d).sum(-1)

    def _log_z_at(self, temperature: float) -> float:
        logdet = float(torch.log(torch.diagonal(self.L.detach()).abs()).sum())
        return 0.5 * self.dim * math.log(2 * math.pi * temperature) - logdet

    def _sample_at(self, n: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            lower = torch.tril(self.L).double()
            z = torch.randn(n, self.dim, generator=gen, dtype=torch.float64,
                            device=lower.device)
            # Precision L Lᵀ, so covariance L⁻ᵀ L⁻¹: x = μ + √T L⁻ᵀ z, i.e. Lᵀ (x - μ) = √T z.
            d = torch.linalg.solve_triangular(lower.T, z.T, upper=True).T
            x = self.mean.double() + math.sqrt(temperature) * d
        return x.to(torch.get_default_dtype())

    def modes(self) -> torch.Tensor:
        return self.mean.detach().double()[None].clone()

    def _mode_weights_at(self, temperature: float) -> torch.Tensor:
        return torch.ones(1, dtype=torch.float64)

    def _domain_at(self, temperature: float) -> Box:
        # Like Gaussian's: mean ± 6 sd·√T per axis at the current parameters.
        with torch.no_grad():
            cov = torch.cholesky_inverse(torch.tril(self.L).double())
            sd = (_DOMAIN_SDS * math.sqrt(temperature) * torch.sqrt(torch.diagonal(cov))).tolist()
            m = self.mean.double().tolist()
        if not all(math.isfinite(v) for v in sd + m):
            return super()._domain_at(temperature)
        if self.dim == 1:
            return (m[0] - sd[0], m[0] + sd[0], 0.0, 1.0)
        return (m[0] - sd[0], m[0] + sd[0], m[1] - sd[1], m[1] + sd[1])
