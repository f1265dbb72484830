"""The widgets in a real browser: JupyterLab running the tour, and the Voila app.

Each test moves a control the way a person would (keyboard on a slider, clicks on buttons) and
asserts on pixels (screenshots before/after differ) and on read-outs. Screenshots are kept in
test-artifacts/browser/."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def changed_fraction(a: bytes, b: bytes) -> float:
    """Fraction of pixels that differ between two PNG screenshots."""
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return 1.0
    return float((np.abs(x - y).sum(-1) > 30).mean())


def shot(locator, path: Path) -> bytes:
    data = locator.screenshot()
    path.write_bytes(data)
    return data


def run_tour(page, lab_server) -> None:
    url = f"{lab_server['url']}/lab/tree/00-tour.ipynb?token={lab_server['token']}"
    page.goto(url)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           ".kernel", timeout=90_000)
    page.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext.session"
                           ".kernel.status === 'idle'", timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".ebmlab-explorer .js-plotly-plot").first.wait_for(timeout=180_000)
    page.locator(".ebmlab-samplerlab .js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_timeout(3000)  # let the first draws settle


def slider_handle(root, label: str):
    slider = root.locator(".widget-slider").filter(
        has=root.page.locator(".widget-label", has_text=label))
    return slider.locator(".noUi-handle, .slider-handle, [role=slider]").first


def check_explorer(page, artifacts: Path, prefix: str) -> None:
    explorer = page.locator(".ebmlab-explorer").first
    plot = explorer.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    readout = explorer.locator(".ebmlab-readout").first
    before_text = readout.inner_text()
    before = shot(plot, artifacts / f"{prefix}-explorer-before.png")
    handle = slider_handle(explorer, "tilt")
    for _ in range(3):  # Voila may not have connected the page to its kernel yet: again
        handle.focus()
        for _ in range(15):
            page.keyboard.press("ArrowRight")
        try:
            page.wait_for_function(
                "([sel, before]) => document.querySelector(sel).innerText !== before",
                arg=[".ebmlab-explorer .ebmlab-readout", before_text], timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            continue
    assert readout.inner_text() != before_text, "the read-out did not change"
    _, changed = wait_changed(plot, before, artifacts / f"{prefix}-explorer-after.png", 0.01)
    assert changed > 0.01, "the heatmap did not change"
    assert "Traceback" not in explorer.inner_text()


def wait_changed(locator, reference: bytes, path: Path, threshold: float,
                 timeout_s: float = 20.0) -> tuple[bytes, float]:
    """Screenshots every half second until one differs from ``reference`` by more than
    ``threshold`` (a loaded machine renders frames late); returns the last and its change."""
    deadline = time.time() + timeout_s
    while True:
        locator.page.wait_for_timeout(500)
        now = shot(locator, path)
        frac = changed_fraction(reference, now)
        if frac > threshold or time.time() > deadline:
            return now, frac


def wait_still(locator, path: Path, gap_ms: int = 1500, timeout_s: float = 30.0
               ) -> float:
    """Pairs of screenshots ``gap_ms`` apart until a pair is identical (queued frames have
    finished); returns the last pair's change."""
    deadline = time.time() + timeout_s
    prev = shot(locator, path)
    while True:
        locator.page.wait_for_timeout(gap_ms)
        now = shot(locator, path)
        frac = changed_fraction(prev, now)
        if frac < 0.0005 or time.time() > deadline:
            return frac
        prev = now


def wait_connected(lab, attempts: int = 3, timeout_ms: int = 20_000) -> None:
    """A Step round trip: the page talks to its kernel. (Voila renders the widgets before
    the page has connected to the kernel; a click in between is lost, so click again.)"""
    before = readouts(lab, "ebmlab-steps")
    for _ in range(attempts):
        lab.locator(".ebmlab-step").first.click()
        try:
            lab.page.wait_for_function(
                "([sel, before]) => { const t = [...document.querySelectorAll(sel)]"
                ".map(e => e.innerText.trim()); return t.length && t.join() !== before; }",
                arg=[".ebmlab-samplerlab .ebmlab-steps", ",".join(before)], timeout=timeout_ms)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try once more
            continue
    raise AssertionError(f"the lab never answered a Step click: steps {before}")


