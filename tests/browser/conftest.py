"""Real-browser fixtures: Debian's Chromium driven by Playwright, JupyterLab and Voila servers
on free localhost ports with a token. Without Chromium (or Playwright) these tests skip and
say why; CI installs Chromium in .ci/run so that they run there."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server and everything it started (kernels, the Voila child): its process group."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "Chromium not found on PATH (install it with: apt-get install -y chromium)"
        print(f"\nSKIP browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _env(tmp: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    ext = tmp / "settings" / "@jupyterlab"
    (ext / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (ext / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (ext / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (ext / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


def _special_files(folder: str, names: list[str]) -> list[str]:
    """Sockets and other non-regular files (a running kernel's IPC sockets) are not copied."""
    import stat

    skip = []
    for n in names:
        mode = os.lstat(os.path.join(folder, n)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            skip.append(n)
    return skip


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, chromium_path):
    """JupyterLab on a copy of the course (so nothing is saved into the repository)."""
    tmp = tmp_path_factory.mktemp("lab")
    nbs = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbs, ignore=_special_files)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={nbs}", "--LabApp.expose_app_in_browser=True",
           "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=_env(tmp), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc=proc)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "log": tmp / "lab.log"}
    finally:
        stop(proc)
        log.close()


@pytest.fixture
def voila_app(tmp_path, chromium_path):
    """``ebmlab app <kind>`` started as a user would, on a free port."""
    procs = []

    def start(kind: str, *extra: str) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "ebmlab.cli", "app", kind, "--port", str(port),
               "--no-browser", *extra]
        log = open(tmp_path / f"voila-{kind}.log", "w")
        proc = subprocess.Popen(cmd, env=_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append((proc, log))
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        return f"http://127.0.0.1:{port}/"

    yield start
    for proc, log in procs:
        stop(proc)
        log.close()
