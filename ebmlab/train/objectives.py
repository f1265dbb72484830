"""Training objectives for an energy ``E_θ``. Each is a small ``nn.Module`` called as
``objective(model, x, gen) -> (loss, info)`` on a data batch ``x: (B, D)``; ``loss`` is a
scalar whose gradient is the method's gradient estimate, ``info`` holds floats to log."""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int, check_real
from ..energies.base import Energy
from .negatives import LangevinRecipe, ReplayBuffer, langevin_negatives


class ContrastiveDivergence(LangevinRecipe, torch.nn.Module):
    """Maximum likelihood with MCMC negatives:
    ``L = E_data[E_θ] - E_neg[E_θ] + α (E_data[E_θ²] + E_neg[E_θ²])`` with the negatives
    detached, so ``∇L = E_data[∇E] - E_neg[∇E]`` (+ the regulariser's gradient).

    ``kind``: ``"cd"`` (CD-k, chains start at the data), ``"short_run"`` (from uniform noise on
    ``box``) or ``"pcd"`` (persistent chains in a ``ReplayBuffer`` of ``buffer_size`` states,
    a fraction ``reinit`` of each batch re-initialised from that noise).

    Negatives are ``k`` steps of unadjusted Langevin, ``x ← x - ε ∇E(x) + σ ξ`` with
    ``ε = step_size``, ``σ = noise_scale`` and an optional per-chain gradient clip.

    **Noise.** The default ``noise_scale=None`` is the exact Langevin noise ``σ = √(2ε)``: the
    chains target ``p_θ ∝ exp(-E_θ)`` itself (up to the O(ε) bias of an unadjusted step), so
    the model learns the data density. A smaller *decoupled* noise (e.g. ``noise_scale=0.005``,
    as in image-EBM recipes, where only samples matter) is an option but biased: the chains
    target ``exp(-E_θ/T_eff)`` with ``T_eff = σ²/(2ε)`` (``effective_temperature``; 1.25e-3 for
    σ = 0.005, ε = 0.01), so at best training fits ``exp(-E_θ/T_eff)`` to the data, the energy
    comes out scaled by ``T_eff`` and ``exp(-E_θ)`` is not the data density (notebook 05
    shows how far off it is).

    **Defaults** — chosen so that ``fit(model, data, method="pcd")`` learns the density, at
    10 gradient evaluations of the batch per update; measured on a 0.7/0.3 mixture of two
    Gaussians 6σ apart (``tests/test_train.py``):

    - exact noise, ``step_size=0.01`` (the unadjusted step's bias is small for features of
      width ≳ 0.3) and ``k=10`` (the chains persist, so they keep mixing across updates);
    - ``alpha=0.02``: the energy² penalty is not neutral. For a flexible model its fixed point
      is ``p_θ (1 - 2αE) = p_data (1 + 2αE)``, so away from the data the energy saturates at
      ``1/(2α)``: a density floor ``∝ e^{-1/(2α)}`` wherever the chains go. α = 0.1 floors at
      e⁻⁵ and flattens the density (with 5 % re-initialisation, total variation 0.12 at
      α = 0.1, 0.30 at 0.2, 0.45 at 0.3); α → 0 lets the energies drift and the mode weights
      swing (no re-initialisation, five seeds: 0.06-0.34 at α = 0, 0.05-0.11 at α = 0.02);
    - ``reinit=0``: re-initialised chains fall into the modes in proportion to the area of
      their basins, not their mass, and short runs rarely carry them across, so
      re-initialisation biases the learned mode weights (with α = 0.01 and 5 %: 0.97-0.98 for
      the 0.7 mode). The buffer (``buffer_size=10_000``) starts as uniform noise on ``box``; pass
      ``reinit > 0`` to rediscover modes the chains lost (notebook 05 does, on 8 Gaussians);
    - ``box=(-4, 4)``, the range of the ``el.data`` toys: rescale other data or pass ``box``.

    Learning rate, batch size and number of updates are ``fit``'s (Adam, lr 1e-3)."""

    def __init__(self, kind: str = "pcd", k: int = 10, step_size: float = 0.01,
                 noise_scale: float | None = None, grad_clip: float | None = None,
                 alpha: float = 0.02, buffer_size: int = 10_000, reinit: float = 0.0,
                 box: tuple[float, float] = (-4.0, 4.0)) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, ("cd", "short_run", "pcd"))
        self.k = check_int("k", k, ge=1)
        self.step_size = check_real("step_size", step_size, gt=0.0)
        self.noise_scale = (None if noise_scale is None
                            else check_real("noise_scale", noise_scale, ge=0.0))
        self.grad_clip = None if grad_clip is None else check_real("grad_clip", grad_clip,
                                                                    gt=0.0)
        self.alpha = check_real("alpha", alpha, ge=0.0)
        self.buffer_size = check_int("buffer_size", buffer_size, ge=1)
        self.reinit = check_real("reinit", reinit, ge=0.0, le=1.0)
        self.box = box
        self.buffer: ReplayBuffer | None = None

    def negatives(self, model: torch.nn.Module, x: torch.Tensor, gen) -> torch.Tensor:
        n, d = x.shape
        if self.kind == "cd":
            x0 = x
        elif self.kind == "short_run":
            x0 = self.noise(n, d, gen, x)
        else:
            if self.buffer is None:
                self.buffer = ReplayBuffer(self.buffer_size,
                                           lambda m: self.noise(m, d, gen, x), self.reinit, gen)
            x0 = self.buffer.sample(n)
        neg = langevin_negatives(model, x0, self.k, self.step_size, self.noise_scale,
                                 self.grad_clip, gen)
        if self.kind == "pcd":
            self.buffer.push(neg)
        return neg

    def loss_given(self, model, x: torch.Tensor, neg: torch.Tensor):
        e_pos, e_neg = model(x), model(neg.detach())
        loss = e_pos.mean() - e_neg.mean() + self.alpha * ((e_pos**2).mean() + (e_neg**2).mean())
        ep, en = float(e_pos.detach().mean()), float(e_neg.detach().mean())
        return loss, {"e_pos": ep, "e_neg": en, "energy_gap": en - ep}

    def forward(self, model, x: torch.Tensor, gen=None):
        neg = self.negatives(model, x, gen)
        loss, info = self.loss_given(model, x, neg)
        info["negatives"] = neg
        return loss, info


