"""Widgets, driven from Python: controls change the figure in place, bad values become
messages, SamplerLab moves chains, survives divergence and round-trips its settings."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import ebmlab as el
from ebmlab.widgets import EnergyExplorer, SamplerLab


def heat(e: EnergyExplorer) -> np.ndarray:
    return np.asarray(e.fig.data[0].z, dtype=float)


def test_explorer_builds_sliders_from_declared_parameters():
    e = EnergyExplorer("banana")
    assert [w.description for w in e.params.children] == \
        [p.name for p in el.energies.spec("banana").params]
    e.name.value = "ring"
    assert [w.description for w in e.params.children] == ["n_modes", "radius", "std"]
    assert set(e.name.options) == set(el.energies.names())


def test_explorer_updates_the_same_figure_in_place():
    e = EnergyExplorer("ring")
    fig, trace = e.fig, e.fig.data[0]
    before = heat(e).copy()
    e.temperature.value = 3.0
    assert e.fig is fig and e.fig.data[0] is trace  # artists reused, not re-created
    assert not np.allclose(heat(e), before)
    readout = e.readout.value
    e.params.children[1].value = 2.0  # radius
    assert e.readout.value != readout and not np.allclose(heat(e), before)
    assert "mass per well" in e.readout.value and "log Z" in e.readout.value
    e.view.value = "energy"
    e.field.value = True
    assert len(e.fig.data[2].x) > 0
    e.surface.value = True
    assert np.asarray(e.fig3d.data[0].z, dtype=float).shape[0] > 10


@pytest.mark.parametrize("name", el.energies.names())
def test_explorer_survives_every_slider_extreme(name):
    e = EnergyExplorer(name)
    for w in e.params.children:
        for v in (w.min, w.max):
            w.value = v
            assert e.message.value == "", (name, w.description, v, e.message.value)
    e.temperature.value = 10 ** e.temperature.min
    e.temperature.value = 10 ** e.temperature.max
    assert e.message.value == ""


def test_explorer_shows_rejected_values_as_a_message():
    e = EnergyExplorer("banana")
    e.params.children[1].max = 10.0
    e.params.children[1].min = -1.0  # widen beyond the declared range on purpose
    e.params.children[1].value = -1.0
    assert "scale" in e.message.value and "must be" in e.message.value
    e.params.children[1].value = 1.0  # and it recovers
    assert e.message.value == ""


def acc_value(panel) -> float:
    """The acceptance number the read-out shows."""
    html = panel.readout.value
    return float(html.split("class='ebmlab-acc'>")[1].split("<")[0])


def chain_xy(lab, i: int) -> np.ndarray:
    t = lab.trace(i, "chains")
    return np.stack([np.asarray(t.x, dtype=float), np.asarray(t.y, dtype=float)], 1)


def test_samplerlab_moves_chains_and_reports():
    lab = SamplerLab("ring", n_chains=200)
    assert isinstance(lab, el.widgets.Lab)
    start = [p.positions().clone() for p in lab.panels]
    for _ in range(25):
        assert lab.step()  # the Step button
    for p, x0 in zip(lab.panels, start, strict=True):
        assert not torch.equal(p.positions(), x0)
        assert p.chain.steps == 25 * 2  # steps_per_frame = 2, all through chain.advance
        assert 0.0 <= acc_value(p) <= 1.0
        assert acc_value(p) == pytest.approx(float(p.chain.acceptance.mean()), abs=0.006)
        assert "ESS" in p.readout.value and "MMD" in p.readout.value
    assert np.allclose(chain_xy(lab, 0), lab.panels[0].positions().numpy())
    assert lab.last_frame_ms > 0 and lab.frames == 25 and lab.message.value == ""


def test_samplerlab_controls_are_the_declared_live_parameters():
    lab = SamplerLab("ring", ("mala", "hmc", "kinetic"), n_chains=20)
    for p in lab.panels:
        live = [q.name for q in el.samplers.live_params(el.samplers.spec(p.choice.value))]
        assert [w.description for w in p.params.children] == live
    assert "adapt" not in lab.panels[0].values()  # not live
    kin = lab.panels[2]
    split = next(w for w in kin.params.children if w.description == "splitting")
    assert set(split.options) == {"BAOAB", "OBABO"}
    split.value = "OBABO"  # a choice parameter: the panel's kernel follows
    assert kin.kernel.splitting == "OBABO"
    lab.panels[1].params.children[1].value = 3  # n_leapfrog
    assert lab.panels[1].kernel.n_leapfrog == 3
    lab.panels[0].choice.value = "pt"
    assert isinstance(lab.panels[0].kernel, el.samplers.ParallelTempering)
    assert lab.frame()
    assert lab.panels[0].positions().shape == (20, 2)  # the T = 1 replica


def test_samplerlab_default_start_is_a_broad_gaussian():
    lab = SamplerLab("ring", n_chains=2000, seed=4)
    x0 = lab.panels[0].positions()
    gen = torch.Generator().manual_seed(4)
    assert torch.equal(x0, el.samplers.initial_points(lab.energy, 2000, gen))
    assert abs(float(x0.std()) - 2.0) < 0.1 and abs(float(x0.mean())) < 0.1
    assert "Gaussian" in lab.start_info.value
    assert len(lab.trace(0, "start").x) == 0  # no start marker


def test_samplerlab_set_start_restarts_every_chain_at_the_point():
    lab = SamplerLab("ring", n_chains=100, seed=1)
    for _ in range(3):
        lab.frame()
    lab.set_start(1, 2)
    for i, p in enumerate(lab.panels):
        assert p.chain.steps == 0
        assert torch.equal(p.positions(), torch.tensor([[1.0, 2.0]]).expand(100, 2))
        assert np.allclose(chain_xy(lab, i), [1.0, 2.0])
        assert list(lab.trace(i, "start").x) == [1.0] and list(lab.trace(i, "start").y) == [2.0]
    assert "(1.00, 2.00)" in lab.start_info.value
    lab.frame()
    assert all(not torch.equal(p.positions(), torch.tensor([[1.0, 2.0]]).expand(100, 2))
               for p in lab.panels)
    lab.reset()  # Reset keeps the chosen start
    assert all(torch.equal(p.positions(), torch.tensor([[1.0, 2.0]]).expand(100, 2))
               for p in lab.panels)
    lab.set_start(None)  # back to the Gaussian
    assert lab.start_point is None and float(lab.panels[0].positions().std()) > 1.0
    lab.set_start(float("nan"), 0.0)
    assert "finite" in lab.message.value and lab.start_point is None


def test_samplerlab_click_on_any_landscape_sets_the_start():
    from plotly.callbacks import Points

    lab = SamplerLab("banana", ("mala", "rwm"), n_chains=30)
    assert isinstance(lab.fig, go.FigureWidget)
    assert lab.trace(1, "landscape").hoverinfo != "skip"  # skip would swallow clicks
    # What plotly's FigureWidget does on a click in panel 2: every trace is told, only the
    # clicked heatmap gets the point.
    for k, t in enumerate(lab.fig.data):
        inds, xs, ys = ([7], [-0.5], [1.25]) if t is lab.trace(1, "landscape") else ([], [], [])
        t._dispatch_on_click(Points(point_inds=inds, xs=xs, ys=ys, trace_name=None,
                                    trace_index=k), None)
    assert lab.start_point == (-0.5, 1.25)
    for p in lab.panels:
        assert torch.equal(p.positions(), torch.tensor([[-0.5, 1.25]]).expand(30, 2))


def test_samplerlab_same_start_for_every_panel_and_reset():
    lab = SamplerLab("banana", n_chains=50, seed=3)
    assert all(torch.equal(lab.panels[0].positions(), p.positions()) for p in lab.panels)
    x0 = lab.panels[0].positions().clone()
    lab.frame()
    lab.reset()
    assert torch.equal(lab.panels[0].positions(), x0)
    assert lab.panels[0].chain.steps == 0


def test_samplerlab_divergence_is_a_message_and_reset_recovers():
    lab = SamplerLab("double_well", ("ula", "mala"), n_chains=50)
    lab.panels[0].params.children[0].value = 2.0  # ULA step far too large here
    for _ in range(5):
        assert lab.frame()  # never raises; the lab keeps running
    p0, p1 = lab.panels
    assert p0.stopped and "diverged" in p0.message.value and "Press Reset" in p0.message.value
    assert "step_size" in p0.message.value
    assert not p1.stopped and p1.chain.steps == 10  # the other sampler keeps running
    lab.panels[0].params.children[0].value = 0.01
    lab.reset()
    assert lab.frame()
    assert not p0.stopped and p0.message.value == "" and p0.chain.steps == 2
    assert torch.isfinite(p0.positions()).all()


def test_lab_frame_never_raises_and_reset_recovers():
    lab = SamplerLab("ring", ("mala",), n_chains=20)

    def broken():
        raise RuntimeError("boom")

    lab._advance = broken
    assert lab.frame() is False
    assert "boom" in lab.message.value and "Press Reset" in lab.message.value
    assert not lab.playing and not lab.ready
    assert lab.frame() is False  # stays stopped until Reset
    del lab._advance
    assert lab.reset() and lab.message.value == "" and lab.frame()


def test_lab_ticks_are_throttled():
    lab = SamplerLab("ring", ("mala",), n_chains=20, interval_ms=1000)
    lab.start()
    assert lab.playing
    assert lab.frame()
    lab.play.value += 1  # ticks queued during that frame arrive right after it: dropped
    lab.play.value += 1
    assert lab.frames == 1 and lab.skipped == 2
    lab._last_end -= 1.0  # a tick a full interval later runs a frame
    lab.play.value += 1
    assert lab.frames == 2 and lab.skipped == 2
    lab.stop()
    assert not lab.playing


def test_headless_labs_keep_plain_figures(monkeypatch):
    monkeypatch.setenv("EBMLAB_WIDGETS", "0")
    assert not el.widgets.live_frontend()
    lab = SamplerLab("ring", ("mala",), n_chains=20)
    assert type(lab.fig) is go.Figure  # no FigureWidget: no 5 MB plotly.js in a saved notebook
    assert lab.frame() and np.allclose(chain_xy(lab, 0), lab.panels[0].positions().numpy())
    assert any("headless" in getattr(c, "value", "") for c in lab.children)
    e = EnergyExplorer("ring")
    assert type(e.fig) is go.Figure and e.fig3d is None
    monkeypatch.setenv("EBMLAB_WIDGETS", "1")
    assert el.widgets.live_frontend()


def test_samplerlab_settings_round_trip():
    lab = SamplerLab(el.energies.get("banana", curvature=0.5), ("mala", "hmc"), n_chains=80,
                     steps_per_frame=3, seed=9, start=(0.5, -1.0))
    lab.panels[1].params.children[0].value = 0.2
    s = lab.settings()
    assert isinstance(s, str) and len(s) < 400
    other = SamplerLab.from_settings(s)
    assert other.settings() == s
    assert other.energy.param_values["curvature"] == 0.5
    assert other.start_point == (0.5, -1.0)
    assert torch.equal(other.panels[0].positions(), lab.panels[0].positions())
    for _ in range(3):
        lab.frame()
        other.frame()
    assert torch.equal(other.panels[1].positions(), lab.panels[1].positions())
    with pytest.raises(ValueError, match="settings"):
        SamplerLab.from_settings("not-a-settings-string")


def test_samplerlab_validation():
    with pytest.raises(ValueError, match="samplers must name 1 to 3"):
        SamplerLab("ring", ())
    with pytest.raises(ValueError, match="nuts"):
        SamplerLab("ring", ("nuts",))
    with pytest.raises(ValueError, match="2-D"):
        SamplerLab(el.energies.Gaussian.isotropic(3))


def test_app_command(tmp_path, monkeypatch, capsys):
    from ebmlab import cli

    nb = cli.app_notebook("sampler", tmp_path, settings="abc")
    assert "SamplerLab.from_settings('abc')" in nb.read_text()
    nb = cli.app_notebook("explorer", tmp_path, energy="banana")
    assert "EnergyExplorer('banana')" in nb.read_text()
    cmd = cli.voila_command(nb, 9999)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=9999" in cmd and "--no-browser" in cmd
    seen = {}
    monkeypatch.setattr(cli.subprocess, "call", lambda c: seen.setdefault("cmd", c) and 0)
    assert cli.main(["app", "explorer", "--port", "9998", "--no-browser"]) == 0
    assert "--port=9998" in seen["cmd"]
    assert cli.main(["app", "explorer", "--energy", "nope"]) == 2
    assert "--energy must be one of" in capsys.readouterr().err


def test_temperinglab_shows_every_replica_and_recovers_mode_weights():
    from ebmlab.widgets import TemperingLab

    lab = TemperingLab("bimodal", n_replicas=6, max_temperature=30.0, n_chains=100)
    assert isinstance(lab, el.widgets.Lab)
    assert isinstance(lab.chain.kernel, el.samplers.ParallelTempering)
    assert isinstance(lab.pt.kernel, el.samplers.MALA)
    assert len(lab.fig.data) == 3 * 6  # landscape, chains and start marker per replica
    x0 = np.asarray(lab.trace(0, "chains").x, dtype=float).copy()
    for _ in range(150):
        assert lab.frame()
    assert lab.chain.steps == 300
    assert not np.allclose(np.asarray(lab.trace(0, "chains").x, dtype=float), x0)
    hot = lab.pt.replicas(lab.chain.state)[-1]
    assert np.allclose(np.asarray(lab.trace(5, "chains").x, dtype=float), hot[:, 0].numpy())
    assert "swap acceptance" in lab.readout.value and "mass per mode" in lab.readout.value
    swaps = [float(v) for v in lab.readout.value.split("ebmlab-swaps'>")[1].split("<")[0]
             .split()]
    assert len(swaps) == 5 and all(0.0 <= a <= 1.0 for a in swaps)
    mass = lab.mode_mass()
    # Chains start from N(0, 2² I), over both modes; the cold chain's share of the left mode
    # is its declared weight 0.7; 0.1 is > 3 SE for 100 chains whose frames are correlated.
    assert abs(float(mass[0]) - 0.7) < 0.1 and float(mass.sum()) == pytest.approx(1.0)
    assert f"{float(mass[0]):.2f}" in lab.readout.value
    lab.n_replicas.value = 4  # rebuilds the ladder and the figure
    assert len(lab.fig.data) == 3 * 4 and lab.pt.n_replicas == 4
    lab.kernel.value = "hmc"
    assert isinstance(lab.pt.kernel, el.samplers.HMC) and lab.frame()
    lab.step_size.value = 2.0
    for _ in range(5):
        lab.frame()  # never raises
    assert "Traceback" not in lab.message.value


def test_temperinglab_set_start_puts_every_replica_at_the_point():
    from ebmlab.widgets import TemperingLab

    lab = TemperingLab("bimodal", n_replicas=4, n_chains=50)
    lab.set_start(3.0, 0.0)
    reps = lab.pt.replicas(lab.chain.state)
    assert torch.equal(reps, torch.tensor([3.0, 0.0]).expand(4, 50, 2))
    assert list(lab.trace(3, "start").x) == [3.0]
    assert lab.frame()


def test_training_monitor_updates_and_stops_cleanly():
    import time as _time

    from ebmlab.widgets import TrainingMonitor

    torch.manual_seed(0)
    model = el.energies.MLPEnergy(2, 32, 2)
    data = el.data.toy("8gaussians", 2000, seed=0)
    mon = TrainingMonitor(model, data, method="pcd", steps=20, every=5, batch_size=64, k=5)
    assert isinstance(mon, el.widgets.Lab)
    assert "ebmlab-play" in mon.start_button._dom_classes
    w0 = [p.detach().clone() for p in model.parameters()]
    z0 = np.asarray(mon.fig.data[0].z, dtype=float).copy()
    mon.start(background=False)
    assert mon.history.step == list(range(1, 21)) and "finished" in mon.status.value
    assert not np.allclose(np.asarray(mon.fig.data[0].z, dtype=float), z0)
    assert len(mon.fig.data[3].x) == 20 and len(mon.fig.data[2].x) > 0
    assert mon.step() and mon.history.step[-1] == 25  # Step: `every` more steps, same history
    mon.reset()  # initial weights back, history gone
    assert mon.history.step == [] and all(
        torch.equal(a, b) for a, b in zip(w0, model.parameters(), strict=True))
    assert np.allclose(np.asarray(mon.fig.data[0].z, dtype=float), z0)
    # In the background, Stop ends training after the current step and keeps the model.
    mon2 = TrainingMonitor(model, data, method="pcd", steps=100_000, every=5, batch_size=64,
                           k=5)
    mon2.start()
    _time.sleep(1.0)
    mon2.stop()
    mon2.join(timeout=30)
    assert not mon2.running and "stopped" in mon2.status.value
    assert 0 < len(mon2.history.step) < 100_000
    n = len(mon2.history.step)
    mon2.start()  # Train again continues from the current model and history
    _time.sleep(0.5)
    mon2.stop()
    mon2.join(timeout=30)
    assert mon2.history.step == list(range(1, len(mon2.history.step) + 1))
    assert len(mon2.history.step) > n
    with pytest.raises(ValueError, match="2-D"):
        TrainingMonitor(model, torch.zeros(10, 3))


def test_temperinglab_divergence_is_a_message_and_reset_recovers():
    from ebmlab.widgets import TemperingLab

    lab = TemperingLab("double_well", n_replicas=3, n_chains=30, kernel="ula")
    lab.step_size.value = 2.0  # ULA at ε·T up to 40: diverges
    results = [lab.frame() for _ in range(5)]  # never raises
    assert results[-1] is False and not lab.playing
    assert "diverged" in lab.message.value and "Press Reset" in lab.message.value
    lab.step_size.value = 0.01  # a control change resets the ladder
    assert lab.message.value == "" and lab.frame() and lab.chain.steps == 2
    assert torch.isfinite(lab.pt.replicas(lab.chain.state)).all()


# -- IsingLab ---------------------------------------------------------------------------------


def ising_lab(**kw):
    from ebmlab.widgets import IsingLab

    kw.setdefault("L", 32)
    kw.setdefault("frame_budget_ms", 1e6)  # every frame takes all its steps: reproducible
    return IsingLab(**kw)


def test_isinglab_magnetisation_and_energy_follow_the_temperature():
    onsager_m, onsager_u = el.energies.onsager_magnetisation, el.energies.onsager_energy
    # Below T_c (Wolff equilibrates a 32 x 32 lattice from random spins in a few hundred
    # cluster flips): |m| near Onsager's m0(1.5) = 0.986, E/D near u(1.5) = -1.95.
    lab = ising_lab(temperature=1.5, sampler="wolff", steps_per_frame=20)
    for _ in range(30):
        assert lab.frame(), lab.message.value
    m = np.abs(np.array(lab.trace_m)[-10:])
    e = np.array(lab.trace_e)[-10:]
    assert m.min() > 0.95 and abs(m.mean() - onsager_m(1.5)) < 0.02, m
    assert abs(e.mean() - onsager_u(1.5)) < 0.03, e
    # Far above T_c (checkerboard Gibbs): m near 0 (sd ~ 0.04 for 1024 spins at T = 5), E/D
    # near u(5) = -0.41 (finite-size effects are negligible there).
    lab.temperature.value = 5.0
    for _ in range(40):
        assert lab.frame(), lab.message.value
    lab.sampler.value = "gibbs"
    for _ in range(40):
        assert lab.frame(), lab.message.value
    m = np.array(lab.trace_m)[-30:]
    e = np.array(lab.trace_e)[-30:]
    assert abs(m.mean()) < 0.05 and np.abs(m).max() < 0.2, m
    assert abs(e.mean() - onsager_u(5.0)) < 0.03, (e.mean(), onsager_u(5.0))
    # Changing T kept the chain going: the traces are one run, the phase panel has both T.
    assert len(lab.trace_m) == 111 and {1.5, 5.0} <= set(lab.visits)
    assert lab.message.value == ""


def test_isinglab_cold_start_stays_ordered_with_gibbs_and_the_field_picks_the_sign():
    lab = ising_lab(temperature=1.0, start="up", steps_per_frame=10)
    for _ in range(10):
        assert lab.frame()
    assert min(lab.trace_m) > 0.99  # exact m0(1) = 0.9993
    lab.field.value = -1.0  # a strong opposing field at low T flips the lattice
    for _ in range(20):
        assert lab.frame()
    assert lab.trace_m[-1] < -0.99, list(lab.trace_m)[-5:]


def test_isinglab_frames_go_through_the_chain_driver(monkeypatch):
    calls = []
    real = el.samplers.Chain.advance

    def spy(self, n, **kw):
        calls.append(n)
        return real(self, n, **kw)

    monkeypatch.setattr(el.samplers.Chain, "advance", spy)
    lab = ising_lab(steps_per_frame=3)
    assert lab.frame() and lab.frame()
    assert sum(calls) == 6 and lab.t == 6.0 and lab.chain.steps == 6


def test_isinglab_sampler_choice_changes_the_kernel():
    from ebmlab.samplers import Gibbs, GibbsWithGradients, MetropolisFlip, Wolff

    lab = ising_lab(temperature=2.5)
    assert lab.sampler.options == tuple(el.samplers.names(state="discrete"))
    assert isinstance(lab.chain.kernel, Gibbs) and lab.unit == 1
    assert [w.description for w in lab.params.children] == ["scan"]
    expected = {"flip": (MetropolisFlip, 1, ["scan", "n_flips"]),
                "wolff": (Wolff, 1, ["n_clusters"]),
                "gwg": (GibbsWithGradients, 32 * 32, [])}
    for name, (cls, unit, params) in expected.items():
        x = lab.chain.positions.clone()
        lab.sampler.value = name
        assert type(lab.chain.kernel) is cls and lab.unit == unit, name
        assert [w.description for w in lab.params.children] == params
        assert torch.equal(lab.chain.positions, x)  # the spins carry over
        assert lab.frame(), lab.message.value
    # Metropolis rejects some flips at T = 2.5 (Gibbs reports acceptance 1 by definition)
    lab.sampler.value = "flip"
    lab.frame()
    assert 0.0 < float(lab.chain.acceptance.mean()) < 0.9
    # a kernel parameter reaches the kernel: random scan updates one site per chain step
    lab.params.children[0].value = "random"
    assert lab.chain.kernel.scan == "random" and lab.unit == 32 * 32
    assert lab.chain.kernel.sweep is False
    # the same seed and start, different kernels: different lattices after one frame
    a, b = ising_lab(sampler="gibbs"), ising_lab(sampler="wolff")
    assert torch.equal(a.chain.positions, b.chain.positions)
    a.frame(), b.frame()
    assert not torch.equal(a.chain.positions, b.chain.positions)


def test_isinglab_lattice_is_a_small_png_of_the_spins():
    import io

    from PIL import Image

    lab = ising_lab(L=128, frame_budget_ms=25.0)
    lab.frame()
    data = lab.image.value
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 8000  # not a list of floats
    img = np.asarray(Image.open(io.BytesIO(data)))
    assert img.shape == (128, 128)
    spins = lab.chain.positions[0].view(128, 128).numpy()
    assert np.array_equal(img == 1, spins > 0)


@pytest.mark.parametrize("sampler", el.samplers.names(state="discrete"))
def test_isinglab_runs_at_every_slider_extreme(sampler):
    lab = ising_lab(L=16, sampler=sampler, steps_per_frame=2, frame_budget_ms=50.0)
    for T in (lab.temperature.min, lab.temperature.max):
        for h in (lab.field.min, 0.0, lab.field.max):
            lab.temperature.value, lab.field.value = T, h
            assert lab.frame(), (sampler, T, h, lab.message.value)
            assert lab.message.value == "" and np.isfinite(lab.trace_e[-1])
            assert set(lab.chain.positions.unique().tolist()) <= {-1.0, 1.0}
    lab.temperature.value = el.energies.critical_temperature()
    assert "T_c" in lab.tc_mark.value or "T / T_c" in lab.tc_mark.value
    lab.tc_button.click()
    assert abs(lab.temperature.value - el.energies.critical_temperature()) < 1e-3


def test_isinglab_bad_values_are_messages_naming_the_parameter():
    lab = ising_lab(L=1, temperature=float("nan"), sampler="nuts")
    text = lab.message.value
    assert "L must be" in text and "temperature must be" in text and "sampler must be" in text
    assert not lab.ready and lab.frame() is False  # nothing runs until Reset
    assert lab.reset() and lab.message.value == "" and lab.frame()
    m = lab.trace_m[-1]
    T = lab.temperature.value
    lab.temperature.value = float("nan")  # a slider does not refuse NaN by itself
    assert "temperature T must be finite" in lab.message.value
    assert lab.temperature.value == T == lab.T  # the slider shows the value in use again
    assert lab.frame()  # the chain keeps running at the previous temperature
    lab.field.value = float("nan")
    assert "field h must be finite" in lab.message.value and lab.h == 0.0
    lab.field.value = 0.5
    assert lab.message.value == "" and lab.h == 0.5
    lab.sampler.value = "flip"
    lab.params.children[1].value = 4  # n_flips > 1 needs random scan
    assert "n_flips" in lab.message.value
    assert type(lab.chain.kernel).__name__ == "MetropolisFlip" and lab.frame()
    assert np.isfinite(m)
    assert "Traceback" not in lab.message.value


def test_isinglab_headless_shows_a_plain_figure(monkeypatch):
    monkeypatch.setenv("EBMLAB_WIDGETS", "0")
    lab = ising_lab()
    assert lab.image.value[:4] == b"\x89PNG"  # the lattice is a static picture
    svg = lab.traces.value  # and so are the traces: SVG, no plotting library involved
    assert svg.count("<svg") == 3 and "T_c = 2.269" in svg
    assert lab.frame() and lab.traces.value != svg


def test_isinglab_traces_draw_the_recorded_values():
    import re

    lab = ising_lab(temperature=2.5, steps_per_frame=2)
    for _ in range(5):
        lab.frame()
    svg = lab.traces.value
    pts = re.search(r'class="ebmlab-trace-m" points="([^"]*)"', svg).group(1).split()
    assert len(pts) == len(lab.trace_m) == 6  # one point per frame, plus the start
    # panel m: y from -1.05 (bottom, pixel 22 + 134) to 1.05 (top, pixel 22)
    ys = np.array([float(p.split(",")[1]) for p in pts])
    expected = 22 + (1.05 - np.array(lab.trace_m)) / 2.1 * 134
    assert np.allclose(ys, expected, atol=0.06)
    assert 'class="ebmlab-now"' in svg and "T_c = 2.269" in svg


def test_ising_app_command(tmp_path, monkeypatch, capsys):
    from ebmlab import cli

    nb = cli.app_notebook("ising", tmp_path)
    assert "el.widgets.IsingLab()" in nb.read_text()
    seen = {}
    monkeypatch.setattr(cli.subprocess, "call", lambda c: seen.setdefault("cmd", c) and 0)
    assert cli.main(["app", "ising", "--port", "9997", "--no-browser"]) == 0
    assert "--port=9997" in seen["cmd"] and "--Voila.ip=127.0.0.1" in seen["cmd"]
    assert cli.main(["app", "ising", "--energy", "ring"]) == 2
    assert "does not apply" in capsys.readouterr().err


def test_isinglab_drops_only_ticks_queued_during_a_frame():
    lab = ising_lab(L=16, interval_ms=1000)
    lab.start()
    assert lab.frame() and lab.frames == 1
    lab.play.value += 1  # queued during that frame: arrives right after it, dropped
    assert lab.frames == 1 and lab.skipped == 1
    lab._last_end -= 0.2  # the next regular tick, 200 ms after a frame that took 800 ms
    lab.play.value += 1
    assert lab.frames == 2
    lab.stop()
