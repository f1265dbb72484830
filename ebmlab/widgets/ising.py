"""``IsingLab``: the 2-D Ising model live — a lattice of ``L × L`` spins under a discrete
kernel from the registry, with temperature and field sliders, magnetisation and energy traces,
and Onsager's exact curves with ``T_c`` marked.

One ``el.samplers.Chain`` (one lattice) and every frame calls ``chain.advance(k)``: the lab has
no sampling loop of its own. The lattice travels to the browser as a small palette PNG (one
byte per spin before compression, ~2 KB for 128 × 128), not as a list of numbers; the traces
are SVG written here (an HTML widget, ~10 KB): no plotting library to validate or re-render
them, and the same static picture in a headless run.

Units of progress: a *sweep* is ``D = L²`` single-site update attempts (one step of a
checkerboard kernel; ``D`` steps of a random-scan or gradient-informed kernel, which update
one site per step here), a *cluster flip* is one Wolff step. A frame takes up to
``steps / frame`` of them, fewer when they would not fit in the frame budget
(``frame_budget_ms``): the lab keeps its frame rate at any temperature, field and kernel, and
says when it capped a frame.
"""

from __future__ import annotations

import io
import math
import time
from collections import deque
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import samplers as registry
from .._checks import check_choice, check_int, check_real
from ..energies.discrete import (
    Ising,
    critical_temperature,
    onsager_energy,
    onsager_magnetisation,
)
from ..samplers import Chain
from ..viz.style import OKABE_ITO
from ._svg import Panel, Series
from .controls import STYLE, control_for
from .lab import Lab

T_C = critical_temperature()
SIZES = (16, 32, 64, 128, 256, 512)
T_RANGE = (0.1, 6.0)
H_RANGE = (-2.0, 2.0)
HISTORY = 400  # frames kept in the traces
SHOWN_PX = 400  # the lattice's size on screen (pixels); the PNG itself is L × L
HIDDEN = ("sweep", "block")  # kernel parameters the lab sets itself
LAB_DEFAULTS = {"flip": {"scan": "checkerboard"}}  # live speed first; the control can undo it
# Spin colours: Okabe-Ito blue (-1) and a pale yellow (+1): colour-blind safe, greyscale-safe.
PALETTE = (0x00, 0x72, 0xB2, 0xFA, 0xEB, 0xB4)
CSS = ("<style>.ebmlab-lattice img, img.ebmlab-lattice {image-rendering: pixelated;"
       " image-rendering: crisp-edges;}</style>")


def lattice_png(x: torch.Tensor, L: int) -> bytes:
    """One lattice ``(L²,)`` of ±1 spins as a 2-colour palette PNG (``L × L`` pixels)."""
    from PIL import Image

    a = (x.view(L, L) > 0).to(torch.uint8).numpy()
    im = Image.fromarray(a, mode="P")
    im.putpalette(PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="png", compress_level=1)
    return buf.getvalue()


