"""Objectives for classifiers seen as energy-based models (``el.energies.EnergyClassifier``):
plain cross-entropy (over all classes, or only over the classes present in the batch), JEM
(cross-entropy plus maximum likelihood of ``p(x) ∝ exp(-E(x))`` with persistent Langevin
negatives), and energy-margin fine-tuning for out-of-distribution detection.

Each is called as ``objective(model, x, gen, y) -> (loss, info)`` by ``fit(..., labels=y)``;
``model`` must have ``logits(x) -> (N, K)`` and ``model(x) = E(x)``."""

from __future__ import annotations

import torch

from .._checks import check_choice, check_int, check_real
from .negatives import LangevinRecipe, ReplayBuffer, langevin_negatives


def _logits(model, x: torch.Tensor) -> torch.Tensor:
    f = getattr(model, "logits", None)
    if f is None:
        raise ValueError(f"model must be a classifier with logits(x) (an "
                         f"el.energies.EnergyClassifier), got {type(model).__name__}")
    return f(x)


def _accuracy(f: torch.Tensor, y: torch.Tensor) -> float:
    return float((f.detach().argmax(1) == y).double().mean())


class CrossEntropy(torch.nn.Module):
    """``-log p(y|x) = E(x, y) + log Σ_y' exp(-E(x, y'))``, the sum over every class
    (``classes="all"``, the plain softmax classifier) or only over the classes that occur in
    the batch (``classes="batch"``): a label-conditioned energy trained contrastively against
    the labels at hand, which never pushes up the energy of classes it is not shown — in
    continual learning it does not wipe out the classes of earlier tasks the way the full
    softmax does. ``alpha`` adds ``α·mean(E(x, y')²)`` over the normalised classes ``y'``
    (an energy² penalty keeping every class's energies on one scale, so energies learned in
    different tasks can be compared)."""

    uses_labels = True

    def __init__(self, classes: str = "all", alpha: float = 0.0) -> None:
        super().__init__()
        self.classes = check_choice("classes", classes, ("all", "batch"))
        self.alpha = check_real("alpha", alpha, ge=0.0)

    def forward(self, model, x: torch.Tensor, gen=None, y: torch.Tensor | None = None):
        f = _logits(model, x)
        present = None
        if self.classes == "batch":
            present = torch.zeros(f.shape[1], dtype=torch.bool, device=f.device)
            present[y] = True
            f = f.masked_fill(~present, float("-inf"))
        ce = torch.nn.functional.cross_entropy(f, y)
        loss = ce
        if self.alpha > 0:
            kept = f if present is None else f[:, present]
            loss = ce + self.alpha * (kept**2).mean()
        return loss, {"ce": float(ce.detach()), "accuracy": _accuracy(f, y)}


