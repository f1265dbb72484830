"""``TemperingLab``: parallel tempering live — every replica on its own tempered landscape,
swap acceptance per neighbour pair, round trips, and the cold chain's mass per mode."""

from __future__ import annotations

import math
import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .. import energies
from ..energies.base import Energy
from ..samplers import ParallelTempering, initial_points
from ._plot import centers_of, view_arrays
from .controls import STYLE, message_html, slider_for

COLS = 4
SHOWN = 400  # chains drawn per replica


class TemperingLab(widgets.VBox):
    """Ladder controls (replicas, hottest temperature, step size, chains), Play / Pause /
    Step / Reset, one panel per replica, and swap / round-trip / mode-mass read-outs."""

    def __init__(self, energy: str = "bimodal", n_replicas: int = 6,
                 max_temperature: float = 20.0, step_size: float = 0.2, n_chains: int = 200,
                 seed: int = 0, interval_ms: int = 80) -> None:
        if energy not in energies.names():
            raise ValueError(f"energy must be one of {energies.names()}, got {energy!r}")
        spec = {p.name: p for p in ParallelTempering.params}
        self.name = widgets.Dropdown(options=energies.names(), value=energy,
                                     description="landscape", style=STYLE)
        self.n_replicas = slider_for(spec["n_replicas"], n_replicas)
        self.n_replicas.max = 12
        self.max_temperature = slider_for(spec["max_temperature"], max_temperature)
        self.step_size = slider_for(spec["step_size"], step_size)
        for w in (self.n_replicas, self.max_temperature, self.step_size):
            w.continuous_update = False
        self.n_chains = widgets.IntSlider(value=n_chains, min=10, max=2000, step=10,
                                          description="chains", style=STYLE,
                                          continuous_update=False)
        self.seed = seed
        self.play = widgets.Play(value=0, min=0, max=10**9, interval=interval_ms,
                                 layout=widgets.Layout(display="none"))
        buttons = []
        for label, icon, cls, fn in (("Play", "play", "play", self.start),
                                     ("Pause", "pause", "pause", self.stop),
                                     ("Step", "step-forward", "step", self.frame),
                                     ("Reset", "refresh", "reset", self.reset)):
            b = widgets.Button(description=label, icon=icon)
            b.add_class(f"ebmlab-{cls}")
            b.on_click(lambda _, f=fn: f())
            buttons.append(b)
        self.readout = widgets.HTML()
        self.message = widgets.HTML()
        self.play.observe(lambda _: self.frame(), names="value")
        for w in (self.name, self.n_replicas, self.max_temperature, self.step_size,
                  self.n_chains):
            w.observe(lambda _: self.reset(), names="value")
        self.last_frame_ms = float("nan")
        self.fig_box = widgets.Box()
        controls = widgets.VBox([self.name, self.n_replicas, self.max_temperature,
                                 self.step_size, self.n_chains,
                                 widgets.HBox([*buttons, self.play]), self.readout,
                                 self.message])
        super().__init__([controls, self.fig_box])
        self.add_class("ebmlab-temperinglab")
        self.reset()

    # -- actions ---------------------------------------------------------------------------
    def start(self) -> None:
        self.play.playing = True

    def stop(self) -> None:
        self.play.playing = False

    def reset(self) -> None:
        """Rebuild the ladder and the figure; chains start from the same seeded positions."""
        self.message.value = ""
        try:
            self.energy: Energy = energies.get(self.name.value)
            self.pt = ParallelTempering(step_size=float(self.step_size.value),
                                        n_replicas=int(self.n_replicas.value),
                                        max_temperature=float(self.max_temperature.value))
            gen = torch.Generator().manual_seed(self.seed)
            x0 = initial_points(self.energy, int(self.n_chains.value), gen)
            self.state = self.pt.init(self.energy, x0, gen)
            self.cold_history: list[np.ndarray] = []
            fig = self._figure()
            self._draw(fig)
            self.fig = go.FigureWidget(fig)  # first frame drawn before wrapping (see explorer)
            self.fig_box.children = [self.fig]
        except (ValueError, RuntimeError) as err:
            self.state = None
            self.message.value = message_html(str(err))

    def frame(self, n_steps: int = 2) -> None:
        if self.state is None:
            return
        start = time.perf_counter()
        try:
            for _ in range(n_steps):
                self.state = self.pt.step(self.energy, self.state)
            if not bool(torch.isfinite(self.state.x).all()):
                raise RuntimeError("non-finite states: step_size too large for this energy")
        except (RuntimeError, ValueError) as err:
            self.stop()
            self.state = None
            self.message.value = message_html(f"{err}. Press Reset to start again.")
            return
        self.cold_history.append(self.state.x[: self.state.extra["n"]].numpy().copy())
        self.cold_history = self.cold_history[-200:]
        with self.fig.batch_update():
            self._draw(self.fig)
        self.last_frame_ms = (time.perf_counter() - start) * 1e3

    # -- drawing ---------------------------------------------------------------------------
    def _figure(self) -> go.Figure:
        r = self.pt.n_replicas
        rows = math.ceil(r / COLS)
        temps = self.pt.temperatures.tolist()
        fig = make_subplots(rows=rows, cols=COLS, horizontal_spacing=0.04,
                            vertical_spacing=0.12,
                            subplot_titles=[f"T = {t:.3g}" for t in temps])
        box = self.energy.box
        for i, t in enumerate(temps):
            row, col = i // COLS + 1, i % COLS + 1
            xs, ys, z, _, _ = view_arrays(self.energy, "log_density", t, 80)
            fig.add_trace(go.Heatmap(x=xs, y=ys, z=z, colorscale="Greys", showscale=False,
                                     hoverinfo="skip", zmin=float(z.max()) - 14,
                                     zmax=float(z.max()) + 8), row=row, col=col)
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"size": 3, "color": "#0072B2"}), row=row, col=col)
            fig.update_xaxes(range=[box[0], box[1]], row=row, col=col)
            fig.update_yaxes(range=[box[2], box[3]], row=row, col=col)
        fig.update_layout(width=COLS * 230 + 40, height=rows * 230 + 40, showlegend=False,
                          margin={"l": 30, "r": 10, "t": 40, "b": 20})
        return fig

    def _draw(self, fig) -> None:
        r, n = self.pt.n_replicas, self.state.extra["n"]
        x = self.state.x.view(r, n, -1).numpy()
        for i in range(r):
            tr = fig.data[2 * i + 1]
            tr.x, tr.y = x[i, :SHOWN, 0], x[i, :SHOWN, 1]
        self.readout.value = self._readout()

    def _readout(self) -> str:
        ex = self.pt.trace_extras(self.state)
        acc = " ".join(f"{a:.2f}" for a in ex["swap_acceptance"])
        rows = [f"swap acceptance per pair: <span class='ebmlab-swaps'>{acc}</span>",
                f"round trips (all walkers): {ex['round_trips']}"]
        centers = centers_of(self.energy)
        if centers is not None and self.cold_history:
            pts = torch.from_numpy(np.concatenate(self.cold_history)).double()
            counts = torch.bincount(torch.cdist(pts, centers).argmin(1),
                                    minlength=len(centers)).double()
            share = " ".join(f"{float(c):.2f}" for c in counts / counts.sum())
            rows.append(f"T = 1 chain, share per mode (last {len(self.cold_history)} frames): "
                        f"{share}")
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"
