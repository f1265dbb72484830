"""``TrainingMonitor``: watch an EBM train — loss and energy-gap curves, the learned landscape
with the current negatives over the data — and stop it cleanly, keeping the model."""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..grid import energy_on_grid, make_grid
from ..train import History, TrainingDiverged, fit
from .controls import message_html

SHOWN = 600


class TrainingMonitor(widgets.VBox):
    """Runs ``el.train.fit(model, data, method, steps, **fit_kwargs)`` in a background thread
    (``start()``), redrawing every ``every`` steps; Stop ends training after the current step.
    ``history`` and the trained ``model`` stay available."""

    def __init__(self, model, data: torch.Tensor, method: str = "pcd", steps: int = 2000,
                 every: int = 25, box: tuple[float, float, float, float] = (-4, 4, -4, 4),
                 **fit_kwargs) -> None:
        if data.ndim != 2 or data.shape[1] != 2:
            raise ValueError("TrainingMonitor shows 2-D data: data must have shape (N, 2)")
        self.model, self.data, self.method, self.steps = model, data, method, steps
        self.every, self.box, self.fit_kwargs = max(1, every), box, fit_kwargs
        self.history: History | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_button = widgets.Button(description="Train", icon="play",
                                           button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger")
        self.start_button.add_class("ebmlab-train")
        self.stop_button.add_class("ebmlab-stop")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.status = widgets.HTML()
        self.grid = make_grid(box, 80)
        fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45],
                            subplot_titles=["learned log-density, data and negatives",
                                            "training curves"])
        d = data[:SHOWN].numpy()
        fig.add_trace(go.Heatmap(x=self.grid.xs.numpy(), y=self.grid.ys.numpy(),
                                 z=np.zeros(self.grid.shape), colorscale="Greys",
                                 showscale=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=d[:, 0], y=d[:, 1], mode="markers", name="data",
                                 marker={"size": 3, "color": "#0072B2", "opacity": 0.5}),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="negatives",
                                 marker={"size": 3, "color": "#D55E00"}), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="loss",
                                 line={"color": "#009E73"}), row=1, col=2)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="energy gap",
                                 line={"color": "#CC79A7"}), row=1, col=2)
        fig.update_xaxes(range=[box[0], box[1]], title_text="x₁", row=1, col=1)
        fig.update_yaxes(range=[box[2], box[3]], title_text="x₂", row=1, col=1)
        fig.update_xaxes(title_text="step", row=1, col=2)
        fig.update_layout(width=900, height=430, margin={"l": 40, "r": 10, "t": 40, "b": 40})
        self._draw_landscape(fig)
        self.fig = go.FigureWidget(fig)
        super().__init__([widgets.HBox([self.start_button, self.stop_button, self.status]),
                          self.fig])
        self.add_class("ebmlab-trainingmonitor")

    # -- control ---------------------------------------------------------------------------
    def start(self, background: bool = True) -> None:
        """Train (in a thread unless ``background=False``); a second call while running is
        ignored."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        if background:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:
            self._run()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- work -----------------------------------------------------------------------------
    def _run(self) -> None:
        torch.set_num_threads(1)
        self.error = None
        start = time.perf_counter()

        def callback(step, model, history, info):
            self.history = history
            if step % self.every == 0 or step == self.steps:
                self._update(history, info)
            return not self._stop.is_set()

        try:
            self.history = fit(self.model, self.data, method=self.method, steps=self.steps,
                               callbacks=(callback,), **self.fit_kwargs)
            state = "stopped" if self._stop.is_set() else "finished"
            n = len(self.history.step)
            self.status.value = (f"<span class='ebmlab-status'>{state} after {n} steps "
                                 f"({time.perf_counter() - start:.1f} s); the model is kept"
                                 "</span>")
        except (TrainingDiverged, ValueError, RuntimeError) as err:
            self.error = str(err)
            self.status.value = message_html(str(err))

    def _draw_landscape(self, fig) -> None:
        with torch.no_grad():
            e = energy_on_grid(self.model, self.grid)
        log_p = -e - torch.logsumexp(-e.reshape(-1), 0)
        z = log_p.numpy()
        fig.data[0].z = np.maximum(z, z.max() - 12.0)

    def _update(self, history: History, info: dict) -> None:
        with self.fig.batch_update():
            self._draw_landscape(self.fig)
            neg = info.get("negatives")
            if neg is not None:
                n = neg[:SHOWN].detach().numpy()
                self.fig.data[2].x, self.fig.data[2].y = n[:, 0], n[:, 1]
            self.fig.data[3].x, self.fig.data[3].y = history.step, history.loss
            gap = history.info.get("energy_gap")
            if gap is not None:
                self.fig.data[4].x, self.fig.data[4].y = history.step, gap
        self.status.value = (f"<span class='ebmlab-status'>step {history.step[-1]} of "
                             f"{self.steps}, loss {history.loss[-1]:.4f}</span>")
