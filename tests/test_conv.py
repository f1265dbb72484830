"""ConvEnergy and conditional sampling (Clamped, Denoising): shapes, gradients against finite
differences, clamping keeps observed pixels exactly, clear errors."""

from __future__ import annotations

import pytest
import torch

import ebmlab as el
from ebmlab.energies import Clamped, ConvEnergy, Denoising, ImageShape, conv_features


def conv(spectral_norm: bool = False, channels=(4, 8)) -> ConvEnergy:
    torch.manual_seed(0)
    return ConvEnergy((1, 8, 8), channels, spectral_norm=spectral_norm).double().eval()


def test_shapes_flat_and_image_inputs():
    E = conv()
    x = torch.rand(5, 64, dtype=torch.float64)
    e = E(x)
    assert e.shape == (5,) and e.dtype == torch.float64
    torch.testing.assert_close(E(x.reshape(5, 1, 8, 8)), e)
    g = E.grad(x)
    assert g.shape == (5, 64)
    assert E.grad(x.reshape(5, 1, 8, 8)).shape == (5, 1, 8, 8)
    assert E.dim == 64 and E.image_shape == ImageShape(1, 8, 8)


def test_multichannel_and_odd_sizes():
    torch.manual_seed(0)
    E = ConvEnergy((3, 7, 5), (4, 6, 8))
    assert E.dim == 105
    assert E(torch.rand(2, 105)).shape == (2,)
    assert E(torch.rand(2, 3, 7, 5)).shape == (2,)
    feats, width = conv_features((2, 9, 9), (3, 5))
    assert feats(torch.rand(4, 2, 9, 9)).shape == (4, width)


@pytest.mark.parametrize("sn", [False, True])
def test_gradient_matches_finite_differences(sn):
    E = conv(spectral_norm=sn)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 64, generator=gen, dtype=torch.float64)
    g = E.grad(x)
    h = 1e-6
    for j in (0, 17, 36, 63):
        dx = torch.zeros_like(x)
        dx[:, j] = h
        fd = (E(x + dx) - E(x - dx)) / (2 * h)
        torch.testing.assert_close(g[:, j], fd, rtol=1e-6, atol=1e-8)


def test_spectral_norm_bounds_each_layer():
    E = conv(spectral_norm=True)
    E.train()
    x = torch.rand(4, 64, dtype=torch.float64)
    for _ in range(30):  # power iterations converge in training mode
        E(x)
    E.eval()
    for m in E.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            w = m.weight.reshape(m.weight.shape[0], -1)
            assert float(torch.linalg.matrix_norm(w.detach(), ord=2)) <= 1.0 + 1e-3


@pytest.mark.parametrize("x, match", [
    (torch.rand(3, 63), r"x must be images of shape \(N, 64\)"),
    (torch.rand(3, 1, 7, 8), r"x must be images .*got \(3, 1, 7, 8\)"),
    (torch.rand(64), r"x must be images"),
    (torch.zeros(2, 64, dtype=torch.long), r"x must be floating point"),
])
def test_wrong_image_sizes_are_named(x, match):
    E = ConvEnergy((1, 8, 8), (4,))
    with pytest.raises(ValueError, match=match):
        E(x)


def test_non_finite_pixels_are_named():
    E = ConvEnergy((1, 8, 8), (4,))
    x = torch.rand(4, 64)
    x[2, 5] = float("nan")
    x[3, 0] = float("inf")
    with pytest.raises(ValueError, match=r"x has non-finite pixels .* in 2 of 4 images"):
        E(x)
    with pytest.raises(ValueError, match="non-finite"):
        E.grad(x)


@pytest.mark.parametrize("kw, match", [
    (dict(image_shape=(1, 0, 8)), "image_shape"),
    (dict(image_shape=(8,)), "image_shape"),
    (dict(channels=()), "channels"),
    (dict(channels=(4, 0)), r"channels\[1\]"),
    (dict(kernel_size=2), "kernel_size"),
    (dict(activation="relu6"), "activation"),
])
def test_constructor_errors_name_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ConvEnergy(**kw)


# -- conditional sampling ------------------------------------------------------------------


def half_mask() -> torch.Tensor:
    m = torch.zeros(8, 8, dtype=torch.bool)
    m[:4] = True  # top half observed
    return m


