"""Neural energies: ``E_θ(x)`` given by a network; gradients by autograd."""

from __future__ import annotations

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
