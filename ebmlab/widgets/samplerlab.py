"""``SamplerLab``: race up to three samplers on one landscape from the same starting points
and seed; watch the chains move, with acceptance, ESS and MMD read-outs and marginals."""

from __future__ import annotations

import base64
import json
import time
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
from ..samplers import SamplerDivergence, initial_points
from ..samplers.base import _scalar
from ._plot import COLORS, contour_lines, view_arrays
from .controls import STYLE, message_html, slider_for

OFF = "(off)"
LIVE_PARAMS = ("step_size", "n_leapfrog", "jitter", "friction", "splitting", "n_replicas",
               "max_temperature")
MAX_SHOWN = 2000  # points drawn per panel (all chains are simulated)
TRAIL_CHAINS, TRAIL_LEN = 12, 12
HISTORY = 200  # frames kept for the live ESS


class _Panel:
    """One sampler's controls and live state."""

    def __init__(self, lab: SamplerLab, index: int, name: str, hyper: dict | None) -> None:
        self.lab, self.index = lab, index
        self.choice = widgets.Dropdown(options=[OFF, *registry.names()], value=name,
                                       description=f"sampler {index + 1}", style=STYLE,
                                       layout=widgets.Layout(width="260px"))
        self.params = widgets.VBox()
        self.readout = widgets.HTML()
        self.message = widgets.HTML()
        self.box = widgets.VBox([self.choice, self.params, self.readout, self.message],
                                layout=widgets.Layout(width="330px"))
        self.box.add_class(f"ebmlab-panel-{index}")
        self.sampler = None
        self.state = None
        self.stopped = False
        self._build(hyper or {})
        self.choice.observe(self._on_choice, names="value")

    # controls
    def _build(self, hyper: dict) -> None:
        if self.choice.value == OFF:
            self.params.children = []
            return
        spec = registry.spec(self.choice.value)
        sliders = [slider_for(p, hyper.get(p.name)) for p in spec.params if p.name in LIVE_PARAMS]
        for s in sliders:
            s.continuous_update = False
            s.observe(self._on_param, names="value")
        self.params.children = sliders

    def hyper(self) -> dict[str, Any]:
        h = {w.description: w.value for w in self.params.children}
        if "adapt" in {p.name for p in registry.spec(self.choice.value).params}:
            h["adapt"] = 0  # live chains keep the step size you set
        return h

    def make_sampler(self):
        return None if self.choice.value == OFF else registry.get(self.choice.value,
                                                                  **self.hyper())

    def _on_choice(self, _change) -> None:
        self._build({})
        self.restart(keep_positions=True)

    def _on_param(self, _change) -> None:
        self.restart(keep_positions=True)

    # state
    def restart(self, keep_positions: bool = False) -> None:
        """(Re)initialise the chains; ``keep_positions`` continues from where they are."""
        self.message.value = ""
        self.stopped = False
        self.trail: list[np.ndarray] = []
        self.history: list[torch.Tensor] = []
        self.acc_sum, self.n_frames = 0.0, 0
        try:
            self.sampler = self.make_sampler()
            if self.sampler is None:
                self.state = None
                return
            x0 = (self.positions() if keep_positions and self.state is not None
                  else self.lab.initial_positions())
            gen = torch.Generator().manual_seed(self.lab.seed.value + 7919 * self.index)
            self.state = self.sampler.init(self.lab.energy, x0, gen)
        except (ValueError, RuntimeError) as err:
            self.state, self.stopped = None, True
            self.message.value = message_html(str(err))

    def positions(self) -> torch.Tensor:
        """The chains a Trace would record (the T = 1 replica for parallel tempering)."""
        return self.sampler.view(self.state)[0]

    def advance(self, n_steps: int) -> None:
        if self.state is None or self.stopped:
            return
        try:
            for _ in range(n_steps):
                self.state = self.sampler.step(self.lab.energy, self.state)
                if not bool(torch.isfinite(self.state.energy).all()):
                    bad = int((~torch.isfinite(self.state.energy)).sum())
                    raise SamplerDivergence(self.sampler.divergence_message(
                        self.n_frames, bad, self.state.x.shape[0], _scalar(self.state.step_size)))
                self.acc_sum += float(self.sampler.view(self.state)[2].mean())
        except (SamplerDivergence, RuntimeError, ValueError) as err:
            self.stopped = True
            self.message.value = message_html(f"{err} Press Reset to start again.")
            return
        self.n_frames += 1
        x = self.positions()
        self.trail.append(x[:TRAIL_CHAINS].numpy().copy())
        self.trail = self.trail[-TRAIL_LEN:]
        self.history.append(x[:64].clone())
        self.history = self.history[-HISTORY:]


