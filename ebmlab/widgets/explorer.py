"""``EnergyExplorer``: pick a landscape, drag its parameters and the temperature, watch the
Boltzmann density, its log Z and the mass of each well update live."""

from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch

from .. import energies
from ..energies.base import Energy
from ._plot import arrows, contour_lines, view_arrays
from .controls import LAYOUT, STYLE, message_html, slider_for
from .lab import figure_view, figure_widget, live_frontend


class EnergyExplorer(widgets.VBox):
    """Landscape dropdown, sliders built from the energy's declared parameters, a log-scale
    temperature slider, view toggles, a plotly heatmap updated in place, an optional 3-D
    surface, and read-outs of log Z (quadrature vs exact) and the mass of each well."""

    def __init__(self, energy: str = "ring", temperature: float = 1.0, n: int = 200) -> None:
        if energy not in energies.names():
            raise ValueError(f"energy must be one of {energies.names()}, got {energy!r}")
        self.n = n
        self.last_redraw_ms = float("nan")
        self.name = widgets.Dropdown(options=energies.names(), value=energy,
                                     description="landscape", style=STYLE, layout=LAYOUT)
        self.temperature = widgets.FloatLogSlider(value=temperature, base=10, min=-1, max=1,
                                                  step=0.02, description="temperature T",
                                                  readout_format=".3g", style=STYLE,
                                                  layout=LAYOUT)
        self.view = widgets.ToggleButtons(options=[("density", "density"),
                                                   ("log-density", "log_density"),
                                                   ("energy", "energy")], value="density",
                                          style={"button_width": "90px"})
        self.contours = widgets.Checkbox(value=True, description="contours (50/90/99 %)",
                                         indent=False)
        self.field = widgets.Checkbox(value=False, description="force field", indent=False)
        self.surface = widgets.Checkbox(value=False, description="3-D surface", indent=False)
        self.params = widgets.VBox()
        self.readout = widgets.HTML()
        self.message = widgets.HTML()
        self.fig = go.Figure(
            data=[go.Heatmap(z=[[0]], colorscale="Viridis", colorbar={"len": 0.8}),
                  go.Scatter(x=[], y=[], mode="lines", line={"color": "white", "width": 1.2},
                             hoverinfo="skip", name="mass contours"),
                  go.Scatter(x=[], y=[], mode="lines", line={"color": "#D55E00", "width": 1.3},
                             hoverinfo="skip", name="force")],
            layout=go.Layout(width=560, height=500, margin={"l": 50, "r": 10, "t": 40, "b": 45},
                             showlegend=False, xaxis={"title": {"text": "x₁"}},
                             yaxis={"title": {"text": "x₂"}}))
        self.fig3d = None  # built when the 3-D surface is first asked for
        self._live = live_frontend()
        self._build_params()
        # First draw into plain Figures, then wrap them: updates made before a FigureWidget is
        # displayed are not replayed in the browser.
        self.redraw()
        self.fig = figure_widget(self.fig, self._live)
        self._surface_box = widgets.Box([], layout=widgets.Layout(display="none"))
        for w in (self.temperature, self.view, self.contours, self.field):
            w.observe(self._on_change, names="value")
        self.surface.observe(self._on_surface, names="value")
        self.name.observe(self._on_name, names="value")
        controls = widgets.VBox([self.name, self.params, self.temperature, self.view,
                                 widgets.HBox([self.contours, self.field, self.surface]),
                                 self.readout, self.message],
                                layout=widgets.Layout(width="370px"))
        super().__init__([widgets.HBox([controls, figure_view(self.fig)]), self._surface_box])
        self.add_class("ebmlab-explorer")

    # -- state ---------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, float]:
        return {w.description: w.value for w in self.params.children}

    def energy(self) -> Energy:
        """The landscape for the current controls (raises ``ValueError`` on a bad value)."""
        return energies.get(self.name.value, **self.values)

    def _build_params(self) -> None:
        spec = energies.spec(self.name.value)
        sliders = [slider_for(p) for p in spec.params]
        for s in sliders:
            s.observe(self._on_change, names="value")
        self.params.children = sliders

    # -- events ----------------------------------------------------------------------------
    def _on_name(self, _change) -> None:
        self._build_params()
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def _on_surface(self, change) -> None:
        if change["new"] and self.fig3d is None:
            fig3d = go.Figure(
                data=[go.Surface(z=[[0]], colorscale="Viridis", showscale=False)],
                layout=go.Layout(width=480, height=460,
                                 margin={"l": 0, "r": 0, "t": 30, "b": 0}))
            self.fig3d = fig3d
            self.redraw()
            self.fig3d = figure_widget(fig3d, self._live)
            self._surface_box.children = [figure_view(self.fig3d)]
        self._surface_box.layout.display = "flex" if change["new"] else "none"
        self.redraw()

    # -- drawing ---------------------------------------------------------------------------
    def redraw(self) -> None:
        """Recompute the grid and update the existing traces; never raises into the UI."""
        start = time.perf_counter()
        try:
            E = self.energy()
            T = float(self.temperature.value)
            xs, ys, z, log_p, log_z = view_arrays(E, self.view.value, T, self.n)
            cx, cy = contour_lines(xs, ys, log_p) if self.contours.value else ([], [])
            ax, ay = arrows(E, T) if self.field.value else ([], [])
            title = {"density": "density p_T(x)", "log_density": "log-density log p_T(x)",
                     "energy": "energy E(x)/T"}[self.view.value]
            with self.fig.batch_update():
                hm = self.fig.data[0]
                hm.x, hm.y, hm.z = xs, ys, z
                hm.colorbar.title.text = title
                self.fig.data[1].x, self.fig.data[1].y = cx, cy
                self.fig.data[2].x, self.fig.data[2].y = ax, ay
                self.fig.layout.title.text = f"{self.name.value}, T = {T:.3g}"
                self.fig.layout.xaxis.range = [E.box[0], E.box[1]]
                self.fig.layout.yaxis.range = [E.box[2], E.box[3]]
            if self.surface.value and self.fig3d is not None:
                with self.fig3d.batch_update():
                    s = self.fig3d.data[0]
                    step = max(1, len(xs) // 80)
                    s.x, s.y, s.z = xs[::step], ys[::step], z[::step, ::step]
                    self.fig3d.layout.title.text = title
            self.readout.value = self._readout(E, T, log_p, log_z, xs, ys)
            self.message.value = ""
        except (ValueError, NotImplementedError, RuntimeError, OverflowError) as err:
            self.message.value = message_html(f"Cannot draw this landscape: {err}")
        self.last_redraw_ms = (time.perf_counter() - start) * 1e3

    def _readout(self, E: Energy, T: float, log_p, log_z: float, xs, ys) -> str:
        rows = [f"<b>log Z</b> (quadrature, {self.n}×{self.n}): {log_z:.4f}"]
        try:
            exact = E.tempered(T).log_z() if T != 1.0 else E.log_z()
            rows.append(f"<b>log Z</b> exact: {exact:.4f} (error {abs(exact - log_z):.1e})")
        except NotImplementedError:
            rows.append("<b>log Z</b> exact: not known in closed form at this T")
        modes = E.modes() if E.dim == 2 else None
        if modes is not None and len(modes) >= 2:
            gx, gy = np.meshgrid(xs, ys)
            pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
            nearest = torch.cdist(pts, modes.double()).argmin(1).numpy()
            p = np.exp(log_p.ravel() - log_p.max())
            mass = np.bincount(nearest, weights=p, minlength=len(modes))
            mass = mass / mass.sum()
            cells = " ".join(f"{m:.2f}" for m in mass)
            rows.append(f"<b>mass per well</b>: <span class='ebmlab-masses'>{cells}</span>")
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"
