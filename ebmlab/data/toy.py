"""Seeded 2-D toy datasets, ``toy(name, n, seed) -> (n, 2)`` float tensors, scaled to roughly
``[-4, 4]²`` (the usual density-estimation benchmarks)."""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int, check_real, make_generator

TOY_NAMES = ("8gaussians", "rings", "two_moons", "swiss_roll", "checkerboard", "pinwheel",
             "spirals")


def _randn(n, gen, d=2):
    return torch.randn(n, d, generator=gen, dtype=torch.float64)


def _rand(n, gen, d=1):
    return torch.rand(n, d, generator=gen, dtype=torch.float64)


def toy(name: str, n: int = 5000, seed: int | None = 0, noise: float = 1.0) -> torch.Tensor:
    """``n`` points of the named toy distribution; ``noise`` scales its jitter."""
    check_choice("name", name, TOY_NAMES)
    n = check_int("n", n, ge=1)
    noise = check_real("noise", noise, ge=0.0)
    g = make_generator(seed)
    if name == "8gaussians":
        k = torch.randint(8, (n,), generator=g)
        ang = k.double() * (2 * math.pi / 8)
        centers = 2.8 * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
        x = centers + 0.3 * noise * _randn(n, g)
    elif name == "rings":
        k = torch.randint(4, (n,), generator=g)
        radius = 0.8 + 0.8 * k.double()
        ang = 2 * math.pi * _rand(n, g).squeeze(1)
        x = radius[:, None] * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
        x = x + 0.08 * noise * _randn(n, g)
    elif name == "two_moons":
        k = torch.randint(2, (n,), generator=g).double()
        t = math.pi * _rand(n, g).squeeze(1)
        upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
        lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
        x = torch.where(k[:, None] == 0, upper, lower)
        x = 1.6 * (x - torch.tensor([0.5, 0.25], dtype=torch.float64))
        x = x + 0.1 * noise * _randn(n, g)
    elif name == "swiss_roll":
        t = 1.5 * math.pi * (1 + 2 * _rand(n, g).squeeze(1))
        x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 3.0
        x = x + 0.15 * noise * _randn(n, g)
    elif name == "checkerboard":
        x1 = 4 * _rand(n, g).squeeze(1) - 2
        x2 = _rand(n, g).squeeze(1) - torch.randint(2, (n,), generator=g).double() * 2
        x2 = x2 + torch.floor(x1) % 2
        x = 1.6 * torch.stack([x1, x2], 1)
    elif name == "pinwheel":
        arms, rate = 5, 0.25
        k = torch.randint(arms, (n,), generator=g)
        f = _randn(n, g) * torch.tensor([0.3 * noise, 0.05 * noise], dtype=torch.float64)
        f[:, 0] += 1.0
        ang = k.double() * (2 * math.pi / arms) + rate * torch.exp(f[:, 0])
        rot = torch.stack([torch.cos(ang), -torch.sin(ang), torch.sin(ang), torch.cos(ang)], 1)
        x = 2.0 * torch.einsum("nij,nj->ni", rot.view(n, 2, 2), f)
    else:  # spirals
        t = torch.sqrt(_rand(n, g).squeeze(1)) * 3 * math.pi
        sign = torch.randint(2, (n,), generator=g).double() * 2 - 1
        x = sign[:, None] * torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 2.5
        x = x + 0.1 * noise * _randn(n, g)
    return x.to(torch.get_default_dtype())
