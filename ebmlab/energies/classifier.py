"""A classifier is an energy-based model (Grathwohl et al. 2020, "Your classifier is secretly
an energy-based model"): its logits ``f(x) ∈ R^K`` define

- the joint energy ``E(x, y) = -f_y(x)``, so ``p(x, y) ∝ exp(f_y(x))``;
- the conditional ``p(y|x) = exp(-E(x, y)) / Σ_y' exp(-E(x, y')) = softmax(f(x))_y``;
- the marginal energy ``E(x) = -T·logsumexp(f(x)/T)`` (``T = 1``: ``p(x) ∝ Σ_y exp(f_y(x))``).

Adding a constant ``c(x)`` to every logit leaves ``p(y|x)`` unchanged and shifts ``E(x)`` by
``-c(x)``: the softmax throws away exactly the information ``E(x)`` keeps.
"""

from __future__ import annotations

import torch

from .._checks import check_choice, check_int, check_real
from .base import Box, Energy
from .neural import _ACTIVATIONS, mlp


class EnergyClassifier(Energy):
    """Logits ``f(x): (N, D) -> (N, K)`` seen as an energy: ``E(x) = -T·logsumexp(f(x)/T)``
    (``forward``), ``E(x, y) = -f_y(x)`` (``joint_energy``), ``p(y|x) = softmax(f(x))``
    (``class_probs``), and ``conditional(y)``, the energy ``x ↦ E(x, y)`` to sample
    class-conditionally.

    The network is an MLP (``layers`` hidden layers of width ``hidden``, smooth activations so
    ``∇ₓE`` is continuous for Langevin), or any module ``net`` mapping ``(N, dim)`` to
    ``(N, n_classes)``. ``temperature`` only enters ``E(x)``; ``p(y|x)`` is the softmax of the
    logits. Inputs must be finite ``(N, dim)`` tensors; labels integers in ``[0, n_classes)``.
    Nothing exact is declared; gradients by autograd. ``box`` (first two coordinates) is only
    the ``Energy`` interface's plotting view: grid numerics make no sense in many dimensions.
    """

    def __init__(self, dim: int = 64, n_classes: int = 10, hidden: int = 128, layers: int = 2,
                 activation: str = "silu", net: torch.nn.Module | None = None,
                 temperature: float = 1.0, box: Box | None = None,
                 domain: Box | None = None) -> None:
        dim = check_int("dim", dim, ge=1)
        self.n_classes = check_int("n_classes", n_classes, ge=2)
        self.temperature = check_real("temperature", temperature, gt=0.0)
        if net is None:
            hidden = check_int("hidden", hidden, ge=1)
            layers = check_int("layers", layers, ge=0)
            check_choice("activation", activation, tuple(_ACTIVATIONS))
        elif not isinstance(net, torch.nn.Module):
            raise ValueError(f"net must be a torch.nn.Module mapping (N, {dim}) to "
                             f"(N, {n_classes}), got {type(net).__name__}")
        super().__init__(dim, box if box is not None else (0.0, 1.0, 0.0, 1.0), domain)
        self.net = net if net is not None else mlp(dim, n_classes, hidden, layers, activation)

    # -- input checks ------------------------------------------------------------------
    def _validate(self, x: object) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (N, {self.dim}) for "
                             f"EnergyClassifier(dim={self.dim}), got {got}")
        if not x.is_floating_point():
            raise ValueError(f"x must be floating point, got dtype {x.dtype}")
        if x.numel() and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).any(1).sum())
            raise ValueError(f"x has non-finite values (NaN or ±inf) in {bad} of {x.shape[0]} "
                             "rows; every input must be finite")

    def _labels(self, y: object, n: int) -> torch.Tensor:
        if isinstance(y, int) and not isinstance(y, bool):
            y = torch.full((n,), y, dtype=torch.long)
        if (not isinstance(y, torch.Tensor) or y.shape != (n,) or y.is_floating_point()
                or y.dtype == torch.bool):
            got = (f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor)
                   else repr(y))
            raise ValueError(f"y must be an integer label or an integer tensor of shape ({n},), "
                             f"got {got}")
        if n and (bool((y < 0).any()) or bool((y >= self.n_classes).any())):
            raise ValueError(f"y must lie in [0, {self.n_classes - 1}], got values in "
                             f"[{int(y.min())}, {int(y.max())}]")
        return y.long()

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if out.ndim != 2 or out.shape[1] != self.n_classes:
            raise ValueError(f"net must map (N, {self.dim}) to (N, {self.n_classes}) logits, "
                             f"got {tuple(out.shape)}")
        return out

    # -- the energies ------------------------------------------------------------------
    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        f = self._logits(x)
        return -torch.logsumexp(f, 1) if t == 1.0 else -t * torch.logsumexp(f / t, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x)``: ``(N, D) -> (N, K)``."""
        self._validate(x)
        return self._logits(x)

    def joint_energy(self, x: torch.Tensor, y: int | torch.Tensor | None = None
                     ) -> torch.Tensor:
        """``E(x, y) = -f_y(x)``: ``(N,)`` for labels ``y`` (an int or ``(N,)``), or every
        class ``(N, K)`` when ``y`` is None."""
        self._validate(x)
        e = -self._logits(x)
        if y is None:
            return e
        return e.gather(1, self._labels(y, x.shape[0])[:, None]).squeeze(1)

    def class_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``p(y|x) = softmax(f(x))``: ``(N, D) -> (N, K)``."""
        return torch.softmax(self.logits(x), 1)

    def log_class_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(y|x)``: ``(N, D) -> (N, K)``."""
        return torch.log_softmax(self.logits(x), 1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``argmax_y p(y|x) = argmin_y E(x, y)``: ``(N,)`` int64."""
        return self.logits(x).argmax(1)

    def conditional(self, y: int | torch.Tensor) -> Energy:
        """The energy ``x ↦ E(x, y) = -f_y(x)`` (``p(x|y) ∝ exp(f_y(x))``) for a fixed label
        ``y``: an int (any number of chains) or an ``(N,)`` tensor (one label per chain)."""
        if isinstance(y, torch.Tensor):
            if y.ndim != 1:
                raise ValueError(f"y must be an int or a 1-D tensor of labels (one per chain), "
                                 f"got shape {tuple(y.shape)}")
            y = self._labels(y, y.shape[0])
        else:
            y = int(self._labels(y, 1)[0])
        return ClassConditional(self, y)

    def _domain_at(self, temperature: float) -> Box:
        return self._domain if self._domain is not None else self.box


class ClassConditional(Energy):
    """``E(x | y) = -f_y(x)`` of an ``EnergyClassifier`` for fixed labels (one per chain, or
    one for all); its parameters are the classifier's."""

    def __init__(self, classifier: EnergyClassifier, y: int | torch.Tensor) -> None:
        super().__init__(classifier.dim, classifier.box, classifier._domain)
        self.classifier = classifier
        self.y = y

    def _validate(self, x: object) -> None:
        self.classifier._validate(x)
        if isinstance(self.y, torch.Tensor) and x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x must have one row per label: {self.y.shape[0]} labels, got "
                             f"{x.shape[0]} rows")

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        f = self.classifier._logits(x)
        if isinstance(self.y, int):
            return -f[:, self.y]
        return -f.gather(1, self.y.to(f.device)[:, None]).squeeze(1)

    def _domain_at(self, temperature: float) -> Box:
        return self.classifier._domain_at(temperature)