def check_samplerlab(page, artifacts: Path, prefix: str) -> None:
    lab = page.locator(".ebmlab-samplerlab").first
    plot = lab.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    wait_connected(lab)
    lab.locator(".ebmlab-play").first.click()
    page.wait_for_timeout(2000)
    a = shot(plot, artifacts / f"{prefix}-sampler-playing-1.png")
    _, moved = wait_changed(plot, a, artifacts / f"{prefix}-sampler-playing-2.png", 0.002)
    assert moved > 0.002, ("chains did not move while playing; steps "
                           f"{readouts(lab, 'ebmlab-steps')}, status "
                           f"{readouts(lab, 'ebmlab-status')}, messages "
                           f"{readouts(lab, 'ebmlab-message')}")
    lab.locator(".ebmlab-pause").first.click()
    still = wait_still(plot, artifacts / f"{prefix}-sampler-paused.png")
    assert still < 0.0005, "chains still moved after Pause"
    steps = readouts(lab, "ebmlab-steps")
    page.wait_for_timeout(2000)
    assert readouts(lab, "ebmlab-steps") == steps, "frames ran after Pause"
    assert int(steps[0]) > 0, steps
    assert "Traceback" not in lab.inner_text()


def readouts(lab, cls: str) -> list[str]:
    return [t.strip() for t in lab.locator(f".{cls}").all_inner_texts()]


def check_click_sets_start(page, artifacts: Path, prefix: str, box=(-6.25, 6.25)) -> None:
    """A click on the second panel's landscape restarts every chain of every panel there."""
    lab = page.locator(".ebmlab-samplerlab").first
    plot = lab.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    start = lab.locator(".ebmlab-start").first
    assert "Gaussian" in start.inner_text()
    before = shot(plot, artifacts / f"{prefix}-click-before.png")
    area = plot.locator("rect.nsewdrag[data-subplot='x2y2']").first.bounding_box()
    fx, fy = 0.7, 0.3  # fractions of the plot area from the left and from the top
    x, y = area["x"] + fx * area["width"], area["y"] + fy * area["height"]
    page.mouse.move(x, y)  # plotly reports a click on the point it hovers
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelector('.ebmlab-samplerlab .ebmlab-start')"
                           ".innerText.includes('all chains at')", timeout=20_000)
    page.wait_for_timeout(1500)
    after = shot(plot, artifacts / f"{prefix}-click-after.png")
    assert changed_fraction(before, after) > 0.002, "the chains did not move to the click"
    text = start.inner_text()
    cx, cy = (float(v) for v in text.split("(")[1].split(")")[0].split(","))
    lo, hi = box
    assert abs(cx - (lo + fx * (hi - lo))) < 0.3 and abs(cy - (hi - fy * (hi - lo))) < 0.3, text
    steps = readouts(lab, "ebmlab-steps")
    assert len(steps) == 3 and set(steps) == {"0"}, steps  # every panel restarted
    lab.locator(".ebmlab-step").first.click()
    page.wait_for_function("[...document.querySelectorAll('.ebmlab-samplerlab .ebmlab-steps')]"
                           ".every(e => e.innerText.trim() === '2')", timeout=20_000)
    page.wait_for_timeout(1000)
    stepped = shot(plot, artifacts / f"{prefix}-click-stepped.png")
    assert changed_fraction(after, stepped) > 0.0005, "Step did not move the chains"
    accs = [float(a) for a in readouts(lab, "ebmlab-acc")]
    assert all(0.0 <= a <= 1.0 for a in accs), accs
    assert "Traceback" not in lab.inner_text()


def test_tour_in_jupyterlab(page, lab_server, artifacts):
    start = time.time()
    run_tour(page, lab_server)
    page.screenshot(path=str(artifacts / "lab-tour-full.png"), full_page=True)
    check_explorer(page, artifacts, "lab")
    check_samplerlab(page, artifacts, "lab")
    check_click_sets_start(page, artifacts, "lab")
    assert time.time() - start < 600


