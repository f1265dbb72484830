"""Energies for images: ``ConvEnergy``, a small convolutional network ``E_θ(x)``, and the
building blocks it is made of (``ImageShape``, ``as_images``, ``conv_features``).

Images are flat rows ``(N, C·H·W)`` everywhere in ebmlab (so every sampler and ``fit`` work
unchanged); ``ConvEnergy`` also accepts ``(N, C, H, W)``. Pixel values are whatever the data
use (``el.data.digits()``: [0, 1]); the network does not clamp them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_int
from .base import Box, Energy
from .neural import _ACTIVATIONS


@dataclass(frozen=True)
class ImageShape:
    """``(channels, height, width)`` of an image; ``dim = C·H·W`` flat coordinates."""

    channels: int
    height: int
    width: int

    @classmethod
    def of(cls, shape: ImageShape | Sequence[int], name: str = "image_shape") -> ImageShape:
        if isinstance(shape, ImageShape):
            return shape
        try:
            vals = [int(v) for v in shape]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be (C, H, W) or (H, W), got {shape!r}") from None
        if len(vals) == 2:
            vals = [1, *vals]
        if len(vals) != 3 or min(vals) < 1:
            raise ValueError(f"{name} must be (C, H, W) or (H, W) of positive integers, "
                             f"got {tuple(shape)!r}")
        return cls(*vals)

    @property
    def dim(self) -> int:
        return self.channels * self.height * self.width

    @property
    def tuple(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


def as_images(x: object, shape: ImageShape | Sequence[int], name: str = "x",
              check_finite: bool = True) -> torch.Tensor:
    """``x: (N, C·H·W)`` or ``(N, C, H, W)`` as ``(N, C, H, W)`` (a view), or a ``ValueError``
    naming ``name``, the expected size and what was given; non-finite pixels are an error
    too (one reduction; ``check_finite=False`` skips it)."""
    s = ImageShape.of(shape)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of images (N, {s.dim}) or "
                         f"(N, {s.channels}, {s.height}, {s.width}), got {type(x).__name__}")
    if x.ndim == 2 and x.shape[1] == s.dim:
        imgs = x.reshape(x.shape[0], *s.tuple)
    elif x.ndim == 4 and tuple(x.shape[1:]) == s.tuple:
        imgs = x
    else:
        raise ValueError(f"{name} must be images of shape (N, {s.dim}) or "
                         f"(N, {s.channels}, {s.height}, {s.width}) (C, H, W = "
                         f"{s.channels}, {s.height}, {s.width}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got dtype {x.dtype}")
    if check_finite and x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x.reshape(x.shape[0], -1))).any(1).sum())
        raise ValueError(f"{name} has non-finite pixels (NaN or ±inf) in {bad} of "
                         f"{x.shape[0]} images; every pixel must be finite")
    return imgs


def conv_features(image_shape: ImageShape | Sequence[int], channels: Sequence[int] = (16, 32),
                  kernel_size: int = 3, activation: str = "silu",
                  spectral_norm: bool = False) -> tuple[torch.nn.Sequential, int]:
    """A convolutional feature extractor and its flat output width.

    ``channels[0]`` is a stride-1 convolution; every further entry halves height and width
    (stride 2), each followed by the activation; the result is flattened (position matters
    for centred digits, so no global pooling). ``spectral_norm`` wraps every convolution in
    ``torch.nn.utils.parametrizations.spectral_norm``, which scales each weight, reshaped to
    ``out × (in·k·k)``, to spectral norm 1 (the image-EBM recipe; a convolution's operator
    norm can still be up to ``k`` times that).
    Returns ``(module, n_features)``; ``module`` maps ``(N, C, H, W) -> (N, n_features)``.
    """
    s = ImageShape.of(image_shape)
    if len(channels) < 1:
        raise ValueError("channels must list at least one layer width, got ()")
    chans = [check_int(f"channels[{i}]", c, ge=1) for i, c in enumerate(channels)]
    k = check_int("kernel_size", kernel_size, ge=1)
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same padding), got {k}")
    check_choice("activation", activation, tuple(_ACTIVATIONS))
    act = _ACTIVATIONS[activation]
    sn = torch.nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
    mods: list[torch.nn.Module] = []
    c_in, h, w = s.channels, s.height, s.width
    for i, c in enumerate(chans):
        stride = 1 if i == 0 else 2
        mods += [sn(torch.nn.Conv2d(c_in, c, k, stride=stride, padding=k // 2)), act()]
        c_in = c
        h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
    mods.append(torch.nn.Flatten())
    return torch.nn.Sequential(*mods), c_in * h * w


class ConvEnergy(Energy):
    """``E_θ(x) = w·φ(x) + b``: ``conv_features`` (SiLU by default, smooth so ``∇ₓE`` is
    continuous as Langevin needs) followed by one linear layer.

    ``x: (N, C·H·W)`` or ``(N, C, H, W)`` -> ``(N,)``; ``image_shape = (C, H, W)`` (or
    ``(H, W)`` for one channel). Wrong sizes and non-finite pixels raise ``ValueError``
    naming ``x`` before any work. ``spectral_norm=True`` normalises every layer (in training
    mode its power iteration updates a buffer on each call; ``eval()`` freezes it).
    Nothing exact is declared; gradients by autograd. ``box``/``domain`` (first two pixels)
    exist only to satisfy the ``Energy`` interface: grid numerics make no sense in 64-D.
    """

    def __init__(self, image_shape: ImageShape | Sequence[int] = (1, 8, 8),
                 channels: Sequence[int] = (16, 32), kernel_size: int = 3,
                 activation: str = "silu", spectral_norm: bool = False,
                 box: Box | None = None, domain: Box | None = None) -> None:
        s = ImageShape.of(image_shape)
        super().__init__(s.dim, box if box is not None else (0.0, 1.0, 0.0, 1.0), domain)
        self.image_shape = s
        self.features, width = conv_features(s, channels, kernel_size, activation,
                                             spectral_norm)
        lin = torch.nn.Linear(width, 1)
        self.head = (torch.nn.utils.parametrizations.spectral_norm(lin) if spectral_norm
                     else lin)

    def _validate(self, x: object) -> None:
        as_images(x, self.image_shape, "x")

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        imgs = x if x.ndim == 4 else x.reshape(x.shape[0], *self.image_shape.tuple)
        return self.head(self.features(imgs)).squeeze(-1)

    def _domain_at(self, temperature: float) -> Box:
        return self._domain if self._domain is not None else self.box