def _grad_x(model, x: torch.Tensor, create_graph: bool = True):
    x = x.detach().requires_grad_(True)
    e = model(x)
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    return x, e, g


class ScoreMatching(torch.nn.Module):
    """Score matching (Hyvärinen 2005) with the model score ``s = -∇E``:

    - ``"exact"``: ``J = E[½‖∇E‖² - tr ∇²E]`` (the trace by D backward passes: small D);
    - ``"dsm"``: denoising, ``x̃ = x + σε``: ``J = E[½‖∇E(x̃) - (x̃ - x)/σ²‖²]`` (biased by σ);
    - ``"ssm"``: sliced, ``J = E_v[½‖∇E‖² - vᵀ∇²E v]``, ``v ~ N(0, I)`` (``n_projections``).
    """

    def __init__(self, kind: str = "ssm", sigma: float = 0.1, n_projections: int = 1) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, ("exact", "dsm", "ssm"))
        self.sigma = check_real("sigma", sigma, gt=0.0)
        self.n_projections = check_int("n_projections", n_projections, ge=1)

    def forward(self, model, x: torch.Tensor, gen=None):
        if self.kind == "dsm":
            eps = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
            xt = x + self.sigma * eps
            _, _, g = _grad_x(model, xt)
            r = g - (xt - x) / self.sigma**2
            loss = 0.5 * (r * r).sum(-1).mean()
            return loss, {"score_loss": float(loss.detach())}
        xg, e, g = _grad_x(model, x)
        half = 0.5 * (g * g).sum(-1)
        if self.kind == "exact":
            tr = torch.zeros_like(half)
            for j in range(x.shape[1]):
                (h,) = torch.autograd.grad(g[:, j].sum(), xg, create_graph=True)
                tr = tr + h[:, j]
            loss = (half - tr).mean()
        else:
            quad = torch.zeros_like(half)
            for _ in range(self.n_projections):
                v = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
                (hv,) = torch.autograd.grad((g * v).sum(), xg, create_graph=True)
                quad = quad + (hv * v).sum(-1)
            loss = (half - quad / self.n_projections).mean()
        return loss, {"score_loss": float(loss.detach())}


