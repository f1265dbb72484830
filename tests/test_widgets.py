"""Widgets, driven from Python: controls change the figure in place, bad values become
messages, SamplerLab moves chains, survives divergence and round-trips its settings."""

from __future__ import annotations

import numpy as np
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


def test_samplerlab_moves_chains_and_reports():
    lab = SamplerLab("ring", n_chains=200)
    start = [p.state.x.clone() for p in lab.panels]
    for _ in range(25):
        lab.frame()
    for p, x0 in zip(lab.panels, start):
        assert not torch.equal(p.state.x, x0)
        assert "acceptance" in p.readout.value and "ESS" in p.readout.value
        assert "MMD" in p.readout.value
    shown = np.asarray(lab.fig.data[2].x, dtype=float)
    assert np.allclose(shown, lab.panels[0].state.x[:, 0].numpy())


def test_samplerlab_same_start_for_every_panel_and_reset():
    lab = SamplerLab("banana", n_chains=50, seed=3)
    assert all(torch.equal(lab.panels[0].state.x, p.state.x) for p in lab.panels)
    x0 = lab.panels[0].state.x.clone()
    lab.frame()
    lab.reset()
    assert torch.equal(lab.panels[0].state.x, x0)


def test_samplerlab_divergence_is_a_message_and_reset_recovers():
    lab = SamplerLab("double_well", ("ula", "mala"), n_chains=50)
    lab.panels[0].params.children[0].value = 2.0  # ULA step far too large here
    for _ in range(5):
        lab.frame()  # never raises
    assert lab.panels[0].stopped and "diverged" in lab.panels[0].message.value
    assert not lab.panels[1].stopped  # the other sampler keeps running
    lab.panels[0].params.children[0].value = 0.01
    lab.reset()
    lab.frame()
    assert not lab.panels[0].stopped and lab.panels[0].message.value == ""


def test_samplerlab_settings_round_trip():
    lab = SamplerLab(el.energies.get("banana", curvature=0.5), ("mala", "hmc"), n_chains=80,
                     steps_per_frame=3, seed=9)
    lab.panels[1].params.children[0].value = 0.2
    s = lab.settings()
    assert isinstance(s, str) and len(s) < 400
    other = SamplerLab.from_settings(s)
    assert other.settings() == s
    assert other.energy.param_values["curvature"] == 0.5
    assert torch.equal(other.panels[0].state.x, lab.panels[0].state.x)
    for _ in range(3):
        lab.frame()
        other.frame()
    assert torch.equal(other.panels[1].state.x, lab.panels[1].state.x)
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
    assert len(lab.fig.data) == 2 * 6  # a landscape and the chains for every replica
    x0 = np.asarray(lab.fig.data[1].x, dtype=float).copy()
    for _ in range(150):
        lab.frame()
    assert not np.allclose(np.asarray(lab.fig.data[1].x, dtype=float), x0)
    assert "swap acceptance" in lab.readout.value and "share per mode" in lab.readout.value
    share = float(lab.readout.value.split("frames): ")[1].split()[0])
    # Chains start spread over both modes, so the cold chain's share of the left mode is its
    # stationary 0.7; 0.1 is > 3 SE for 100 chains whose frames are strongly correlated.
    assert abs(share - 0.7) < 0.1
    lab.n_replicas.value = 4  # rebuilds the ladder and the figure
    assert len(lab.fig.data) == 8
    lab.step_size.value = 2.0
    for _ in range(5):
        lab.frame()  # never raises
    assert "Traceback" not in lab.message.value


def test_training_monitor_updates_and_stops_cleanly():
    import time as _time

    from ebmlab.widgets import TrainingMonitor

    torch.manual_seed(0)
    model = el.energies.MLPEnergy(2, 32, 2)
    data = el.data.toy("8gaussians", 2000, seed=0)
    mon = TrainingMonitor(model, data, method="pcd", steps=20, every=5, batch_size=64, k=5)
    z0 = np.asarray(mon.fig.data[0].z, dtype=float).copy()
    mon.start(background=False)
    assert len(mon.history.step) == 20 and "finished" in mon.status.value
    assert not np.allclose(np.asarray(mon.fig.data[0].z, dtype=float), z0)
    assert len(mon.fig.data[3].x) == 20 and len(mon.fig.data[2].x) > 0
    # In the background, Stop ends training after the current step and keeps the model.
    mon2 = TrainingMonitor(model, data, method="pcd", steps=100_000, every=5, batch_size=64,
                           k=5)
    mon2.start()
    _time.sleep(1.0)
    mon2.stop()
    mon2.join(timeout=30)
    assert not mon2.running and "stopped" in mon2.status.value
    assert 0 < len(mon2.history.step) < 100_000
    with pytest.raises(ValueError, match="2-D"):
        TrainingMonitor(model, torch.zeros(10, 3))