class IsingLab(Lab):
    """The 2-D Ising model (``J = 1``, periodic ``L × L``) sampled live.

    ``L``: side length (any integer ≥ 2; the menu offers 16 … 512); ``temperature`` ``T`` (in
    units of ``J``) and ``field`` ``h``: the sliders' start values; ``sampler``: a discrete
    kernel from the registry (``el.samplers.names(state="discrete")``); ``steps_per_frame``:
    sweeps (Wolff: cluster flips) per frame, at most; ``start``: ``"random"`` (a hot start)
    or ``"up"`` (all spins +1, a cold start); ``frame_budget_ms``: the sampling time a frame
    may take before it stops early.

    Bad values (a constructor argument, a slider set to something impossible, a kernel
    setting the kernel refuses) become a message naming the parameter; the lab keeps what it
    had and never raises. Play / Pause / Step / Reset come from ``Lab``; Reset draws a new
    start from ``seed``.
    """

    # Drop only the ticks that queued up during a frame (they arrive within a few ms of its
    # end); the base's half-interval gap would also drop the next regular tick whenever a frame
    # takes more than half the interval, halving the frame rate.
    min_gap = 0.1

    def __init__(self, L: int = 128, temperature: float = 2.0, field: float = 0.0,
                 sampler: str = "gibbs", steps_per_frame: int = 5, seed: int = 0,
                 start: str = "random", interval_ms: int = 40,
                 frame_budget_ms: float = 25.0) -> None:
        super().__init__(interval_ms=interval_ms)
        problems: list[str] = []

        def take(check, default):
            try:
                return check()
            except ValueError as err:
                problems.append(str(err))
                return default

        L = take(lambda: check_int("L", L, ge=2), 128)
        temperature = take(lambda: check_real("temperature", temperature, gt=0.0), 2.0)
        field = take(lambda: check_real("field", field), 0.0)
        sampler = take(lambda: check_choice("sampler", sampler,
                                            tuple(registry.names("discrete"))), "gibbs")
        steps_per_frame = take(lambda: check_int("steps_per_frame", steps_per_frame, ge=1), 5)
        seed = take(lambda: check_int("seed", seed, ge=0), 0)
        start = take(lambda: check_choice("start", start, ("random", "up")), "random")
        self.frame_budget_ms = take(lambda: check_real("frame_budget_ms", frame_budget_ms,
                                                       gt=0.0), 25.0)
        self.seed = seed
        self.size = widgets.Dropdown(options=sorted({*SIZES, L}), value=L,
                                     description="lattice L", style=STYLE,
                                     layout=widgets.Layout(width="230px"))
        self.temperature = widgets.FloatSlider(
            value=min(max(temperature, T_RANGE[0]), T_RANGE[1]), min=T_RANGE[0],
            max=T_RANGE[1], step=0.01, description="temperature T", readout_format=".2f",
            style=STYLE, layout=widgets.Layout(width="360px"),
            tooltip=f"in units of J; T_c = {T_C:.4f}")
        if not T_RANGE[0] <= temperature <= T_RANGE[1]:
            self.temperature.min = min(T_RANGE[0], temperature)
            self.temperature.max = max(T_RANGE[1], temperature)
            self.temperature.value = temperature
        self.tc_button = widgets.Button(description=f"T = T_c ({T_C:.3f})",
                                        layout=widgets.Layout(width="auto"),
                                        tooltip="Onsager's critical temperature "
                                                "2 / ln(1 + √2)")
        self.tc_button.add_class("ebmlab-tc")
        self.tc_button.on_click(lambda _: setattr(self.temperature, "value", round(T_C, 4)))
        self.tc_mark = widgets.HTML()
        self.field = widgets.FloatSlider(
            value=min(max(field, H_RANGE[0]), H_RANGE[1]), min=min(H_RANGE[0], field),
            max=max(H_RANGE[1], field), step=0.01, description="field h",
            readout_format=".2f", style=STYLE, layout=widgets.Layout(width="360px"))
        self.field.value = field
        self.sampler = widgets.Dropdown(options=registry.names("discrete"), value=sampler,
                                        description="sampler", style=STYLE,
                                        layout=widgets.Layout(width="230px"))
        self.params = widgets.VBox()
        self.steps_per_frame = widgets.IntSlider(value=min(steps_per_frame, 200), min=1,
                                                 max=max(200, steps_per_frame),
                                                 description="steps / frame", style=STYLE,
                                                 layout=widgets.Layout(width="360px"))
        self.steps_per_frame.value = steps_per_frame
        self.start_kind = widgets.ToggleButtons(options=[("random spins", "random"),
                                                         ("all +1", "up")], value=start,
                                                description="start", style={
                                                    "button_width": "110px",
                                                    "description_width": "7.5em"})
        self.readout = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{SHOWN_PX}px", height=f"{SHOWN_PX}px"))
        self.image.add_class("ebmlab-lattice")

        # The state. ``t``: sweeps (or cluster flips) so far; the traces hold one point per
        # frame; ``visits``: mean |m| per temperature visited (h = 0), for the phase panel.
        self.chain: Chain | None = None
        self.ising: Ising | None = None
        self.kernel_name = sampler
        self.unit = 1  # chain steps per sweep (D for one-site-per-step kernels)
        self.t = 0.0
        self.trace_t: deque[float] = deque(maxlen=HISTORY)
        self.trace_m: deque[float] = deque(maxlen=HISTORY)
        self.trace_e: deque[float] = deque(maxlen=HISTORY)
        self.visits: dict[float, list[float]] = {}
        self.last_steps = 0  # chain steps taken in the last frame
        self.capped = False  # the last frame stopped early (frame budget)
        self._step_s = 1e-4  # running estimate of one chain step's cost (seconds)
        self._frame_ends: deque[float] = deque(maxlen=60)
        self._reverting = False

        self._build_params(LAB_DEFAULTS.get(sampler, {}))
        self.traces = widgets.HTML(layout=widgets.Layout(width="450px"))
        self.traces.add_class("ebmlab-traces")
        self._onsager_t = np.linspace(T_RANGE[0], T_RANGE[1], 300)
        self._onsager_m = onsager_magnetisation(self._onsager_t)
        ok = self.reset()
        if problems:
            self.ready = False
            self.stop()
            self.show_message("Cannot start: " + "; ".join(problems)
                              + ". The controls show the defaults: press Reset to start.")
        elif not ok:
            pass  # reset() has put its message up

        self.size.observe(lambda _: self.reset(), names="value")
        self.start_kind.observe(lambda _: self.reset(), names="value")
        self.temperature.observe(self._on_energy, names="value")
        self.field.observe(self._on_energy, names="value")
        self.sampler.observe(self._on_sampler, names="value")

        left = widgets.VBox([self.size, self.temperature,
                             widgets.HBox([self.tc_button, self.tc_mark]), self.field,
                             self.sampler, self.params, self.steps_per_frame,
                             self.start_kind, self.controls, self.status, self.readout,
                             self.message], layout=widgets.Layout(width="380px"))
        self.children = [widgets.HTML(CSS),
                         widgets.HBox([left, self.image, self.traces])]
        self.add_class("ebmlab-isinglab")

    # -- building blocks ---------------------------------------------------------------------
    def _build_params(self, values: dict[str, Any] | None = None) -> None:
        values = values or {}
        spec = registry.spec(self.sampler.value)
        controls = [control_for(p, values.get(p.name)) for p in registry.live_params(spec)
                    if p.name not in HIDDEN]
        for c in controls:
            if hasattr(c, "continuous_update"):
                c.continuous_update = False
            c.observe(self._on_param, names="value")
        self.params.children = controls

    def param_values(self) -> dict[str, Any]:
        return {w.description: w.value for w in self.params.children}

    def make_kernel(self) -> tuple[registry.Kernel, int]:
        """The kernel for the current controls and the chain steps that make one sweep.

        Random-scan and gradient-informed kernels update one site per step here
        (``sweep=False``), ``D`` steps to a sweep, so a frame can stop between sites."""
        name = self.sampler.value
        hyper = self.param_values()
        spec = registry.spec(name)
        declared = {p.name for p in spec.params}
        one_site = name == "gwg" or hyper.get("scan") == "random"
        if "sweep" in declared:
            hyper["sweep"] = not one_site
        kernel = registry.get(name, **hyper)
        return kernel, (self.ising.dim if one_site and self.ising is not None else 1)

    def make_energy(self) -> Ising:
        """``E/T`` for the sliders' ``T`` and ``h`` (as an Ising model with ``J/T``, ``h/T``);
        ``ValueError`` naming the slider for a value it cannot take."""
        T = check_real("temperature T", self.temperature.value, gt=0.0)
        h = check_real("field h", self.field.value)
        energy = Ising(int(self.size.value), J=1.0 / T, h=h / T, dtype=torch.float32)
        energy.lab_values = (T, h)
        return energy

    @property
    def T(self) -> float:
        """The temperature the chain runs at (the slider's last accepted value)."""
        return self.ising.lab_values[0]

    @property
    def h(self) -> float:
        """The field the chain runs at."""
        return self.ising.lab_values[1]

    def initial_spins(self) -> torch.Tensor:
        d = int(self.size.value) ** 2
        if self.start_kind.value == "up":
            return torch.ones(1, d)
        gen = torch.Generator().manual_seed(self.seed)
        return torch.where(torch.rand(1, d, generator=gen) < 0.5, -1.0, 1.0)

    # -- Lab hooks ---------------------------------------------------------------------------
    def _reset(self) -> None:
        energy = self.make_energy()
        self.ising = energy
        kernel, unit = self.make_kernel()
        self.chain = Chain(kernel, energy, self.initial_spins(), seed=self.seed)
        self.kernel_name, self.unit = self.sampler.value, unit
        self.t = 0.0
        self._step_s = 1e-4
        for d in (self.trace_t, self.trace_m, self.trace_e):
            d.clear()
        self.visits = {}
        self._record()

    def _rechain(self, energy: Ising | None = None) -> bool:
        """A new ``Chain`` (new kernel and/or energy) from the current spins; the traces go
        on. A refused value becomes the message and the old chain keeps running."""
        with self._lock:
            try:
                if energy is None:
                    energy = self.make_energy()
                old_energy, self.ising = self.ising, energy
                try:
                    kernel, unit = self.make_kernel()
                    x = (self.chain.positions.clone() if self.chain is not None
                         else self.initial_spins())
                    chain = Chain(kernel, energy, x, seed=self.seed + 7919 * (self.frames + 1))
                except Exception:
                    self.ising = old_energy
                    raise
            except Exception as err:  # noqa: BLE001 - the panel must keep working
                self.show_message(str(err))
                return False
            self.chain, self.unit, self.kernel_name = chain, unit, self.sampler.value
            self.clear_message()
            if not self.ready:  # a bad start before: this fixes it
                self.ready = True
            self._step_s = 1e-4
            try:
                self._draw()
            except Exception as err:  # noqa: BLE001
                self.show_message(f"Cannot draw: {err}")
            return True

    def _advance(self) -> None:
        """Up to ``steps / frame`` sweeps, stopping early when the frame budget is spent
        (cost per step estimated from the frames so far)."""
        want = int(self.steps_per_frame.value) * self.unit
        budget = self.frame_budget_ms / 1e3
        start = time.perf_counter()
        done = 0
        chunk = max(1, min(want, int(budget / self._step_s)))
        while done < want:
            n = min(chunk, want - done)
            self.chain.advance(n)
            done += n
            elapsed = time.perf_counter() - start
            self._step_s = max(elapsed / done, 1e-7)
            left = budget - elapsed
            if left <= 0:
                break
            chunk = max(1, int(left / self._step_s))
        self.last_steps, self.capped = done, done < want
        self.t += done / self.unit
        self._record()

    def _record(self) -> None:
        x = self.chain.positions[:1]
        m = float(x.mean())
        # the chain's energy is E/T (an Ising model with J/T, h/T): E/D = T · (E/T) / D
        e = self.T * float(self.chain.state.energy[0]) / x.shape[1]
        self.trace_t.append(self.t)
        self.trace_m.append(m)
        self.trace_e.append(e)
        if self.h == 0.0:
            key = round(self.T, 2)
            self.visits.setdefault(key, []).append(abs(m))

    # -- events ------------------------------------------------------------------------------
    def _on_energy(self, change) -> None:
        if self._reverting:
            return
        try:
            energy = self.make_energy()
        except ValueError as err:
            self.show_message(f"{err}; keeping the previous value")
            if self.ising is not None:  # the slider shows the value in use again
                self._reverting = True
                try:
                    change["owner"].value = change["old"]
                finally:
                    self._reverting = False
            return
        if self.chain is None:
            self.reset()
            return
        self._rechain(energy)

    def _on_sampler(self, _change) -> None:
        self._build_params(LAB_DEFAULTS.get(self.sampler.value, {}))
        self._rechain()

    def _on_param(self, _change) -> None:
        self._rechain()

    # -- figure --------------------------------------------------------------------------------
    def _draw(self) -> None:
        """The lattice as a PNG, the traces and the phase panel as SVG (an HTML string: no
        plotting library on either side, the same static picture in a headless run)."""
        x = self.chain.positions[0]
        L = int(round(math.sqrt(x.shape[0])))
        self.image.value = lattice_png(x, L)
        T, h = self.T, self.h
        self.traces.value = self.figure_svg()
        self.tc_mark.value = self._tc_text(T)
        self.readout.value = self._readout(T, h)

    def figure_svg(self) -> str:
        """The three panels: m and E/D against sweeps (Onsager's values at ``h = 0`` dashed),
        and mean ``|m|`` per visited temperature against Onsager's curve with ``T_c``."""
        T, h = self.T, self.h
        blue, orange, green, red = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[3]
        t = np.fromiter(self.trace_t, float)
        m = np.fromiter(self.trace_m, float)
        e = np.fromiter(self.trace_e, float)
        lo, hi = (float(t[0]), float(t[-1])) if len(t) else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        exact = h == 0.0
        m0 = float(onsager_magnetisation(T)) if exact else float("nan")
        u0 = float(onsager_energy(T)) if exact else float("nan")
        e_lo = min(-2.1, float(e.min()) - 0.1) if len(e) else -2.1
        e_hi = max(0.1, float(e.max()) + 0.1) if len(e) else 0.1
        xlabel = "cluster flips" if self.kernel_name == "wolff" else "sweeps"
        note = "" if exact else " (h ≠ 0: no exact value)"
        p_m = Panel((lo, hi), (-1.05, 1.05), [Series(t, m, blue, css="ebmlab-trace-m")],
                    title="magnetisation per spin m" + note, xlabel=xlabel,
                    hlines=[(m0, "#000", "5,3"), (-m0, "#000", "5,3")])
        p_e = Panel((lo, hi), (e_lo, e_hi), [Series(t, e, orange, css="ebmlab-trace-e")],
                    title="energy per spin E/D (units of J)", xlabel=xlabel,
                    hlines=[(u0, "#000", "5,3")])
        vis_t = sorted(self.visits)
        vis_m = [float(np.mean(self.visits[k])) for k in vis_t]
        recent = self.visits.get(round(T, 2), [])[-50:]
        now = float(np.mean(recent)) if recent else abs(float(m[-1])) if len(m) else 0.0
        p_t = Panel(T_RANGE, (-0.05, 1.1),
                    [Series(self._onsager_t, self._onsager_m, "#000", width=1.2, static=True),
                     Series(vis_t, vis_m, green, kind="points", css="ebmlab-visited"),
                     Series([T], [now], red, kind="cross", size=5, css="ebmlab-now")],
                    title="|m| against T: Onsager (L = ∞) and this lattice (h = 0)",
                    xlabel="temperature T (units of J)",
                    vlines=[(T_C, red, "2,3", f"T_c = {T_C:.3f}")])
        return ("<div class='ebmlab-figure'>" + p_m.svg(css="ebmlab-panel-m")
                + p_e.svg(css="ebmlab-panel-e") + p_t.svg(height=200, css="ebmlab-panel-t")
                + "</div>")

    @staticmethod
    def _tc_text(T: float) -> str:
        side = "below" if T < T_C else "above" if T > T_C else "at"
        return (f"<span class='ebmlab-tc-mark' style='font-size:0.9em'>T / T_c = "
                f"<b>{T / T_C:.3f}</b> ({side} T_c)</span>")

    def _readout(self, T: float, h: float) -> str:
        ch = self.chain
        unit = "cluster flips" if self.kernel_name == "wolff" else "sweeps"
        acc = float(ch.acceptance.mean()) if ch.acc_steps else float("nan")
        rows = [f"{type(ch.kernel).__name__}: <b class='ebmlab-sweeps'>{self.t:.6g}</b> "
                f"{unit}",
                f"m = <b class='ebmlab-m'>{self.trace_m[-1]:+.4f}</b>, "
                f"E/D = <b class='ebmlab-e'>{self.trace_e[-1]:.4f}</b>",
                f"acceptance {acc:.2f}" if math.isfinite(acc) else "acceptance –"]
        if h == 0.0:
            rows.append(f"Onsager (L = ∞): m₀ = {float(onsager_magnetisation(T)):.4f}, "
                        f"u = {float(onsager_energy(T)):.4f}")
        else:
            rows.append("h ≠ 0: no closed form drawn")
        return "<div class='ebmlab-readout'>" + "<br>".join(rows) + "</div>"

    # -- status: frame time and frames per second ------------------------------------------------
    @property
    def fps(self) -> float:
        """Frames per second over the recent frames (wall clock, including idle time between
        ticks); nan before two frames."""
        if len(self._frame_ends) < 2:
            return float("nan")
        span = self._frame_ends[-1] - self._frame_ends[0]
        return (len(self._frame_ends) - 1) / span if span > 0 else float("nan")

    def _status(self) -> None:
        now = time.perf_counter()
        if self._frame_ends and now - self._frame_ends[-1] > 1.0:
            self._frame_ends.clear()  # a pause: start counting again
        self._frame_ends.append(now)
        fps = self.fps
        fps_s = f"{fps:.0f}" if math.isfinite(fps) else "–"
        unit = "cluster flips" if self.kernel_name == "wolff" else "sweeps"
        per = self.last_steps / self.unit
        cap = (" <span class='ebmlab-capped'>(capped by the frame budget)</span>"
               if self.capped else "")
        self.status.value = (f"<span class='ebmlab-status'>frame {self.last_frame_ms:.0f} ms, "
                             f"<span class='ebmlab-fps'>{fps_s}</span> frames/s, "
                             f"{per:.3g} {unit}/frame{cap}, frames "
                             f"<span class='ebmlab-frames'>{self.frames}</span>, ticks "
                             f"dropped <span class='ebmlab-skipped'>{self.skipped}</span>"
                             "</span>")
