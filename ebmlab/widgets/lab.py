"""``Lab``: the live-lab base every animated widget stands on.

It owns what the labs share and nothing else:

- the controls: Play / Pause / Step / Reset buttons (CSS classes ``ebmlab-play``,
  ``ebmlab-pause``, ``ebmlab-step``, ``ebmlab-reset``) and a hidden ``widgets.Play`` that
  ticks in the browser while playing;
- the frame loop: every tick calls ``frame()``, throttled so that ticks queued while the kernel
  was busy are dropped instead of piling up; ``frame()`` never raises;
- errors as messages: an exception in a frame or a reset becomes a message in
  ``self.message`` (``message_html``), playing stops, and Reset starts again;
- timing: ``last_frame_ms`` and ``frame_ms`` (the recent frames).

Subclasses implement ``_reset()`` (build the state; may raise), ``_advance()`` (the work of one
frame: ``chain.advance(k)`` — the labs never loop over kernel steps themselves) and
``_draw()`` (update the figure in place), and set ``self.children``.

``live_frontend()`` tells whether a person will see the widgets: in a notebook run headlessly
(papermill, ``nbconvert --execute``) the labs keep plain plotly ``Figure``s instead of
``FigureWidget``s, because every FigureWidget stores the ~5 MB plotly.js bundle in the saved
notebook's widget state.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque

import ipywidgets as widgets
import plotly.graph_objects as go

from .controls import message_html

BUTTONS = (("play", "Play", "play", "success"), ("pause", "Pause", "pause", ""),
           ("step", "Step", "step-forward", ""), ("reset", "Reset", "refresh", "warning"))
HEADLESS_NOTE = ("<div class='ebmlab-headless' style='color:#555;font-size:0.9em'>"
                 "(The live figure appears when this notebook runs in Jupyter; this run was "
                 "headless.)</div>")


def live_frontend() -> bool:
    """Whether widgets created now will be shown to a person.

    ``EBMLAB_WIDGETS=1`` / ``0`` decides outright. Otherwise: a Voila kernel shows them; a
    kernel driven by nbclient (papermill, ``jupyter nbconvert --execute``), whose execute
    requests never allow stdin, does not; JupyterLab, Notebook, VS Code and consoles do
    (they allow stdin); outside a kernel (scripts, tests) widgets are built in full.
    """
    flag = os.environ.get("EBMLAB_WIDGETS", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    if any(k.startswith("VOILA_") for k in os.environ):
        return True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return True
    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    if kernel is None:
        return True
    try:
        parent = kernel.get_parent()
    except Exception:  # noqa: BLE001 - an older ipykernel: assume a person is watching
        return True
    content = parent.get("content", {}) if isinstance(parent, dict) else {}
    return bool(content.get("allow_stdin", True))


def figure_widget(fig: go.Figure, live: bool | None = None) -> go.Figure:
    """``go.FigureWidget(fig)`` when a person will see it, else ``fig`` itself (same API for
    data updates). Draw the first frame into ``fig`` before wrapping: updates made before a
    FigureWidget is displayed are not replayed in the browser."""
    if live is None:
        live = live_frontend()
    return go.FigureWidget(fig) if live else fig


def figure_view(fig) -> widgets.Widget:
    """What to put in a layout for ``fig``: the FigureWidget itself, or a short note."""
    if isinstance(fig, widgets.Widget):
        return fig
    return widgets.HTML(HEADLESS_NOTE)


class Lab(widgets.VBox):
    """Base class of the live labs: controls, throttled frame loop, messages, timing.

    ``interval_ms``: time between ticks while playing. ``labels``: button captions by role
    (``{"play": "Train"}``). A tick arriving less than ``min_gap`` × ``interval_ms`` after
    the previous frame ended is dropped (``skipped`` counts them).
    """

    min_gap = 0.5

    def __init__(self, interval_ms: int = 60, labels: dict[str, str] | None = None) -> None:
        super().__init__()
        labels = labels or {}
        self.interval_ms = int(interval_ms)
        self.play = widgets.Play(value=0, min=0, max=10**9, step=1, interval=self.interval_ms,
                                 show_repeat=False, layout=widgets.Layout(display="none"))
        self.buttons: dict[str, widgets.Button] = {}
        for role, label, icon, style in BUTTONS:
            b = widgets.Button(description=labels.get(role, label), icon=icon,
                               button_style=style, layout=widgets.Layout(width="auto"))
            b.add_class(f"ebmlab-{role}")
            self.buttons[role] = b
        self.play_button, self.pause_button = self.buttons["play"], self.buttons["pause"]
        self.step_button, self.reset_button = self.buttons["step"], self.buttons["reset"]
        self.play_button.on_click(lambda _: self.start())
        self.pause_button.on_click(lambda _: self.stop())
        self.step_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        self.play.observe(self._on_tick, names="value")
        self.controls = widgets.HBox([*self.buttons.values(), self.play])
        self.message = widgets.HTML()
        self.status = widgets.HTML()
        self.last_frame_ms = float("nan")
        self.frame_ms: deque[float] = deque(maxlen=100)
        self.frames = 0
        self.skipped = 0
        self.ready = False  # a successful reset happened; frames have something to move
        self._last_end = 0.0
        self._lock = threading.RLock()
        self.add_class("ebmlab-lab")

    # -- hooks ---------------------------------------------------------------------------
    def _reset(self) -> None:
        """Build the state from the controls (may raise ``ValueError`` etc.)."""
        raise NotImplementedError

    def _advance(self) -> None:
        """The work of one frame (e.g. ``chain.advance(k)``); may raise."""
        raise NotImplementedError

    def _draw(self) -> None:
        """Update the figure and read-outs in place; may raise."""
        raise NotImplementedError

    # -- controls ----------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return bool(self.play.playing)

    def start(self) -> None:
        """Start ticking (the browser sends a tick every ``interval_ms``)."""
        if self.ready:
            self.play.playing = True

    def stop(self) -> None:
        self.play.playing = False

    def step(self) -> bool:
        """One frame (the Step button)."""
        return self.frame()

    def reset(self) -> bool:
        """Rebuild the state and redraw; never raises (a failure becomes the message)."""
        with self._lock:
            self.clear_message()
            try:
                self._reset()
                self._draw()
            except Exception as err:  # noqa: BLE001 - the panel must keep working
                self.ready = False
                self.stop()
                self.show_message(f"Cannot start: {err}")
                return False
            self.ready = True
            return True

    def frame(self) -> bool:
        """Advance and redraw once; returns whether it worked. Never raises: an error stops
        playing and becomes the message (press Reset to start again)."""
        if not self.ready:
            return False
        if not self._lock.acquire(blocking=False):  # another thread is drawing: skip
            self.skipped += 1
            return False
        try:
            start = time.perf_counter()
            try:
                self._advance()
                self._draw()
            except Exception as err:  # noqa: BLE001 - the panel must keep working
                self.ready = False
                self.stop()
                self.show_message(f"{err} Press Reset to start again.")
                return False
            self.frames += 1
            end = time.perf_counter()
            self.last_frame_ms = (end - start) * 1e3
            self.frame_ms.append(self.last_frame_ms)
            self._last_end = end
            self._status()
            return True
        finally:
            self._lock.release()

    def _on_tick(self, _change) -> None:
        # Ticks queue up while a frame runs; those arriving right after it are stale: drop
        # them so the kernel stays free for control events between frames.
        if (time.perf_counter() - self._last_end) * 1e3 < self.min_gap * self.interval_ms:
            self.skipped += 1
            return
        self.frame()

    # -- messages and status ----------------------------------------------------------------
    def show_message(self, text: str, kind: str = "error") -> None:
        self.message.value = message_html(text, kind)

    def clear_message(self) -> None:
        self.message.value = ""

    @property
    def median_frame_ms(self) -> float:
        return statistics.median(self.frame_ms) if self.frame_ms else float("nan")

    def _status(self) -> None:
        self.status.value = (f"<span class='ebmlab-status'>frame {self.last_frame_ms:.0f} ms"
                             f"</span>")
