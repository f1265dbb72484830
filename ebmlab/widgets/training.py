"""``TrainingMonitor``: watch an EBM train — loss and energy-gap curves, the learned landscape
with the current negatives over the data — and stop it cleanly, keeping the model.

Training runs ``el.train.fit`` in a background thread; the ``Lab`` frame loop (ticks while
playing) draws the latest snapshot the thread left, so the figure is only touched from the
frame loop. The controls map onto ``Lab``'s: **Train** (Play) starts or continues training in
the background, **Stop** (Pause) ends it after the current step and keeps the model, **Step**
trains ``every`` steps in the foreground, **Reset** restores the initial weights.
"""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..grid import energy_on_grid, make_grid
from ..train import History, fit
from ..train.fit import make_objective
from .lab import Lab, figure_view, figure_widget

SHOWN = 600
FIT_KEYS = ("batch_size", "optimizer", "lr")  # fit's own options; the rest go to the method


class TrainingMonitor(Lab):
    """Runs ``el.train.fit(model, data, method, steps, **fit_kwargs)`` in a background thread
    (``start()``), snapshotting every ``every`` steps. Stopping and starting again continues
    from the current model with the same objective (a PCD buffer persists; the optimiser's
    running averages restart). ``history`` (all steps so far) and the trained ``model`` stay
    available."""

    def __init__(self, model, data: torch.Tensor, method: str = "pcd", steps: int = 2000,
                 every: int = 25, box: tuple[float, float, float, float] = (-4, 4, -4, 4),
                 interval_ms: int = 250, **fit_kwargs) -> None:
        if data.ndim != 2 or data.shape[1] != 2:
            raise ValueError("TrainingMonitor shows 2-D data: data must have shape (N, 2)")
        super().__init__(interval_ms=interval_ms, labels={"play": "Train", "pause": "Stop"})
        self.play_button.add_class("ebmlab-train")
        self.pause_button.add_class("ebmlab-stop")
        self.start_button, self.stop_button = self.play_button, self.pause_button
        self.model, self.data, self.method, self.steps = model, data, method, int(steps)
        self.every, self.box = max(1, int(every)), box
        self.seed = int(fit_kwargs.pop("seed", 0) or 0)
        self.fit_args = {k: fit_kwargs.pop(k) for k in FIT_KEYS if k in fit_kwargs}
        self.method_kwargs = fit_kwargs
        make_objective(method, **fit_kwargs)  # bad method / options fail here, before work
        self._initial = copy.deepcopy(model.state_dict())
        self.history = History()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snap_lock = threading.Lock()
        self._snap: dict | None = None
        self._state_text = ""
        self._training = False
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
        self.fig = fig
        self.reset()
        self.fig = figure_widget(fig)
        self.children = [self.controls, self.status, self.message, figure_view(self.fig)]
        self.add_class("ebmlab-trainingmonitor")

    # -- control ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def steps_done(self) -> int:
        return self.history.step[-1] if self.history.step else 0

    def start(self, background: bool = True) -> None:
        """Train up to ``steps`` in total (another ``steps`` if already there), in a thread
        unless ``background=False``; a call while training runs is ignored."""
        if self.running or not self.ready:
            return
        if self.steps_done >= self._target:
            self._target += self.steps
        self._stop.clear()
        n = self._target - self.steps_done
        if background:
            self._thread = threading.Thread(target=self._train, args=(n,), daemon=True)
            self._thread.start()
            super().start()  # ticks redraw while the thread trains
        else:
            self._train(n)

    def stop(self) -> None:
        """End training after the current step (the model keeps its weights)."""
        self._stop.set()
        super().stop()

    def step(self) -> bool:
        """Train ``every`` steps in the foreground and draw (ignored while training runs)."""
        if self.running or not self.ready:
            return False
        self._stop.clear()
        self._target = max(self._target, self.steps_done + self.every)
        self._train(self.every)
        return self.error is None

    def reset(self) -> bool:
        """Stop training (waiting for the current step), restore the initial weights."""
        if self.running:
            self._stop.set()
            self.join(timeout=60)
        return super().reset()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- work -------------------------------------------------------------------------------
    def _train(self, n_steps: int) -> None:
        torch.set_num_threads(1)
        self.error = None
        offset = self.steps_done
        t0 = self.history.wall_time[-1] if self.history.wall_time else 0.0
        start = time.perf_counter()

        def callback(step, model, history, info):
            done = offset + step
            self.history.record(done, history.loss[-1], info, t0 + history.wall_time[-1])
            if step % self.every == 0 or step == n_steps:
                self._snapshot(info)
            return not self._stop.is_set()

        self._training = True
        try:
            fit(self.model, self.data, method=self.method, steps=n_steps,
                seed=self.seed + offset, callbacks=(callback,), objective=self._objective,
                **self.fit_args)
            state = "stopped" if self._stop.is_set() else "finished"
            self._state_text = (f"<span class='ebmlab-status'>{state} after "
                                f"{self.steps_done} steps ({time.perf_counter() - start:.1f} "
                                "s); the model is kept</span>")
        except Exception as err:  # noqa: BLE001 - a thread must report, never die silently
            self.error = str(err)
            self.show_message(str(err))
        finally:
            self._training = False
        self._snapshot(None)
        with self._lock:  # the final picture, whatever the frame loop was doing
            self._draw()
        self._status()
        super().stop()

    def _snapshot(self, info: dict | None) -> None:
        """What the next frame draws: computed here (the training thread), drawn there."""
        with torch.no_grad():
            e = energy_on_grid(self.model, self.grid)
        log_p = -e - torch.logsumexp(-e.reshape(-1), 0)
        z = log_p.numpy()
        snap = {"z": np.maximum(z, z.max() - 12.0),
                "step": list(self.history.step), "loss": list(self.history.loss),
                "gap": list(self.history.info.get("energy_gap", []))}
        neg = None if info is None else info.get("negatives")
        if neg is not None:
            snap["negatives"] = neg[:SHOWN].detach().numpy().copy()
        with self._snap_lock:
            if "negatives" not in snap and self._snap is not None:
                snap["negatives"] = self._snap.get("negatives")
            self._snap = snap

    # -- Lab hooks ----------------------------------------------------------------------
    def _reset(self) -> None:
        """Restore the initial weights, forget the history (training has stopped)."""
        self.model.load_state_dict(self._initial)
        self._objective = make_objective(self.method, **self.method_kwargs)
        self.history = History()
        self._target = self.steps
        self.error = None
        self._snap = None
        self._snapshot(None)
        self._state_text = (f"<span class='ebmlab-status'>ready: {self.steps} steps of "
                            f"{self.method!r}; press Train</span>")
        self._status()

    def _advance(self) -> None:
        """Nothing: the training thread does the work; a frame draws its latest snapshot."""

    def _draw(self) -> None:
        with self._snap_lock:
            snap = self._snap
        if snap is None:
            return
        with self.fig.batch_update():
            self.fig.data[0].z = snap["z"]
            neg = snap.get("negatives")
            if neg is None:
                self.fig.data[2].x, self.fig.data[2].y = [], []
            else:
                self.fig.data[2].x, self.fig.data[2].y = neg[:, 0], neg[:, 1]
            self.fig.data[3].x, self.fig.data[3].y = snap["step"], snap["loss"]
            if snap["gap"]:
                self.fig.data[4].x, self.fig.data[4].y = snap["step"], snap["gap"]
            else:
                self.fig.data[4].x, self.fig.data[4].y = [], []
        if self._training and snap["step"]:
            self._state_text = (f"<span class='ebmlab-status'>step {snap['step'][-1]} of "
                                f"{self._target}, loss {snap['loss'][-1]:.4f}</span>")

    def _status(self) -> None:
        timing = ("" if self.last_frame_ms != self.last_frame_ms
                  else f" <span style='color:#555'>(frame {self.last_frame_ms:.0f} ms)</span>")
        self.status.value = self._state_text + timing