class JEM(LangevinRecipe, torch.nn.Module):
    """Joint energy-based model (Grathwohl et al. 2020): maximise
    ``log p(x, y) = log p(y|x) + log p(x)`` with ``p(x) ∝ exp(-E(x))``,
    ``E(x) = -logsumexp f(x)``:

    ``L = CE(f(x), y) + weight·(E_data[E(x)] - E_neg[E(x')]) + α·(E_data[E²] + E_neg[E²])``,

    the negatives ``x'`` detached, so ``∇L = ∇CE + weight·(E_data[∇E] - E_neg[∇E])`` (+ the
    regulariser's gradient) — the maximum-likelihood gradient of ``log p(x)``.

    Negatives: ``k`` steps of unadjusted Langevin ``x ← x - ε∇E(x) + σξ`` on ``E(x)`` from a
    replay buffer of ``buffer_size`` persistent chains that starts as uniform noise on
    ``box`` and re-initialises a fraction ``reinit`` of every batch from that noise; the
    chains are clamped to ``box``. ``noise_scale=None`` (the default) is the exact noise
    ``σ = √(2ε)``; a smaller decoupled ``σ`` (JEM's recipe: ε = 1, σ = 0.01) samples
    ``exp(-E/T_eff)``, ``T_eff = σ²/(2ε)`` (``effective_temperature``): sharper samples,
    but then ``exp(-E)`` is not the density the chains see. ``weight = 0`` is the plain
    classifier (no sampling)."""

    uses_labels = True

    def __init__(self, k: int = 20, step_size: float = 0.01, noise_scale: float | None = None,
                 weight: float = 1.0, alpha: float = 0.0, buffer_size: int = 10_000,
                 reinit: float = 0.05, box: tuple[float, float] = (0.0, 1.0),
                 grad_clip: float | None = None) -> None:
        super().__init__()
        self.k = check_int("k", k, ge=1)
        self.step_size = check_real("step_size", step_size, gt=0.0)
        self.noise_scale = (None if noise_scale is None
                            else check_real("noise_scale", noise_scale, gt=0.0))
        self.weight = check_real("weight", weight, ge=0.0)
        self.alpha = check_real("alpha", alpha, ge=0.0)
        self.buffer_size = check_int("buffer_size", buffer_size, ge=1)
        self.reinit = check_real("reinit", reinit, ge=0.0, le=1.0)
        try:
            lo, hi = (float(b) for b in box)
        except (TypeError, ValueError):
            raise ValueError(f"box must be (low, high), got {box!r}") from None
        if not lo < hi:
            raise ValueError(f"box must be (low, high) with low < high, got {box!r}")
        self.box = (lo, hi)
        self.grad_clip = None if grad_clip is None else check_real("grad_clip", grad_clip,
                                                                    gt=0.0)
        self.buffer: ReplayBuffer | None = None

    def negatives(self, model, x: torch.Tensor, gen) -> torch.Tensor:
        n, d = x.shape
        if self.buffer is None:
            self.buffer = ReplayBuffer(self.buffer_size, lambda m: self.noise(m, d, gen, x),
                                       self.reinit, gen)
        x0 = self.buffer.sample(n)
        neg = langevin_negatives(model, x0, self.k, self.step_size, self.noise_scale,
                                 self.grad_clip, gen, box=self.box)
        self.buffer.push(neg)
        return neg

    def forward(self, model, x: torch.Tensor, gen=None, y: torch.Tensor | None = None):
        f = _logits(model, x)
        ce = torch.nn.functional.cross_entropy(f, y)
        info = {"ce": float(ce.detach()), "accuracy": _accuracy(f, y)}
        if self.weight == 0.0:
            return ce, info
        neg = self.negatives(model, x, gen)
        e_pos = -torch.logsumexp(f, 1) if getattr(model, "temperature", 1.0) == 1.0 else model(x)
        e_neg = model(neg)
        gen_loss = e_pos.mean() - e_neg.mean()
        loss = ce + self.weight * gen_loss + self.alpha * ((e_pos**2).mean() + (e_neg**2).mean())
        ep, en = float(e_pos.detach().mean()), float(e_neg.detach().mean())
        info.update({"e_pos": ep, "e_neg": en, "energy_gap": en - ep, "negatives": neg})
        return loss, info


class EnergyMargin(torch.nn.Module):
    """Energy-margin fine-tuning for OOD detection (Liu et al. 2020):
    ``L = CE(f(x), y) + weight·(E[relu(E(x) - m_in)²] + E[relu(m_out - E(x_out))²])``
    with ``x_out`` a batch of auxiliary ``outliers: (M, D)`` (never the OOD test sets):
    in-distribution energies are pushed below ``m_in``, outliers' above ``m_out``."""

    uses_labels = True

    def __init__(self, outliers: torch.Tensor, m_in: float, m_out: float,
                 weight: float = 0.1) -> None:
        super().__init__()
        if not isinstance(outliers, torch.Tensor) or outliers.ndim != 2 or not len(outliers):
            raise ValueError(f"outliers must be a non-empty (M, D) tensor, got "
                             f"{getattr(outliers, 'shape', type(outliers).__name__)}")
        self.m_in = check_real("m_in", m_in)
        self.m_out = check_real("m_out", m_out)
        if not self.m_in < self.m_out:
            raise ValueError(f"m_in must be < m_out (in-distribution energies lower), got "
                             f"m_in={self.m_in:g}, m_out={self.m_out:g}")
        self.weight = check_real("weight", weight, ge=0.0)
        self.outliers = outliers

    def forward(self, model, x: torch.Tensor, gen=None, y: torch.Tensor | None = None):
        f = _logits(model, x)
        ce = torch.nn.functional.cross_entropy(f, y)
        idx = torch.randint(len(self.outliers), (len(x),), generator=gen)
        out = self.outliers[idx].to(x)
        e_in, e_out = model(x), model(out)
        hinge = (torch.relu(e_in - self.m_in) ** 2).mean() \
            + (torch.relu(self.m_out - e_out) ** 2).mean()
        loss = ce + self.weight * hinge
        return loss, {"ce": float(ce.detach()), "accuracy": _accuracy(f, y),
                      "e_in": float(e_in.detach().mean()), "e_out": float(e_out.detach().mean())}