def test_clamped_keeps_observed_pixels_exactly_under_sampling():
    E = conv()
    obs = torch.rand(6, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    C = Clamped(E, half_mask(), obs)
    assert C.dim == 32
    z0 = C.free(torch.rand(6, 64, dtype=torch.float64))
    for kernel in (el.samplers.ULA(step_size=1e-3), el.samplers.MALA(step_size=1e-2,
                                                                     adapt=False)):
        chain = el.samplers.Chain(kernel, C, z0, seed=0)
        chain.advance(20)
        full = C.merge(chain.positions)
        m = half_mask().reshape(-1)
        assert torch.equal(full[:, m], obs[:, m])  # exactly, not approximately
        assert not torch.equal(full[:, ~m], C.merge(z0)[:, ~m])  # the free pixels moved


def test_clamped_energy_and_gradient_are_the_full_ones_restricted():
    E = conv()
    gen = torch.Generator().manual_seed(3)
    obs = torch.rand(4, 64, dtype=torch.float64, generator=gen)
    C = Clamped(E, half_mask(), obs)
    z = torch.rand(4, 32, dtype=torch.float64, generator=gen)
    full = C.merge(z)
    torch.testing.assert_close(C(z), E(full))
    m = half_mask().reshape(-1)
    torch.testing.assert_close(C.grad(z), E.grad(full)[:, ~m])
    torch.testing.assert_close(C.free(full), z)
    shared = Clamped(E, half_mask(), obs[0])  # one observation for every chain
    assert shared(z).shape == (4,)


def test_clamped_errors():
    E = conv()
    with pytest.raises(ValueError, match="mask must be a bool tensor with D = 64"):
        Clamped(E, torch.ones(10, dtype=torch.bool), torch.rand(64))
    with pytest.raises(ValueError, match="observes every coordinate"):
        Clamped(E, torch.ones(64, dtype=torch.bool), torch.rand(64))
    with pytest.raises(ValueError, match="mask must be boolean"):
        Clamped(E, torch.full((64,), 0.5), torch.rand(64))
    bad = torch.rand(2, 64)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="observed has non-finite values"):
        Clamped(E, half_mask(), bad)
    with pytest.raises(ValueError, match=r"observed must have shape \(D,\) or \(N, D\)"):
        Clamped(E, half_mask(), torch.rand(2, 60))
    C = Clamped(E, half_mask(), torch.rand(3, 64, dtype=torch.float64))
    with pytest.raises(ValueError, match="one observation per chain"):
        C(torch.rand(5, 32, dtype=torch.float64))


def test_denoising_posterior_energy_and_errors():
    E = conv()
    gen = torch.Generator().manual_seed(4)
    y = torch.rand(3, 64, dtype=torch.float64, generator=gen)
    D = Denoising(E, y, noise_sd=0.2)
    x = torch.rand(3, 64, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(D(x), E(x) + ((x - y) ** 2).sum(1) / (2 * 0.04))
    torch.testing.assert_close(D.grad(x), E.grad(x) + (x - y) / 0.04)
    trace = el.samplers.ULA(step_size=1e-3).run(D, x0=y.clone(), n_steps=10, seed=0)
    assert trace.final.shape == (3, 64)
    with pytest.raises(ValueError, match="noise_sd"):
        Denoising(E, y, noise_sd=0.0)
    y[0, 0] = float("inf")
    with pytest.raises(ValueError, match="noisy has non-finite values"):
        Denoising(E, y, noise_sd=0.1)


def test_image_figures():
    imgs = torch.rand(12, 64)
    fig = el.viz.plot_image_grid({"a": imgs[:6], "b": imgs[6:]}, (8, 8), title="t",
                                 col_labels=[str(i) for i in range(6)])
    assert len(fig.axes) == 12
    fig = el.viz.plot_image_grid(imgs, (1, 8, 8), ncols=5)
    assert len(fig.axes) == 15
    with pytest.raises(ValueError, match="images must be"):
        el.viz.plot_image_grid(torch.rand(3, 60), (8, 8))
    fig = el.viz.plot_histograms({"x": torch.randn(100), "y": torch.randn(50) + 2},
                                 xlabel="energy", markers={"threshold": 1.0})
    assert fig.axes[0].get_xlabel() == "energy"
