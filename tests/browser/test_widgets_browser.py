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
