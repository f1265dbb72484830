"""Figure functions return labelled figures; savefig writes PNG + SVG with metadata."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import ebmlab as el


def labelled(fig: Figure) -> bool:
    return all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes
               if ax.get_visible() and ax.get_label() != "<colorbar>")


@pytest.mark.parametrize("kind", ["energy", "density", "log_density"])
def test_plot_landscape_kinds(kind):
    fig = el.viz.plot_landscape(el.energies.get("banana"), kind=kind, n=60)
    assert isinstance(fig, Figure) and labelled(fig)


def test_figure_functions_return_labelled_figures():
    E = el.energies.get("ring")
    s = E.sample(500, seed=0)
    figs = [
        el.viz.plot_temperatures(E, [0.5, 1, 2], n=40),
        el.viz.plot_gradient_field(E, n=8),
        el.viz.plot_samples(s, energy=E),
        el.viz.plot_samples({"a": s, "b": s + 1}),
        el.viz.plot_trajectories(torch.cumsum(0.1 * torch.randn(20, 3, 2), 0), energy=E),
        el.viz.plot_marginals(s, E),
        el.viz.plot_curves([1, 2, 3], {"y": [1, 4, 9]}, "x", "y", logx=True),
    ]
    for fig in figs:
        assert isinstance(fig, Figure) and labelled(fig)


def test_surface_3d_is_plotly():
    fig = el.viz.surface_3d(el.energies.get("donut"), n=20)
    assert fig.data[0].type == "surface"
    assert fig.layout.scene.zaxis.title.text == "E(x)/T"


def test_bad_arguments():
    E = el.energies.get("ring")
    with pytest.raises(ValueError, match="kind"):
        el.viz.plot_landscape(E, kind="heat")
    with pytest.raises(ValueError, match="temperature"):
        el.viz.plot_landscape(E, temperature=0)
    with pytest.raises(ValueError, match="paths"):
        el.viz.plot_trajectories(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="name"):
        el.viz.savefig(el.viz.plot_landscape(E, n=10), "../escape")


def test_contours_enclose_their_mass():
    E = el.energies.get("gaussian")
    xs, ys, p, log_p = el.viz.landscape_arrays(E, "density", n=300)
    levels = el.viz.mass_thresholds(log_p)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    for level, mass in zip(levels, (0.5, 0.9, 0.99), strict=True):
        assert abs(float(p[log_p >= level].sum() * cell) - mass) < 2e-3


def test_savefig_writes_png_and_svg_with_metadata(tmp_path):
    fig = el.viz.plot_landscape(el.energies.get("ring"), n=40)
    paths = el.viz.savefig(fig, "ring", fig_dir=tmp_path, params={"SEED": 3, "QUICK": True})
    assert {p.suffix for p in paths} == {".png", ".svg"}
    meta = json.loads(Image.open(tmp_path / "ring.png").text["Description"])
    assert meta["seed"] == 3 and meta["parameters"]["QUICK"] is True
    assert meta["ebmlab_version"] == el.__version__
    svg = (tmp_path / "ring.svg").read_text()
    assert '"seed": 3' in svg.replace("&quot;", '"')
    # Deterministic output: saving again gives identical bytes.
    first = (tmp_path / "ring.svg").read_bytes(), (tmp_path / "ring.png").read_bytes()
    el.viz.savefig(fig, "ring", fig_dir=tmp_path, params={"SEED": 3, "QUICK": True})
    assert first == ((tmp_path / "ring.svg").read_bytes(), (tmp_path / "ring.png").read_bytes())


def test_savefig_plotly_html_and_configure(tmp_path):
    el.viz.configure(fig_dir=tmp_path / "cfg", params={"SEED": 1})
    try:
        paths = el.viz.savefig(el.viz.surface_3d(el.energies.get("ring"), n=10), "surf")
    finally:
        el.viz.save._CONFIG.update(fig_dir=None, params=None)
    assert paths == [tmp_path / "cfg" / "surf.html"]
    assert (tmp_path / "cfg" / "plotly.min.js").exists()
    assert "ebmlab-metadata" in paths[0].read_text()


def test_chain_figures():
    trace = el.samplers.MALA(step_size=0.1).run(el.energies.get("banana"), n_chains=4,
                                                n_steps=60, seed=0)
    figs = [el.viz.plot_traces(trace, max_chains=2),
            el.viz.plot_autocorrelation({"MALA": trace}, max_lag=10),
            el.viz.plot_bars({"a": 1.0, "b": 2.0}, ylabel="ESS")]
    for fig in figs:
        assert isinstance(fig, Figure) and labelled(fig)
    with pytest.raises(ValueError, match="samples must have shape"):
        el.viz.plot_traces(torch.zeros(5, 2))
