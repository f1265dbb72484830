"""``SamplerLab``: race up to three samplers on one landscape from the same starting points
and seed; watch the chains move, with acceptance, ESS and MMD read-outs and marginals.

Each panel holds one ``el.samplers.Chain`` and every frame calls ``chain.advance(k)``: the
lab has no sampling loop of its own. Chains start from a broad Gaussian ``N(0, 2² I)`` that
knows nothing of the target; clicking the landscape (or ``set_start(x, y)``) restarts every
chain of every panel at that one point.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .. import energies
from .. import samplers as registry
from ..diagnostics import ess, exact_marginals, mmd
from ..energies.base import Energy
from ..samplers import Chain, SamplerDivergence, initial_points, live_params
from ..samplers.driver import INIT_SCALE
from ._plot import COLORS, contour_lines, view_arrays
from .controls import STYLE, control_for, message_html
from .lab import Lab, figure_view, figure_widget

OFF = "(off)"
MAX_SHOWN = 2000  # points drawn per panel (all chains are simulated)
TRAIL_CHAINS, TRAIL_LEN = 12, 12
HISTORY = 200  # frames kept for the live ESS
TRACES = ("landscape", "contours", "chains", "trails", "start", "marginal", "exact")


class _Panel:
    """One sampler: its controls, its ``Chain`` and what the read-outs need."""

    def __init__(self, lab: SamplerLab, index: int, name: str, hyper: dict | None) -> None:
        self.lab, self.index = lab, index
        self.choice = widgets.Dropdown(options=[OFF, *registry.names("continuous")], value=name,
                                       description=f"sampler {index + 1}", style=STYLE,
                                       layout=widgets.Layout(width="260px"))
        self.params = widgets.VBox()
        self.readout = widgets.HTML()
        self.message = widgets.HTML()
        self.box = widgets.VBox([self.choice, self.params, self.readout, self.message],
                                layout=widgets.Layout(width="330px"))
        self.box.add_class(f"ebmlab-panel-{index}")
        self.chain: Chain | None = None
        self.stopped = False
        self.last_mmd: float | None = None
        self.last_ess: tuple | None = None
        self.frames = 0
        self.trail: list[np.ndarray] = []
        self.history: list[torch.Tensor] = []
        self._build(hyper or {})
        self.choice.observe(self._on_choice, names="value")

    # -- controls: the kernel's declared live parameters --------------------------------
    def _build(self, hyper: dict) -> None:
        if self.choice.value == OFF:
            self.params.children = []
            return
        controls = [control_for(p, hyper.get(p.name))
                    for p in live_params(registry.spec(self.choice.value))]
        for c in controls:
            if hasattr(c, "continuous_update"):
                c.continuous_update = False
            c.observe(self._on_param, names="value")
        self.params.children = controls

    def values(self) -> dict[str, Any]:
        return {w.description: w.value for w in self.params.children}

    def make_kernel(self) -> registry.Kernel | None:
        if self.choice.value == OFF:
            return None
        return registry.get(self.choice.value, **self.values())

    def _on_choice(self, _change) -> None:
        self._build({})
        self.restart(keep_positions=True)
        self.lab.redraw()

    def _on_param(self, _change) -> None:
        self.restart(keep_positions=True)
        self.lab.redraw()

    # -- chains -------------------------------------------------------------------------
    @property
    def kernel(self):
        return None if self.chain is None else self.chain.kernel

    def positions(self) -> torch.Tensor:
        """The chains a Trace would record (the T = 1 replica for parallel tempering)."""
        return self.chain.positions

    def restart(self, keep_positions: bool = False) -> None:
        """A new ``Chain`` for the current controls: from the lab's start, or (after a
        parameter change) from where the chains are now."""
        self.message.value = ""
        self.trail, self.history, self.last_mmd, self.frames = [], [], None, 0
        self.last_ess: tuple | None = None
        old = self.chain
        self.chain, self.stopped = None, False
        try:
            kernel = self.make_kernel()
            if kernel is None:
                return
            if keep_positions and old is not None and bool(torch.isfinite(
                    old.positions).all()):
                x0 = old.positions.clone()
            else:
                x0 = self.lab.initial_positions()
            self.chain = Chain(kernel, self.lab.energy, x0,
                               seed=int(self.lab.seed.value) + 7919 * self.index)
        except (ValueError, RuntimeError) as err:
            self.stopped = True
            self.message.value = message_html(str(err))

    def advance(self, n_steps: int) -> None:
        if self.chain is None or self.stopped:
            return
        try:
            self.chain.advance(n_steps)
        except (SamplerDivergence, ValueError, RuntimeError) as err:
            self.stopped = True
            self.message.value = message_html(f"{err} Press Reset to start again.")
            return
        self.frames += 1
        x = self.positions()
        self.trail.append(x[:TRAIL_CHAINS].numpy().copy())
        self.trail = self.trail[-TRAIL_LEN:]
        self.history.append(x[:64].clone())
        self.history = self.history[-HISTORY:]

    @property
    def acceptance(self) -> float:
        """Mean acceptance probability over the steps so far (nan before the first)."""
        if self.chain is None or self.chain.acc_steps == 0:
            return float("nan")
        return float(self.chain.acceptance.mean())


class SamplerLab(Lab):
    """Race up to three samplers side by side on one landscape, same start, same seed.

    Controls are built from each kernel's declared live parameters
    (``el.samplers.live_params``); Play / Pause / Step / Reset come from ``Lab``. Chains
    start from ``N(0, 2² I)`` unless ``start=(x, y)``; clicking the landscape calls
    ``set_start(x, y)``. ``settings()`` returns a short string and
    ``SamplerLab.from_settings(s)`` rebuilds the same lab, seed and start included.
    """

    def __init__(self, energy: Energy | str | None = None,
                 samplers: tuple[str, ...] = ("rwm", "mala", "hmc"),
                 n_chains: int = 500, steps_per_frame: int = 2, seed: int = 0,
                 hyper: list[dict] | None = None, interval_ms: int = 60,
                 start: tuple[float, float] | None = None) -> None:
        if energy is None:
            energy = "ring"
        if isinstance(energy, str):
            energy = energies.get(energy)
        if not isinstance(energy, Energy) or energy.dim != 2:
            raise ValueError("energy must be a 2-D ebmlab Energy or a registered name")
        if not 1 <= len(samplers) <= 3:
            raise ValueError(f"samplers must name 1 to 3 samplers, got {len(samplers)}")
        for name in samplers:
            if name != OFF:
                registry.spec(name)
        super().__init__(interval_ms=interval_ms)
        self.energy = energy
        self.start_point: tuple[float, float] | None = None
        if start is not None:
            self.start_point = self._check_point(*start)
        self.n_chains = widgets.IntSlider(value=n_chains, min=10, max=10_000, step=10,
                                          description="chains", style=STYLE,
                                          continuous_update=False)
        self.steps_per_frame = widgets.IntSlider(value=steps_per_frame, min=1, max=50,
                                                 description="steps / frame", style=STYLE)
        self.seed = widgets.IntText(value=seed, description="seed", style=STYLE,
                                    layout=widgets.Layout(width="200px"))
        self.gaussian_button = widgets.Button(description="Gaussian start", icon="random",
                                              layout=widgets.Layout(width="auto"),
                                              tooltip="start every chain from N(0, 2² I)")
        self.gaussian_button.add_class("ebmlab-gaussian-start")
        self.gaussian_button.on_click(lambda _: self.set_start(None))
        self.start_info = widgets.HTML()
        hyper = hyper or [{} for _ in samplers]
        self.panels = [_Panel(self, i, name, hyper[i] if i < len(hyper) else {})
                       for i, name in enumerate(samplers)]
        self._exact = (energy.sample(1000, seed=12345) if energy.exact_sampler else None)
        # Draw the first frame into a plain Figure and only then wrap it in a FigureWidget:
        # updates made before the widget is displayed are not replayed in the browser.
        self.fig = self._make_figure()
        self.reset()
        self.fig = figure_widget(self.fig)
        if isinstance(self.fig, widgets.Widget):  # not go.FigureWidget: importing it is slow
            for i in range(len(self.panels)):
                self.trace(i, "landscape").on_click(self._on_click)
        self.n_chains.observe(lambda _: self.reset(), names="value")
        self.seed.observe(lambda _: self.reset(), names="value")
        top = widgets.HBox([widgets.VBox([self.n_chains, self.steps_per_frame, self.seed]),
                            widgets.VBox([self.controls,
                                          widgets.HBox([self.gaussian_button,
                                                        self.start_info]),
                                          self.status, self.message])])
        self.children = [top, widgets.HBox([p.box for p in self.panels]),
                         figure_view(self.fig)]
        self.add_class("ebmlab-samplerlab")

    # -- the start ---------------------------------------------------------------------
    @staticmethod
    def _check_point(x: float, y: float) -> tuple[float, float]:
        try:
            p = (float(x), float(y))
        except (TypeError, ValueError):
            raise ValueError(f"start must be two numbers (x, y), got ({x!r}, {y!r})") from None
        if not all(math.isfinite(v) for v in p):
            raise ValueError(f"start must be finite, got {p}")
        return p

    def set_start(self, x: float | None, y: float | None = None) -> None:
        """Restart every chain of every panel at the point ``(x, y)`` (what a click on the
        landscape does); ``set_start(None)`` goes back to the broad Gaussian start."""
        if x is None:
            self.start_point = None
        else:
            try:
                self.start_point = self._check_point(x, y)
            except ValueError as err:
                self.show_message(str(err))
                return
        self.reset()

    def _on_click(self, _trace, points, _state) -> None:
        if points.xs:  # every trace is told about every click; only the clicked one has xs
            self.set_start(points.xs[0], points.ys[0])

    def initial_positions(self) -> torch.Tensor:
        """``(n_chains, 2)``: all at the start point, or ``N(0, 2² I)`` from the seed."""
        n = int(self.n_chains.value)
        dtype = torch.get_default_dtype()
        if self.start_point is not None:
            return torch.tensor([self.start_point], dtype=dtype).expand(n, 2).clone()
        gen = torch.Generator().manual_seed(int(self.seed.value))
        return initial_points(self.energy, n, gen, dtype=dtype)

    # -- figure ------------------------------------------------------------------------
    def trace(self, panel: int, name: str):
        """The plotly trace ``name`` (one of ``TRACES``) of panel ``panel``."""
        return self.fig.data[len(TRACES) * panel + TRACES.index(name)]

    def _make_figure(self) -> go.Figure:
        k = len(self.panels)
        fig = make_subplots(rows=2, cols=k, row_heights=[0.74, 0.26], vertical_spacing=0.08,
                            horizontal_spacing=0.05,
                            subplot_titles=[f"sampler {i + 1}" for i in range(k)] + [""] * k)
        xs, ys, z, log_p, _ = view_arrays(self.energy, "log_density", 1.0, 120)
        cx, cy = contour_lines(xs, ys, log_p)
        box = self.energy.box
        mx, px, _, _ = exact_marginals(self.energy, n=200)
        for i in range(k):
            c = i + 1
            # hoverinfo "none" (not "skip"): the heatmap must receive clicks.
            fig.add_trace(go.Heatmap(x=xs, y=ys, z=z, colorscale="Greys", showscale=False,
                                     hoverinfo="none", zmin=float(z.max()) - 14,
                                     zmax=float(z.max()) + 8), row=1, col=c)
            fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", hoverinfo="skip",
                                     line={"color": "#777", "width": 1}), row=1, col=c)
            # SVG markers, not WebGL: headless and GPU-less browsers render them too.
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"size": 3, "color": COLORS[i], "opacity": 0.7}),
                          row=1, col=c)
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", hoverinfo="skip",
                                     line={"color": "black", "width": 1}), row=1, col=c)
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"symbol": "x", "size": 13, "color": "#D55E00",
                                             "line": {"color": "white", "width": 1.5}}),
                          row=1, col=c)
            fig.add_trace(go.Bar(x=[], y=[], marker={"color": COLORS[i]}, opacity=0.6,
                                 hoverinfo="skip"), row=2, col=c)
            fig.add_trace(go.Scatter(x=mx.numpy(), y=px.numpy(), mode="lines",
                                     line={"color": "black", "width": 1.5}, hoverinfo="skip"),
                          row=2, col=c)
            fig.update_xaxes(range=[box[0], box[1]], row=1, col=c)
            fig.update_yaxes(range=[box[2], box[3]], row=1, col=c,
                             title_text="x₂" if c == 1 else None)
            fig.update_xaxes(range=[box[0], box[1]], row=2, col=c, title_text="x₁")
            fig.update_yaxes(row=2, col=c, title_text="density" if c == 1 else None)
        fig.update_layout(width=320 * k + 60, height=560, showlegend=False, bargap=0,
                          hovermode="closest", margin={"l": 50, "r": 10, "t": 40, "b": 40})
        return fig

    # -- Lab hooks ---------------------------------------------------------------------
    def _reset(self) -> None:
        """Every panel starts again from the same positions (same seed, same start)."""
        for p in self.panels:
            p.chain = None
            p.restart()

    def _advance(self) -> None:
        k = int(self.steps_per_frame.value)
        for p in self.panels:
            p.advance(k)

    def redraw(self) -> None:
        """Draw without stepping (after a control changed); never raises."""
        try:
            self._draw()
        except Exception as err:  # noqa: BLE001 - the panel must keep working
            self.show_message(f"Cannot draw: {err}")

    def _draw(self) -> None:
        box = self.energy.box
        edges = np.linspace(box[0], box[1], 41)
        centers = 0.5 * (edges[1:] + edges[:-1])
        width = edges[1] - edges[0]
        sx, sy = ([self.start_point[0]], [self.start_point[1]]) if self.start_point else ([], [])
        with self.fig.batch_update():
            for i, p in enumerate(self.panels):
                title = self.fig.layout.annotations[i]
                start = self.trace(i, "start")
                start.x, start.y = sx, sy
                if p.chain is None:
                    for name in ("chains", "trails", "marginal"):
                        t = self.trace(i, name)
                        t.x, t.y = [], []
                    title.text = p.choice.value
                    p.readout.value = ""
                    continue
                x = p.positions().numpy()
                shown = x[:MAX_SHOWN]
                chains = self.trace(i, "chains")
                chains.x, chains.y = shown[:, 0], shown[:, 1]
                trails = self.trace(i, "trails")
                trails.x, trails.y = self._trails(p)
                h, _ = np.histogram(x[:, 0], bins=edges)
                bars = self.trace(i, "marginal")
                bars.x, bars.y = centers, h / max(h.sum(), 1) / width
                title.text = f"{type(p.kernel).__name__} (ε = {p.chain.step_size:.3g})"
                p.readout.value = self._readout(p)
        self.start_info.value = self._start_text()

    def _start_text(self) -> str:
        if self.start_point is None:
            where = f"broad Gaussian N(0, {INIT_SCALE:g}² I)"
        else:
            where = f"all chains at ({self.start_point[0]:.2f}, {self.start_point[1]:.2f})"
        return (f"<span class='ebmlab-start'>start: {where}</span> "
                "<span style='color:#555'>— click the landscape to start every chain there"
                "</span>")

    @staticmethod
    def _trails(p: _Panel) -> tuple[np.ndarray, np.ndarray]:
        """The last few positions of a few chains as one polyline, NaN between chains (numpy
        arrays travel as binary buffers; lists with ``None`` are validated item by item)."""
        if len(p.trail) < 2:
            return np.empty(0), np.empty(0)
        t = np.stack(p.trail)  # (L, C, 2)
        t = np.concatenate([t, np.full((1, t.shape[1], 2), np.nan)], 0)  # (L + 1, C, 2)
        xy = t.transpose(1, 0, 2).reshape(-1, 2)
        return xy[:, 0], xy[:, 1]

    def _readout(self, p: _Panel) -> str:
        ch = p.chain
        acc = p.acceptance
        acc_s = "–" if math.isnan(acc) else f"{acc:.2f}"
        cost = (f"gradient evaluations {ch.n_grad}" if ch.kernel.uses_grad
                else f"energy evaluations {ch.n_energy}")
        rows = [f"steps <b class='ebmlab-steps'>{ch.steps}</b>, {cost}",
                f"acceptance <b class='ebmlab-acc'>{acc_s}</b>"]
        if len(p.history) >= 20:
            if p.last_ess is None or p.frames % 5 == 0:  # ~1.5 ms: every 5 frames
                h = torch.stack(p.history)  # (frames, chains, 2)
                p.last_ess = (len(p.history), h.shape[1], float(ess(h[..., :1])[0]))
            n_frames, n_chains, value = p.last_ess
            rows.append(f"ESS (x₁, last {n_frames} frames × {n_chains} chains) {value:.0f}")
        if self._exact is not None and not p.stopped:
            if p.last_mmd is None or p.frames % 10 == 0:  # ~5 ms: every 10 frames
                p.last_mmd = mmd(p.positions(), self._exact, max_points=300)
            rows.append(f"MMD² to exact samples {p.last_mmd:.4f}")
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"

    # -- shareable settings ------------------------------------------------------------
    def settings(self) -> str:
        """A short URL-safe string that ``from_settings`` turns back into this lab."""
        name = getattr(self.energy, "spec_name", None)
        if name is None:
            raise ValueError("settings() needs a registered energy (built with "
                             "el.energies.get)")
        doc = {"e": name, "ep": self.energy.param_values,
               "s": [p.choice.value for p in self.panels],
               "h": [p.values() for p in self.panels],
               "n": int(self.n_chains.value), "k": int(self.steps_per_frame.value),
               "seed": int(self.seed.value),
               "x0": list(self.start_point) if self.start_point is not None else None}
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_settings(cls, settings: str) -> SamplerLab:
        try:
            pad = "=" * (-len(settings) % 4)
            doc = json.loads(base64.urlsafe_b64decode(settings + pad))
            energy = energies.get(doc["e"], **doc["ep"])
            x0 = doc.get("x0")
            return cls(energy, tuple(doc["s"]), n_chains=doc["n"], steps_per_frame=doc["k"],
                       seed=doc["seed"], hyper=doc["h"],
                       start=tuple(x0) if x0 is not None else None)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"settings is not a valid SamplerLab settings string: {err}") \
                from None