class SamplerLab(widgets.VBox):
    """Race up to three samplers side by side on one landscape, same start, same seed.

    Controls are built from the sampler registry; Play / Pause / Step / Reset drive the
    chains (a ``Play`` widget ticks in the browser); ``settings()`` returns a short string and
    ``SamplerLab.from_settings(s)`` rebuilds the same lab, seed included."""

    def __init__(self, energy: Energy | str | None = None,
                 samplers: tuple[str, ...] = ("rwm", "mala", "hmc"),
                 n_chains: int = 500, steps_per_frame: int = 2, seed: int = 0,
                 hyper: list[dict] | None = None, interval_ms: int = 60) -> None:
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
        self.energy = energy
        self.last_frame_ms = float("nan")
        self.n_chains = widgets.IntSlider(value=n_chains, min=10, max=10_000, step=10,
                                          description="chains", style=STYLE,
                                          continuous_update=False)
        self.steps_per_frame = widgets.IntSlider(value=steps_per_frame, min=1, max=50,
                                                 description="steps / frame", style=STYLE)
        self.seed = widgets.IntText(value=seed, description="seed", style=STYLE,
                                    layout=widgets.Layout(width="200px"))
        self.play = widgets.Play(value=0, min=0, max=10**9, step=1, interval=interval_ms,
                                 show_repeat=False, layout=widgets.Layout(display="none"))
        self.play_button = widgets.Button(description="Play", icon="play",
                                          button_style="success")
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.step_button = widgets.Button(description="Step", icon="step-forward")
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           button_style="warning")
        for b, cls in ((self.play_button, "play"), (self.pause_button, "pause"),
                       (self.step_button, "step"), (self.reset_button, "reset")):
            b.add_class(f"ebmlab-{cls}")
        self.status = widgets.HTML()
        hyper = hyper or [{} for _ in samplers]
        self.panels = [_Panel(self, i, name, hyper[i] if i < len(hyper) else {})
                       for i, name in enumerate(samplers)]
        self._exact = self._exact_samples()
        # Draw the first frame into a plain Figure and only then wrap it in a FigureWidget:
        # updates made before the widget is displayed are not replayed in the browser.
        self.fig = self._make_figure()
        for p in self.panels:
            p.restart()
        self.draw()
        self.fig = go.FigureWidget(self.fig)
        self.play_button.on_click(lambda _: self.start())
        self.pause_button.on_click(lambda _: self.stop())
        self.step_button.on_click(lambda _: self.frame())
        self.reset_button.on_click(lambda _: self.reset())
        self.play.observe(lambda _: self.frame(), names="value")
        self.n_chains.observe(lambda _: self.reset(), names="value")
        self.seed.observe(lambda _: self.reset(), names="value")
        buttons = widgets.HBox([self.play_button, self.pause_button, self.step_button,
                                self.reset_button, self.play])
        top = widgets.HBox([widgets.VBox([self.n_chains, self.steps_per_frame, self.seed]),
                            widgets.VBox([buttons, self.status])])
        super().__init__([top, widgets.HBox([p.box for p in self.panels]), self.fig])
        self.add_class("ebmlab-samplerlab")

    # -- setup ---------------------------------------------------------------------------
    def _exact_samples(self):
        try:
            return self.energy.sample(1000, seed=12345)
        except NotImplementedError:
            return None

    def initial_positions(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(self.seed.value))
        return initial_points(self.energy, int(self.n_chains.value), gen)

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
            fig.add_trace(go.Heatmap(x=xs, y=ys, z=z, colorscale="Greys",
                                     showscale=False, hoverinfo="skip",
                                     zmin=float(z.max()) - 14, zmax=float(z.max()) + 8),
                          row=1, col=c)
            fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", hoverinfo="skip",
                                     line={"color": "#777", "width": 1}), row=1, col=c)
            # SVG markers, not WebGL: headless and GPU-less browsers render them too.
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip",
                                     marker={"size": 3, "color": COLORS[i], "opacity": 0.7}),
                          row=1, col=c)
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", hoverinfo="skip",
                                     line={"color": "black", "width": 1}), row=1, col=c)
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
                          margin={"l": 50, "r": 10, "t": 40, "b": 40})
        return fig

    # -- actions ---------------------------------------------------------------------------
    def start(self) -> None:
        self.play.playing = True

    def stop(self) -> None:
        self.play.playing = False

    def reset(self) -> None:
        """Every panel starts again from the same positions (same seed)."""
        for p in self.panels:
            p.state = None
            p.restart()
        self.draw()

    def frame(self) -> None:
        """Advance every sampler by ``steps_per_frame`` steps and redraw (never raises)."""
        start = time.perf_counter()
        for p in self.panels:
            p.advance(int(self.steps_per_frame.value))
        self.draw()
        self.last_frame_ms = (time.perf_counter() - start) * 1e3
        self.status.value = (f"<span class='ebmlab-status'>frame {self.last_frame_ms:.0f} ms"
                             f"</span>")

    def draw(self) -> None:
        box = self.energy.box
        edges = np.linspace(box[0], box[1], 41)
        centers = 0.5 * (edges[1:] + edges[:-1])
        width = edges[1] - edges[0]
        with self.fig.batch_update():
            for i, p in enumerate(self.panels):
                base = 6 * i
                title = self.fig.layout.annotations[i]
                if p.state is None:
                    self.fig.data[base + 2].x, self.fig.data[base + 2].y = [], []
                    self.fig.data[base + 3].x, self.fig.data[base + 3].y = [], []
                    self.fig.data[base + 4].x, self.fig.data[base + 4].y = [], []
                    title.text = p.choice.value
                    p.readout.value = ""
                    continue
                x = p.positions().numpy()
                shown = x[:MAX_SHOWN]
                self.fig.data[base + 2].x, self.fig.data[base + 2].y = shown[:, 0], shown[:, 1]
                tx, ty = self._trails(p)
                self.fig.data[base + 3].x, self.fig.data[base + 3].y = tx, ty
                h, _ = np.histogram(x[:, 0], bins=edges)
                self.fig.data[base + 4].x = centers
                self.fig.data[base + 4].y = h / max(h.sum(), 1) / width
                eps = p.state.step_size
                eps = float(eps.reshape(-1)[0]) if isinstance(eps, torch.Tensor) else eps
                title.text = f"{type(p.sampler).__name__} (ε = {eps:.3g})"
                p.readout.value = self._readout(p)

    @staticmethod
    def _trails(p: _Panel) -> tuple[list, list]:
        if len(p.trail) < 2:
            return [], []
        t = np.stack(p.trail)  # (L, C, 2)
        tx: list = []
        ty: list = []
        for c in range(t.shape[1]):
            tx += list(t[:, c, 0]) + [None]
            ty += list(t[:, c, 1]) + [None]
        return tx, ty

    def _readout(self, p: _Panel) -> str:
        steps = p.n_frames * int(self.steps_per_frame.value)
        acc = f"{p.acc_sum / steps:.2f}" if steps else "–"
        rows = [f"steps {steps}", f"acceptance <b class='ebmlab-acc'>{acc}</b>"]
        if len(p.history) >= 20:
            h = torch.stack(p.history)  # (frames, chains, 2)
            rows.append(f"ESS (x₁, last {len(p.history)} frames × {h.shape[1]} chains) "
                        f"{float(ess(h[..., :1])[0]):.0f}")
        if self._exact is not None and (p.n_frames % 10 == 0 or not hasattr(p, "last_mmd")):
            p.last_mmd = mmd(p.positions(), self._exact, max_points=300)  # ~5 ms, every 10 frames
        if self._exact is not None and hasattr(p, "last_mmd"):
            rows.append(f"MMD² to exact samples {p.last_mmd:.4f}")
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"

    # -- shareable settings ------------------------------------------------------------------
    def settings(self) -> str:
        """A short URL-safe string that ``from_settings`` turns back into this lab."""
        name = getattr(self.energy, "spec_name", None)
        if name is None:
            raise ValueError("settings() needs a registered energy (built with "
                             "el.energies.get)")
        doc = {"e": name, "ep": self.energy.param_values,
               "s": [p.choice.value for p in self.panels],
               "h": [{w.description: w.value for w in p.params.children} for p in self.panels],
               "n": int(self.n_chains.value), "k": int(self.steps_per_frame.value),
               "seed": int(self.seed.value)}
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_settings(cls, settings: str) -> SamplerLab:
        try:
            pad = "=" * (-len(settings) % 4)
            doc = json.loads(base64.urlsafe_b64decode(settings + pad))
            energy = energies.get(doc["e"], **doc["ep"])
            return cls(energy, tuple(doc["s"]), n_chains=doc["n"], steps_per_frame=doc["k"],
                       seed=doc["seed"], hyper=doc["h"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"settings is not a valid SamplerLab settings string: {err}") \
                from None
