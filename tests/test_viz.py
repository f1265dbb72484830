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


def test_plot_error_order_log_axes_fit_and_references():
    x = [0.05, 0.1, 0.2]
    y, se = [0.01, 0.04, 0.16], [0.002, 0.004, 0.008]
    fit = el.diagnostics.power_law_fit(x, y, se)
    fig = el.viz.plot_error_order(x, {"BAOAB": (y, se), "noisy": ([-0.01, 0.02, 0.1], se)},
                                  fits={"BAOAB": fit}, ylabel="bias")
    ax = fig.axes[0]
    assert labelled(fig) and ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("order 2.00" in t for t in labels) and "slope 1" in labels and "slope 2" in labels
    with pytest.raises(ValueError, match="3 entries"):
        el.viz.plot_error_order(x, {"bad": ([1.0], [1.0])})


def test_replica_panels_one_panel_per_replica(tmp_path):
    E = el.energies.get("bimodal", separation=8.0)
    pt = el.samplers.ParallelTempering(kernel=el.samplers.MALA(step_size=0.2), n_replicas=6,
                                       max_temperature=30.0)
    chain = el.samplers.Chain(pt, E, torch.tensor([[4.0, 0.0]]).expand(100, 2), seed=0)
    chain.advance(100)
    reps = pt.replicas(chain.state)
    fig = el.viz.replica_panels(E, reps, pt.temperatures.tolist(), suptitle="ladder")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 6 and labelled(fig)
    assert [ax.get_title() for ax in shown][0] == "T = 1" and shown[-1].get_title() == "T = 30"
    x0, x1 = shown[0].get_xlim()
    # The default box holds the hot replicas' central 99 %.
    assert x0 <= float(reps[-1, :, 0].quantile(0.005)) and x1 >= float(
        reps[-1, :, 0].quantile(0.995))
    # One energy per panel (an annealing path) and point sets of different sizes.
    path = [E.tempered(t) for t in (5.0, 1.0)]
    fig2 = el.viz.replica_panels(path, [reps[0], reps[1, :10]], titles=["a", "b"],
                                 box=(-10, 10, -5, 5))
    assert [ax.get_title() for ax in fig2.axes if ax.get_visible()] == ["a", "b"]
    el.viz.savefig(fig, "replicas", fig_dir=tmp_path)
    with pytest.raises(ValueError, match="temperatures"):
        el.viz.replica_panels(E, reps, [1.0, 2.0])
    with pytest.raises(ValueError, match="replicas"):
        el.viz.replica_panels(E, torch.zeros(3, 2))


def test_plot_mode_masses_and_budget_plot(tmp_path):
    E = el.energies.get("ring")
    mm = el.diagnostics.mode_masses(E.sample(800, seed=0), E)
    fig = el.viz.plot_mode_masses({"exact samples": mm, "uniform": torch.full((8,), 0.125)},
                                  title="mass per mode")
    ax = fig.axes[0]
    assert labelled(fig) and len(ax.patches) == 16  # 8 bars per set
    assert "target" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="same number of modes"):
        el.viz.plot_mode_masses({"a": [0.5, 0.5], "b": [1.0]})

    curve = el.diagnostics.budget_curve(
        lambda k, s: {"n_grad_evals": k, "log_z": 1.0 / k + 0.01 * s}, [10, 100, 1000],
        seeds=range(3), exact=0.0)
    fig = el.viz.budget_plot({"AIS": curve, "SMC": ([20, 200], [0.05, 0.004])},
                             title="cost against accuracy")
    ax = fig.axes[0]
    assert labelled(fig) and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["AIS", "SMC"]
    assert {t.get_text() for t in ax.texts} >= {"10", "100", "1000"}  # settings annotated
    el.viz.savefig(fig, "budget", fig_dir=tmp_path)
    assert (tmp_path / "budget.png").exists()
    with pytest.raises(ValueError, match="positive"):
        el.viz.budget_plot({"x": ([1, 2], [0.0, 1.0])})


def test_figures_display_inline_in_jupyter(tmp_path, monkeypatch):
    """A cell ending in ``fig`` shows the image (no pyplot, so no inline backend), from the
    PNG savefig wrote while the figure is unchanged."""
    import io
    import types

    import IPython
    from IPython.core.formatters import DisplayFormatter

    from ebmlab.viz.display import enable_inline_display, figure_png

    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    fig, axes = el.viz.new_figure(1, 2, (3.0, 2.0))  # registers the formatter
    axes[0, 0].plot([0, 1], [0, 1])
    data, meta = shell.display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["image/png"]["width"] == 600  # 6 inches at 100 dpi
    el.viz.savefig(fig, "shown", fig_dir=tmp_path)
    saved = shell.display_formatter.format(fig)[0]["image/png"]
    assert saved == fig._ebmlab_png  # what savefig rendered, resized: no second rendering
    assert Image.open(io.BytesIO(saved)).size[0] == 600
    assert Image.open(tmp_path / "shown.png").size[0] == 900  # the file keeps 150 dpi
    axes[0, 1].set_title("changed after saving")
    assert not hasattr(fig, "_ebmlab_png")
    fresh = shell.display_formatter.format(fig)[0]["image/png"]
    assert fresh != saved and fresh == figure_png(fig)[0]
    # Another formatter already in place (pyplot's inline backend) is left alone.
    other = types.SimpleNamespace(display_formatter=DisplayFormatter())
    other.display_formatter.formatters["image/png"].for_type(Figure, lambda f: b"mine")
    monkeypatch.setattr(IPython, "get_ipython", lambda: other)
    assert enable_inline_display() is False
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert enable_inline_display() is False
