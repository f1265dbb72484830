"""``TemperingLab``: parallel tempering live — every replica on its own tempered landscape,
swap acceptance per neighbour pair, round trips, and the cold chain's mass per mode.

One ``el.samplers.Chain`` runs a ``ParallelTempering`` kernel object (wrapping any kernel
object: MALA by default); every frame calls ``chain.advance(k)``.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .. import energies
from .. import samplers as registry
from ..diagnostics import mass_per_mode
from ..energies.base import Energy
from ..samplers import Chain, ParallelTempering, initial_points
from ._plot import view_arrays
from .controls import STYLE, slider_for
from .lab import Lab, figure_view, figure_widget

COLS = 4
SHOWN = 400  # chains drawn per replica
HISTORY = 200  # frames of the T = 1 chain kept for the mass read-out
TRACES = ("landscape", "chains", "start")


def inner_kernels() -> list[str]:
    """Registered kernels that parallel tempering can wrap (everything but itself)."""
    return [n for n in registry.names("continuous") if n != ParallelTempering.name]


class TemperingLab(Lab):
    """Ladder controls (inner kernel, replicas, hottest temperature, step size, chains), Play /
    Pause / Step / Reset from ``Lab``, one panel per replica, and swap / round-trip /
    mode-mass read-outs. Chains start from ``N(0, 2² I)`` unless ``start=(x, y)``; clicking a
    landscape calls ``set_start(x, y)``."""

    def __init__(self, energy: str = "bimodal", n_replicas: int = 6,
                 max_temperature: float = 20.0, step_size: float = 0.2, n_chains: int = 200,
                 seed: int = 0, interval_ms: int = 80, kernel: str = "mala",
                 steps_per_frame: int = 2, start: tuple[float, float] | None = None) -> None:
        if energy not in energies.names():
            raise ValueError(f"energy must be one of {energies.names()}, got {energy!r}")
        if kernel not in inner_kernels():
            raise ValueError(f"kernel must be one of {inner_kernels()}, got {kernel!r}")
        super().__init__(interval_ms=interval_ms)
        spec = {p.name: p for p in ParallelTempering.params}
        self.name = widgets.Dropdown(options=energies.names(), value=energy,
                                     description="landscape", style=STYLE)
        self.kernel = widgets.Dropdown(options=inner_kernels(), value=kernel,
                                       description="kernel", style=STYLE)
        self.n_replicas = slider_for(spec["n_replicas"], n_replicas)
        self.n_replicas.max = 12
        self.max_temperature = slider_for(spec["max_temperature"], max_temperature)
        self.step_size = slider_for(spec["step_size"], step_size)
        for w in (self.n_replicas, self.max_temperature, self.step_size):
            w.continuous_update = False
        self.n_chains = widgets.IntSlider(value=n_chains, min=10, max=2000, step=10,
                                          description="chains", style=STYLE,
                                          continuous_update=False)
        self.steps_per_frame = widgets.IntSlider(value=steps_per_frame, min=1, max=50,
                                                 description="steps / frame", style=STYLE)
        self.seed = seed
        self.start_point = None if start is None else (float(start[0]), float(start[1]))
        self.readout = widgets.HTML()
        self.chain: Chain | None = None
        self.pt: ParallelTempering | None = None
        self.energy: Energy | None = None
        self.fig = None
        self._shape: tuple | None = None  # what the figure was built for
        self.fig_box = widgets.Box()
        for w in (self.name, self.kernel, self.n_replicas, self.max_temperature,
                  self.step_size, self.n_chains):
            w.observe(lambda _: self.reset(), names="value")
        controls = widgets.VBox([self.name, self.kernel, self.n_replicas,
                                 self.max_temperature, self.step_size, self.n_chains,
                                 self.steps_per_frame, self.controls, self.status,
                                 self.readout, self.message])
        self.children = [controls, self.fig_box]
        self.add_class("ebmlab-temperinglab")
        self.reset()

    # -- the start -----------------------------------------------------------------------
    def set_start(self, x: float | None, y: float | None = None) -> None:
        """Restart every chain (every replica) at ``(x, y)``; ``None``: the Gaussian start."""
        self.start_point = None if x is None else (float(x), float(y))
        self.reset()

    def _on_click(self, _trace, points, _state) -> None:
        if points.xs:
            self.set_start(points.xs[0], points.ys[0])

    def initial_positions(self, energy: Energy) -> torch.Tensor:
        n = int(self.n_chains.value)
        if self.start_point is not None:
            return torch.tensor([self.start_point]).expand(n, 2).clone()
        return initial_points(energy, n, torch.Generator().manual_seed(self.seed))

    # -- Lab hooks -----------------------------------------------------------------------
    def _reset(self) -> None:
        """Rebuild the ladder (and the figure if its layout changed); chains start from the
        same seeded positions."""
        energy = energies.get(self.name.value)
        inner = registry.get(self.kernel.value)
        self.pt = ParallelTempering(kernel=inner, step_size=float(self.step_size.value),
                                    n_replicas=int(self.n_replicas.value),
                                    max_temperature=float(self.max_temperature.value))
        self.chain = Chain(self.pt, energy, self.initial_positions(energy), seed=self.seed)
        self.energy = energy
        self.cold_history: list[torch.Tensor] = []
        shape = (self.name.value, self.pt.n_replicas, float(self.max_temperature.value))
        if shape != self._shape:
            self._build_figure()
            self._shape = shape

    def _build_figure(self) -> None:
        fig = self._figure()
        old = self.fig
        self.fig = fig
        self._draw()  # the first frame goes into the plain figure (see figure_widget)
        self.fig = figure_widget(fig)
        if isinstance(self.fig, widgets.Widget):  # not go.FigureWidget: importing it is slow
            for r in range(self.pt.n_replicas):
                self.trace(r, "landscape").on_click(self._on_click)
        self.fig_box.children = [figure_view(self.fig)]
        if isinstance(old, widgets.Widget):
            old.close()

    def _advance(self) -> None:
        self.chain.advance(int(self.steps_per_frame.value))
        self.cold_history.append(self.chain.positions.clone())
        self.cold_history = self.cold_history[-HISTORY:]

    # -- drawing ---------------------------------------------------------------------------
    def trace(self, replica: int, name: str):
        return self.fig.data[len(TRACES) * replica + TRACES.index(name)]

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
                                     hoverinfo="none", zmin=float(z.max()) - 14,
                                     zmax=float(z.max()) + 8), row=row, col=col)
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"size": 3, "color": "#0072B2"}), row=row, col=col)
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"symbol": "x", "size": 11, "color": "#D55E00",
                                             "line": {"color": "white", "width": 1.2}}),
                          row=row, col=col)
            fig.update_xaxes(range=[box[0], box[1]], row=row, col=col)
            fig.update_yaxes(range=[box[2], box[3]], row=row, col=col)
        fig.update_layout(width=COLS * 230 + 40, height=rows * 230 + 40, showlegend=False,
                          hovermode="closest", margin={"l": 30, "r": 10, "t": 40, "b": 20})
        return fig

    def _draw(self) -> None:
        x = self.pt.replicas(self.chain.state).numpy()  # (R, N, 2)
        sx, sy = ([self.start_point[0]], [self.start_point[1]]) if self.start_point else ([], [])
        with self.fig.batch_update():
            for i in range(self.pt.n_replicas):
                tr = self.trace(i, "chains")
                tr.x, tr.y = x[i, :SHOWN, 0], x[i, :SHOWN, 1]
                st = self.trace(i, "start")
                st.x, st.y = sx, sy
        self.readout.value = self._readout()

    def mode_mass(self) -> torch.Tensor | None:
        """Share of the ``T = 1`` chain's recent frames nearest each declared mode, or
        ``None`` (no frames yet, or the energy declares fewer than two modes)."""
        modes = self.energy.modes()
        if modes is None or len(modes) < 2 or not self.cold_history:
            return None
        return mass_per_mode(torch.cat(self.cold_history), modes)

    def _readout(self) -> str:
        ex = self.pt.trace_extras(self.chain.state)
        acc = " ".join(f"{a:.2f}" for a in ex["swap_acceptance"])
        rows = [f"swap acceptance per pair: <span class='ebmlab-swaps'>{acc}</span>",
                f"round trips (all walkers): {ex['round_trips']}"]
        mass = self.mode_mass()
        if mass is not None:
            share = " ".join(f"{float(m):.2f}" for m in mass)
            rows.append(f"T = 1 chain, mass per mode (last {len(self.cold_history)} frames): "
                        f"<span class='ebmlab-mode-mass'>{share}</span>")
            target = self.energy.mode_weights()
            if target is not None:
                rows.append("declared mode weights: "
                            + " ".join(f"{float(w):.2f}" for w in target))
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"