def test_voila_sampler_app(page, voila_app, artifacts):
    url = voila_app("sampler")
    page.goto(url, wait_until="commit")
    page.locator(".ebmlab-samplerlab .js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_timeout(2000)
    page.screenshot(path=str(artifacts / "voila-sampler.png"), full_page=True)
    check_samplerlab(page, artifacts, "voila")
    check_click_sets_start(page, artifacts, "voila")


def test_voila_explorer_app(page, voila_app, artifacts):
    url = voila_app("explorer", "--energy", "double_well")
    page.goto(url, wait_until="commit")
    page.locator(".ebmlab-explorer .js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_timeout(2000)
    check_explorer(page, artifacts, "voila")


def test_voila_ising_app(page, voila_app, artifacts):
    """``ebmlab app ising``: Play runs frames (the lattice image and the traces change),
    moving the temperature slider far above T_c melts the order (|m| falls), Pause stops.
    Frame rates seen by the kernel and by the browser go to ising-fps.json (not asserted)."""
    import json

    url = voila_app("ising")
    page.goto(url, wait_until="commit")
    lab = page.locator(".ebmlab-isinglab").first
    plot = lab.locator(".ebmlab-traces").first
    img = lab.locator("img.ebmlab-lattice").first
    img.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "voila-ising-start.png"), full_page=True)
    # Voila renders before the page talks to the kernel: a Step round trip first.
    sweeps = lambda: lab.locator(".ebmlab-sweeps").first.inner_text().strip()  # noqa: E731
    before = sweeps()
    for _ in range(3):
        lab.locator(".ebmlab-step").first.click()
        try:
            page.wait_for_function(
                "b => document.querySelector('.ebmlab-isinglab .ebmlab-sweeps')"
                ".innerText.trim() !== b", arg=before, timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: click again
            continue
    assert sweeps() != before, f"the lab never answered a Step click: {before}"

    # Count the lattice images the browser receives (each frame replaces the img's src).
    page.evaluate("""() => {
        const img = document.querySelector('.ebmlab-isinglab img.ebmlab-lattice');
        window.__isingFrames = 0;
        new MutationObserver(() => { window.__isingFrames += 1; })
            .observe(img, {attributes: true, attributeFilter: ['src']});
    }""")
    lattice0 = shot(img, artifacts / "voila-ising-lattice-0.png")
    plot0 = shot(plot, artifacts / "voila-ising-traces-0.png")
    lab.locator(".ebmlab-play").first.click()
    page.wait_for_timeout(1000)
    n0, t0 = page.evaluate("window.__isingFrames"), time.time()
    page.wait_for_timeout(6000)
    n1, t1 = page.evaluate("window.__isingFrames"), time.time()
    browser_fps = (n1 - n0) / (t1 - t0)
    status = lab.locator(".ebmlab-status").first.inner_text()
    _, moved = wait_changed(img, lattice0, artifacts / "voila-ising-lattice-1.png", 0.01)
    assert moved > 0.01, f"the lattice did not change while playing; status {status!r}"
    _, traced = wait_changed(plot, plot0, artifacts / "voila-ising-traces-1.png", 0.002)
    assert traced > 0.002, "the traces did not change while playing"
    n_points = page.evaluate("() => document.querySelector('.ebmlab-isinglab .ebmlab-trace-m')"
                             ".getAttribute('points').trim().split(/\\s+/).length")
    assert n_points > 10, f"the magnetisation trace has {n_points} points"
    assert n1 > n0, f"no lattice frames reached the browser; status {status!r}"
    m_cold = abs(float(lab.locator(".ebmlab-m").first.inner_text()))

    # Temperature far above T_c: End moves the slider's handle to its maximum (T = 6).
    handle = slider_handle(lab, "temperature T")
    for _ in range(3):
        handle.focus()
        page.keyboard.press("End")
        try:
            page.wait_for_function(
                "() => document.querySelector('.ebmlab-isinglab .ebmlab-tc-mark b')"
                ".innerText.trim() === (6 / 2.269185314213022).toFixed(3)", timeout=20_000)
            break
        except Exception:  # noqa: BLE001
            continue
    hot_lattice0 = shot(img, artifacts / "voila-ising-lattice-hot-0.png")
    page.wait_for_function(
        "() => Math.abs(parseFloat(document.querySelector('.ebmlab-isinglab .ebmlab-m')"
        ".innerText)) < 0.2", timeout=30_000)
    m_hot = abs(float(lab.locator(".ebmlab-m").first.inner_text()))
    _, melted = wait_changed(img, lattice0, artifacts / "voila-ising-lattice-hot-1.png", 0.05)
    page.screenshot(path=str(artifacts / "voila-ising.png"), full_page=True)
    assert melted > 0.05 and changed_fraction(hot_lattice0, lattice0) > 0.01
    lab.locator(".ebmlab-pause").first.click()
    still = wait_still(img, artifacts / "voila-ising-paused.png")
    assert still < 0.0005, "the lattice still changed after Pause"
    assert "Traceback" not in lab.inner_text()
    (artifacts / "ising-fps.json").write_text(json.dumps({
        "browser_lattice_frames_per_s": browser_fps, "kernel_status": status,
        "abs_m_before": m_cold, "abs_m_at_T6": m_hot}, indent=1))
    print(f"\nIsingLab in Voila: {browser_fps:.1f} lattice frames/s reached the browser; "
          f"kernel status: {status}; |m| {m_cold:.3f} -> {m_hot:.3f} at T = 6")