class NCE(torch.nn.Module):
    """Noise-contrastive estimation (Gutmann & Hyvärinen 2010) with a learned log-normaliser
    ``c``: ``log p_θ(x) = -E_θ(x) - c``; logistic regression of data against ``ν`` noise
    samples per data point from ``noise`` (an Energy with ``sample`` and ``log_z``):
    ``L = -E_data[log σ(G)] - ν E_noise[log(1 - σ(G))]``, ``G = log p_θ - log ν q``."""

    def __init__(self, noise: Energy, nu: float = 1.0, init_c: float = 0.0) -> None:
        super().__init__()
        self.noise = noise
        self.nu = check_real("nu", nu, gt=0.0)
        self.c = torch.nn.Parameter(torch.tensor(float(init_c)))
        self._log_zq = noise.log_z()

    def _g(self, model, u: torch.Tensor) -> torch.Tensor:
        log_q = -self.noise(u) - self._log_zq
        return -model(u) - self.c - log_q - math.log(self.nu)

    def forward(self, model, x: torch.Tensor, gen=None):
        m = max(1, int(round(self.nu * x.shape[0])))
        y = self.noise.sample(m, seed=gen).to(x)
        g_data, g_noise = self._g(model, x), self._g(model, y)
        loss = -torch.nn.functional.logsigmoid(g_data).mean() \
            - self.nu * torch.nn.functional.logsigmoid(-g_noise).mean()
        return loss, {"c": float(self.c.detach()), "nce_loss": float(loss.detach())}


class Compositional(torch.nn.Module):
    """The exact negative log-likelihood as a compositional objective,
    ``L(θ) = E_data[E_θ] + log E_q[e^{-E_θ}/q]``, with the inner expectation
    ``u ≈ E_q[e^{-E_θ}/q]`` tracked by an exponential moving average so the gradient estimate
    ``E_data[∇E] - E_q[w ∇E]/u`` (``w = e^{-E}/q``) stays well behaved where a single batch's
    ratio would not. ``proposal`` needs ``sample`` and ``log_z``.

    This is compositional *optimisation* (a nested expectation inside a log), not compositional
    generation (``composition.py``). The estimator is biased, and the bias does not average
    out: when ``q`` is far from the model, ``w`` is heavy-tailed, the draws that matter are
    almost never made and the tracked ``u`` runs low, so SGD settles *off* the optimum (notebook
    07 measures θ* = 5 settling at 6.3–7.2 with a distant ``q``, and 4.98–5.01 with ``q``
    placed from the data). A decaying step shrinks the spread, not the offset: place ``q``
    over the data (or widen it) before trusting the result."""

    def __init__(self, proposal: Energy, n_samples: int = 256, ema: float = 0.9) -> None:
        super().__init__()
        self.proposal = proposal
        self.n_samples = check_int("n_samples", n_samples, ge=1)
        self.ema = check_real("ema", ema, ge=0.0, lt=1.0)
        self._log_zq = proposal.log_z()
        self.log_u: float | None = None

    def forward(self, model, x: torch.Tensor, gen=None):
        y = self.proposal.sample(self.n_samples, seed=gen).to(x)
        e_y = model(y)
        log_w = (-e_y + self.proposal(y) + self._log_zq).detach()  # log e^{-E}/q
        log_batch = float(torch.logsumexp(log_w, 0) - math.log(len(log_w)))
        if self.log_u is None:
            self.log_u = log_batch
        else:  # u ← ema·u + (1-ema)·batch, in log space
            a, b = math.log(self.ema) + self.log_u, math.log(1 - self.ema) + log_batch
            self.log_u = max(a, b) + math.log1p(math.exp(-abs(a - b)))
        w_over_u = torch.exp(log_w - self.log_u)
        e_data = model(x).mean()
        loss = e_data - (w_over_u * e_y).mean()
        return loss, {"nll": float(e_data.detach()) + self.log_u, "log_u": self.log_u}
