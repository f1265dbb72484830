"""Multi-noise-level denoising score matching: a noise-conditional score network
``s_θ(x, t)`` (or an energy network ``E_θ(x, t)`` whose score is ``-∇ₓE_θ``) trained over every
noise level of a schedule at once, through ``el.train.fit(model, data, objective=...)``.

For ``x_t = α(t) x_0 + σ(t) ε`` the DSM target at level ``t`` is ``-ε/σ(t)``; weighting level
``t`` by ``σ(t)²`` gives the loss ``E ‖σ(t) s_θ(x_t, t) + ε‖²`` (Song & Ermon 2019; the
ε-prediction loss of DDPM).
"""

from __future__ import annotations

import torch

from .._checks import check_int, check_real
from .schedules import Schedule


def _features(schedule: Schedule, t: torch.Tensor) -> torch.Tensor:
    s = schedule.sigma(t.double()).clamp_min(1e-12)
    return torch.log(s).float()[:, None]


class ScoreNet(torch.nn.Module):
    """``s_θ(x, t) = net(x, log σ(t)) / σ(t)``: an MLP on the position and the log noise
    level; the division makes the network predict ``-ε`` (order one at every level)."""

    def __init__(self, dim: int, schedule: Schedule, hidden: int = 64, depth: int = 3) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, ge=1)
        hidden, depth = check_int("hidden", hidden, ge=1), check_int("depth", depth, ge=1)
        self.schedule = schedule
        layers, width = [], dim + 1
        for _ in range(depth):
            layers += [torch.nn.Linear(width, hidden), torch.nn.SiLU()]
            width = hidden
        layers.append(torch.nn.Linear(width, dim))
        self.net = torch.nn.Sequential(*layers)

    def _t(self, x: torch.Tensor, t) -> torch.Tensor:
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            return t.reshape(-1).to(torch.float64)
        return torch.full((x.shape[0],), float(t), dtype=torch.float64)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        tt = self._t(x, t)
        sig = self.schedule.sigma(tt).float()[:, None]
        return self.net(torch.cat([x.float(), _features(self.schedule, tt)], 1)) / sig

    def score(self, x: torch.Tensor, t) -> torch.Tensor:
        """The score at ``(x, t)`` (no graph kept): what the samplers call."""
        with torch.no_grad():
            return self.forward(x, t).to(x.dtype)


class MultiLevelDSM(torch.nn.Module):
    """The objective ``E_{t, x_0, ε} ‖σ(t) s_θ(α x_0 + σ ε, t) + ε‖²`` with
    ``t ~ U(t_min, t_max)`` (a fresh level per sample). ``model(x, t)`` returns the score.
    Use with ``el.train.fit(model, data, objective=MultiLevelDSM(schedule))``."""

    def __init__(self, schedule: Schedule, t_min: float | None = None,
                 t_max: float | None = None) -> None:
        super().__init__()
        self.schedule = schedule
        self.t_min = check_real("t_min", schedule.t_min if t_min is None else t_min, ge=0.0)
        self.t_max = check_real("t_max", schedule.t_max if t_max is None else t_max,
                                gt=self.t_min)

    def forward(self, model, x: torch.Tensor, gen=None):
        n = x.shape[0]
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        t = self.t_min + (self.t_max - self.t_min) * u
        xt, eps = self.schedule.noise(x, t, gen)
        sig = self.schedule.sigma(t).to(x)[:, None]
        loss = ((sig * model(xt, t) + eps) ** 2).sum(-1).mean()
        return loss, {"dsm_loss": float(loss.detach()),
                      "dsm_loss_per_dim": float(loss.detach()) / max(x.shape[1], 1)}

