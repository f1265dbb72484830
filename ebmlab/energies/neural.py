"""Neural energies: ``E_θ(x)`` given by a network; gradients by autograd."""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int
from .base import Box, Energy

_ACTIVATIONS = {"silu": torch.nn.SiLU, "softplus": torch.nn.Softplus, "tanh": torch.nn.Tanh,
                "elu": torch.nn.ELU, "gelu": torch.nn.GELU}


class MLPEnergy(Energy):
    """``E_θ(x) = MLP(x)``: ``layers`` hidden layers of width ``hidden``; ``x: (N, D) -> (N,)``.

    Smooth activations (SiLU by default) keep ``∇ₓE`` continuous, as Langevin samplers need.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3,
                 activation: str = "silu", box: Box | None = None) -> None:
        dim = check_int("dim", dim, ge=1)
        hidden = check_int("hidden", hidden, ge=1)
        layers = check_int("layers", layers, ge=1)
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        super().__init__(dim, box)
        act = _ACTIVATIONS[activation]
        mods: list[torch.nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [torch.nn.Linear(width, hidden), act()]
            width = hidden
        mods.append(torch.nn.Linear(width, 1))
        self.net = torch.nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.net(x).squeeze(-1)


class LearnableGaussian(Energy):
    """``E_θ(x) = ½ (x-μ)ᵀ L Lᵀ (x-μ)`` with learnable mean ``μ`` and lower-triangular ``L``
    (``learn_precision=False`` keeps ``L = I``): the model of the estimation notebooks, with
    an exact ``log Z = D/2 log 2π - log|det L|`` to check estimators against."""

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        d = (x - self.mean) @ torch.tril(self.L).to(x)
        return 0.5 * (d * d).sum(-1)

    def _log_z_at(self, temperature: float) -> float:
        logdet = float(torch.log(torch.diagonal(self.L.detach()).abs()).sum())
        return 0.5 * self.dim * math.log(2 * math.pi * temperature) - logdet
