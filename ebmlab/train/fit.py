"""One fit loop for every objective, with callbacks (progress, snapshots, checkpoints) and a
clear stop on a non-finite loss."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._checks import check_choice, check_int, check_real, make_generator
from ..samplers import SamplerDivergence
from .classify import JEM, CrossEntropy, EnergyMargin
from .objectives import NCE, Compositional, ContrastiveDivergence, ScoreMatching

METHODS = ("cd", "short_run", "pcd", "sm", "dsm", "ssm", "nce", "compositional")
METHODS += ("ce", "jem", "energy_margin")  # classifiers: fit(..., labels=y)


class TrainingDiverged(RuntimeError):
    """The loss became non-finite; the message says at which step and what to change."""


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    info: dict[str, list[float]] = field(default_factory=dict)
    wall_time: list[float] = field(default_factory=list)
    interrupted: bool = False

    def record(self, step: int, loss: float, info: dict[str, Any], t: float) -> None:
        self.step.append(step)
        self.loss.append(loss)
        self.wall_time.append(t)
        for k, v in info.items():
            if isinstance(v, (int, float)):
                self.info.setdefault(k, []).append(float(v))

    def as_dict(self) -> dict:
        return {"step": self.step, "loss": self.loss, "info": self.info,
                "wall_time": self.wall_time, "interrupted": self.interrupted}


def make_objective(method: str, **kwargs: Any) -> torch.nn.Module:
    check_choice("method", method, METHODS)
    if method in ("cd", "short_run", "pcd"):
        return ContrastiveDivergence(kind=method, **kwargs)
    if method in ("sm", "dsm", "ssm"):
        return ScoreMatching(kind={"sm": "exact"}.get(method, method), **kwargs)
    if method == "nce":
        return NCE(**kwargs)
    if method == "ce":
        return CrossEntropy(**kwargs)
    if method == "jem":
        return JEM(**kwargs)
    if method == "energy_margin":
        return EnergyMargin(**kwargs)
    return Compositional(**kwargs)


_ADVICE = {
    "cd": "lower lr or the Langevin step_size, raise alpha (the energy² regulariser)",
    "short_run": "lower lr or the Langevin step_size, raise alpha (the energy² regulariser)",
    "pcd": "lower lr or the Langevin step_size, raise alpha (the energy² regulariser) or "
           "reinit (buffer re-initialisation)",
    "sm": "lower lr; score matching is unstable for energies with large curvature",
    "dsm": "lower lr or raise sigma",
    "ssm": "lower lr or raise n_projections",
    "nce": "lower lr or use a noise distribution closer to the data",
    "compositional": "lower lr or use a proposal closer to the data, or raise ema",
    "ce": "lower lr",
    "jem": "lower lr or the Langevin step_size, raise alpha (the energy² regulariser) or "
           "reinit (buffer re-initialisation)",
    "energy_margin": "lower lr or weight",
}


def fit(model: torch.nn.Module, data: torch.Tensor, method: str = "pcd", steps: int = 1000,
        batch_size: int = 256, optimizer: str | torch.optim.Optimizer = "adam",
        lr: float = 1e-3, seed: int | None = 0, callbacks: tuple = (),
        objective: torch.nn.Module | None = None, labels: torch.Tensor | None = None,
        **method_kwargs: Any) -> History:
    """Train ``model`` (an Energy) on ``data: (N, D)`` with ``method``; returns a History.

    ``method_kwargs`` go to the objective (``make_objective``). For ``"pcd"`` (also ``"cd"``,
    ``"short_run"``) the defaults are ``ContrastiveDivergence``'s and learn the data density:
    10 Langevin steps of size 0.01 per update with the exact noise ``√(2·step_size)``,
    persistent chains without re-initialisation, energy² penalty ``alpha=0.02``. A smaller
    decoupled ``noise_scale`` (e.g. 0.005, common in image-EBM recipes) is biased: the chains sample
    ``exp(-E/T_eff)``, ``T_eff = noise_scale²/(2·step_size)``, so ``exp(-E)`` is then not the
    learned density (on the two-mode test, total variation ~0.7 instead of ~0.07).

    For an energy over binary states (declaring ``values``: an RBM, an Ising model),
    ``"cd"`` and ``"pcd"`` use ``DiscreteContrastiveDivergence`` instead: Gibbs negatives (block
    Gibbs for an RBM) through the chain driver, ``k=1`` by default (``ebmlab.train.rbm``).

    ``callbacks`` are called as ``cb(step, model, history, info)`` after every step; one
    returning ``False`` stops training. Ctrl-C stops cleanly (``history.interrupted``).
    A non-finite loss raises ``TrainingDiverged`` naming the step and what to change.

    Classifiers (``el.energies.EnergyClassifier``) train with ``labels: (N,)`` integers:
    ``"ce"`` (cross-entropy; ``classes="batch"`` normalises over the batch's classes only),
    ``"jem"`` (cross-entropy + PCD on ``E(x)``, see ``JEM``) and ``"energy_margin"``
    (``EnergyMargin``); batches of ``data`` and ``labels`` are drawn together."""
    if not isinstance(data, torch.Tensor) or data.ndim != 2:
        raise ValueError(f"data must be an (N, D) tensor, got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    model_dim = getattr(model, "dim", None)
    if isinstance(model_dim, int) and data.shape[1] != model_dim:
        shape = getattr(model, "image_shape", None)
        what = f" (images {tuple(shape.tuple)})" if shape is not None else ""
        raise ValueError(f"data has {data.shape[1]} columns but the model takes "
                         f"D = {model_dim}{what}; reshape the data to (N, {model_dim})")
    if data.is_floating_point() and not bool(torch.isfinite(data).all()):
        bad = int((~torch.isfinite(data)).any(1).sum())
        raise ValueError(f"data has non-finite values (NaN or ±inf) in {bad} of {len(data)} "
                         "rows; remove or repair them before training")
    steps = check_int("steps", steps, ge=1)
    batch_size = check_int("batch_size", batch_size, ge=1)
    lr = check_real("lr", lr, gt=0.0)
    if objective is None and method in ("cd", "pcd") and getattr(model, "values", None):
        # Binary states (an RBM, an Ising model): Gibbs negatives, not Langevin.
        from .rbm import DiscreteContrastiveDivergence

        objective = DiscreteContrastiveDivergence(kind=method, **method_kwargs)
    obj = objective if objective is not None else make_objective(method, **method_kwargs)
    uses_labels = bool(getattr(obj, "uses_labels", False))
    if uses_labels:
        if (not isinstance(labels, torch.Tensor) or labels.shape != (len(data),)
                or labels.is_floating_point() or labels.dtype == torch.bool):
            got = (f"{labels.dtype} of shape {tuple(labels.shape)}"
                   if isinstance(labels, torch.Tensor) else repr(labels))
            raise ValueError(f"labels must be an integer tensor of shape ({len(data)},) (one "
                             f"per row of data) for {type(obj).__name__}, got {got}")
        n_classes = getattr(model, "n_classes", None)
        if len(labels) and (int(labels.min()) < 0 or (n_classes is not None
                                                       and int(labels.max()) >= n_classes)):
            raise ValueError(f"labels must lie in [0, {n_classes}) for this model, got values "
                             f"in [{int(labels.min())}, {int(labels.max())}]")
        labels = labels.long()
    elif labels is not None:
        raise ValueError(f"labels are only used by classifier objectives ('ce', 'jem', "
                         f"'energy_margin'), not by {type(obj).__name__}")
    gen = make_generator(seed)
    if seed is not None:
        torch.manual_seed(seed)  # parameter initialisation elsewhere is the caller's
    params = list(model.parameters()) + list(obj.parameters())
    if isinstance(optimizer, str):
        check_choice("optimizer", optimizer, ("adam", "sgd"))
        opt = (torch.optim.Adam(params, lr=lr, betas=(0.0, 0.999)) if optimizer == "adam"
               else torch.optim.SGD(params, lr=lr))
    else:
        opt = optimizer
    history = History()
    start = time.perf_counter()
    try:
        for step in range(1, steps + 1):
            idx = torch.randint(len(data), (min(batch_size, len(data)),), generator=gen)
            batch = data[idx]
            try:
                loss, info = (obj(model, batch, gen, labels[idx]) if uses_labels
                              else obj(model, batch, gen))
            except SamplerDivergence as err:  # negatives became non-finite: same advice
                raise TrainingDiverged(
                    f"negative sampling failed at step {step} of {method!r} training "
                    f"(lr={lr:g}): {err}; to fix: {_ADVICE.get(method, 'lower lr')}."
                    + _kept(callbacks)) from err
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {value} at step {step} of {method!r} training (lr={lr:g}); "
                    f"to fix: {_ADVICE.get(method, 'lower lr')}." + _kept(callbacks))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.record(step, value, info, time.perf_counter() - start)
            stop = False
            for cb in callbacks:
                if cb(step, model, history, info) is False:
                    stop = True
            if stop:
                break
    except KeyboardInterrupt:
        history.interrupted = True
    finally:
        for cb in callbacks:
            close = getattr(cb, "close", None)
            if close is not None:
                close()
    return history


def _kept(callbacks: tuple) -> str:
    """Where the last checkpoint written before a divergence is (it is never overwritten
    by the diverged state: checkpoints are written only after a finite step)."""
    saved = [cb for cb in callbacks if isinstance(cb, Checkpoint) and cb.last_step]
    return "".join(f" The last checkpoint (step {cb.last_step}) is kept at {cb.path}; "
                   "resume from it with el.train.load_checkpoint." for cb in saved)


# -- callbacks ----------------------------------------------------------------------------


class ProgressBar:
    """A tqdm.auto progress bar showing the loss."""

    def __init__(self, total: int, desc: str = "training") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc)

    def __call__(self, step, model, history, info):
        self.bar.update(1)
        if step % 10 == 0:
            self.bar.set_postfix(loss=f"{history.loss[-1]:.4f}")

    def close(self) -> None:
        self.bar.close()


class Snapshots:
    """Keep the negatives (or a model evaluation) every ``every`` steps: ``self.items``."""

    def __init__(self, every: int = 100, n: int = 500) -> None:
        self.every = check_int("every", every, ge=1)
        self.n = check_int("n", n, ge=1)
        self.items: list[tuple[int, torch.Tensor]] = []

    def __call__(self, step, model, history, info):
        if step % self.every == 0 and "negatives" in info:
            self.items.append((step, info["negatives"][: self.n].detach().clone()))


class Checkpoint:
    """Save ``{model, optimizer?, step, history}`` every ``every`` steps, atomically."""

    def __init__(self, path: str | os.PathLike, every: int = 500) -> None:
        self.path = Path(path)
        self.every = check_int("every", every, ge=1)
        self.last_step = 0  # step of the last checkpoint written (0: none yet)

    def __call__(self, step, model, history, info):
        if step % self.every == 0:
            save_checkpoint(self.path, model, step=step, history=history)
            self.last_step = step


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, step: int = 0,
                    history: History | None = None) -> Path:
    """Write atomically (temporary file, then rename): a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "step": step,
                "history": history.as_dict() if history is not None else None}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module) -> dict:
    """Load with ``weights_only=True`` (no arbitrary code) into ``model``; returns the rest."""
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    model.load_state_dict(ckpt["model"])
    return ckpt
