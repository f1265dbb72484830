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
from .objectives import NCE, Compositional, ContrastiveDivergence, ScoreMatching

METHODS = ("cd", "short_run", "pcd", "sm", "dsm", "ssm", "nce", "compositional")


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
}


def fit(model: torch.nn.Module, data: torch.Tensor, method: str = "pcd", steps: int = 1000,
        batch_size: int = 256, optimizer: str | torch.optim.Optimizer = "adam",
        lr: float = 1e-3, seed: int | None = 0, callbacks: tuple = (),
        objective: torch.nn.Module | None = None, **method_kwargs: Any) -> History:
    """Train ``model`` (an Energy) on ``data: (N, D)`` with ``method``; returns a History.

    ``method_kwargs`` go to the objective (``make_objective``). For ``"pcd"`` (also ``"cd"``,
    ``"short_run"``) the defaults are ``ContrastiveDivergence``'s and learn the data density:
    10 Langevin steps of size 0.01 per update with the exact noise ``√(2·step_size)``,
    persistent chains without re-initialisation, energy² penalty ``alpha=0.02``. A smaller
    decoupled ``noise_scale`` (e.g. 0.005, common in image-EBM recipes) is biased: the chains sample
    ``exp(-E/T_eff)``, ``T_eff = noise_scale²/(2·step_size)``, so ``exp(-E)`` is then not the
    learned density (on the two-mode test, total variation ~0.7 instead of ~0.07).

    ``callbacks`` are called as ``cb(step, model, history, info)`` after every step; one
    returning ``False`` stops training. Ctrl-C stops cleanly (``history.interrupted``).
    A non-finite loss raises ``TrainingDiverged`` naming the step and what to change."""
    if not isinstance(data, torch.Tensor) or data.ndim != 2:
        raise ValueError(f"data must be an (N, D) tensor, got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    steps = check_int("steps", steps, ge=1)
    batch_size = check_int("batch_size", batch_size, ge=1)
    lr = check_real("lr", lr, gt=0.0)
    obj = objective if objective is not None else make_objective(method, **method_kwargs)
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
                loss, info = obj(model, batch, gen)
            except SamplerDivergence as err:  # negatives became non-finite: same advice
                raise TrainingDiverged(
                    f"negative sampling failed at step {step} of {method!r} training "
                    f"(lr={lr:g}): {err}; to fix: {_ADVICE.get(method, 'lower lr')}.") from err
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {value} at step {step} of {method!r} training (lr={lr:g}); "
                    f"to fix: {_ADVICE.get(method, 'lower lr')}.")
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

    def __call__(self, step, model, history, info):
        if step % self.every == 0:
            save_checkpoint(self.path, model, step=step, history=history)


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
