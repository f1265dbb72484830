"""Contrastive divergence for energies over binary states (the RBM, Ising-like models):
CD-k and persistent CD with negatives from a discrete kernel — block Gibbs for an RBM by
default — run by the one chain driver.

For ``p_θ(v) ∝ e^{-F_θ(v)}`` the log-likelihood gradient is
``∇_θ log p_θ(v) = -∇_θ F_θ(v) + E_{p_θ}[∇_θ F_θ]``; the loss ``E_data[F] - E_neg[F]``
(negatives detached) has exactly that gradient when the negatives are exact samples of
``p_θ``. CD-k (Hinton 2002) starts ``k`` Gibbs steps at the data batch; PCD (Tieleman 2008)
keeps ``n_persistent`` chains alive across parameter updates and advances them ``k`` steps
per update, so that they track ``p_θ`` as it changes.

``fit(rbm, data, method="cd" | "pcd", k=...)`` uses this objective for any energy that
declares two site ``values`` (Langevin negatives are meaningless on binary states).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int
from ..energies.base import Energy
from ..samplers import Chain, Gibbs, Kernel


class DiscreteContrastiveDivergence(torch.nn.Module):
    """CD-k or PCD with a discrete kernel (``Gibbs()``: block Gibbs for an RBM, a
    checkerboard sweep for a lattice).

    ``kind="cd"``: every update starts ``k`` kernel steps at the data batch. ``kind="pcd"``:
    ``n_persistent`` chains (the batch size when ``None``), started uniformly at random (they
    know nothing of the data), advanced ``k`` steps per update and kept; each update draws a
    fresh ``Chain`` from the stored states, so the energies the kernel caches are those of
    the current parameters.

    ``loss = mean F(data) - mean F(negatives)``; ``info`` has ``e_pos``, ``e_neg``,
    ``energy_gap`` and the ``negatives``. Evaluations of the energy spent on negatives are
    counted in ``n_energy_evals`` (each covers every chain once).
    """

    def __init__(self, kind: str = "cd", k: int = 1, kernel: Kernel | None = None,
                 n_persistent: int | None = None) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, ("cd", "pcd"))
        self.k = check_int("k", k, ge=1)
        self.kernel = Gibbs() if kernel is None else kernel
        if not isinstance(self.kernel, Kernel):
            raise ValueError(f"kernel must be an ebmlab kernel object (e.g. "
                             f"el.samplers.Gibbs()), got {self.kernel!r}")
        self.n_persistent = (None if n_persistent is None
                             else check_int("n_persistent", n_persistent, ge=1))
        self.persistent: torch.Tensor | None = None
        self.n_energy_evals = 0

    @staticmethod
    def _values(model: Energy) -> tuple[float, float]:
        values = getattr(model, "values", None)
        if values is None:
            raise ValueError(f"DiscreteContrastiveDivergence needs an energy over two values "
                             f"per site (declaring `values`), got {type(model).__name__}")
        return tuple(float(v) for v in values)

    def _uniform_states(self, model: Energy, n: int, like: torch.Tensor, gen) -> torch.Tensor:
        a, b = self._values(model)
        u = torch.rand(n, like.shape[1], generator=gen, dtype=torch.float64)
        return torch.where(u < 0.5, a, b).to(dtype=like.dtype, device=like.device)

    def negatives(self, model: Energy, x: torch.Tensor, gen) -> torch.Tensor:
        if self.kind == "cd":
            x0 = x.detach()
        else:
            if self.persistent is None:
                n = self.n_persistent or x.shape[0]
                self.persistent = self._uniform_states(model, n, x, gen)
            x0 = self.persistent
        chain = Chain(self.kernel, model, x0, gen)
        chain.advance(self.k)
        self.n_energy_evals += chain.n_energy
        neg = chain.positions.detach()
        if self.kind == "pcd":
            self.persistent = neg
        return neg

    def forward(self, model: Energy, x: torch.Tensor, gen=None):
        neg = self.negatives(model, x, gen)
        e_pos, e_neg = model(x), model(neg)
        loss = e_pos.mean() - e_neg.mean()
        ep, en = float(e_pos.detach().mean()), float(e_neg.detach().mean())
        return loss, {"e_pos": ep, "e_neg": en, "energy_gap": en - ep, "negatives": neg}


class HeldOutLogLikelihood:
    """A ``fit`` callback: every ``every`` steps (and at step 1), the exact mean
    log-likelihood per example ``mean log p_θ(x)`` of ``data`` (``model.log_prob``: needs an
    exact ``log Z``, e.g. an RBM with at most 20 hidden units). ``steps`` and ``values``."""

    def __init__(self, data: torch.Tensor, every: int = 100) -> None:
        self.data = data
        self.every = check_int("every", every, ge=1)
        self.steps: list[int] = []
        self.values: list[float] = []

    def __call__(self, step, model, history, info):
        if step == 1 or step % self.every == 0:
            with torch.no_grad():
                ll = float(model.log_prob(self.data).double().mean())
            if not math.isfinite(ll):
                raise ValueError(f"held-out log-likelihood is {ll} at step {step}")
            self.steps.append(step)
            self.values.append(ll)
