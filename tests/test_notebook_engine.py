"""The notebook engine never waits more than a slice for a message that is already there
(the nbclient stall), and still honours the caller's timeout."""

from __future__ import annotations

import asyncio
import tempfile
import time
from queue import Empty

import pytest

from ebmlab.notebook_engine import ENGINE, register, sliced


class MissedWakeup:
    """A channel whose poll misses the wake-up: a message that arrives while it waits is
    only seen when that wait times out (what asyncio zmq did in the stalled cells)."""

    def __init__(self, arrives_after: float) -> None:
        self.ready_at = time.monotonic() + arrives_after

    async def get_msg(self, timeout: float | None = None):
        if time.monotonic() >= self.ready_at:  # a fresh poll checks the socket at once
            return {"msg": "reply"}
        if timeout is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(timeout)  # the wake-up never comes; the final check does
        if time.monotonic() >= self.ready_at:
            return {"msg": "reply"}
        raise Empty


def test_unsliced_wait_stalls_for_the_whole_timeout():
    ch = MissedWakeup(arrives_after=0.05)
    start = time.monotonic()
    asyncio.run(ch.get_msg(timeout=1.5))
    assert time.monotonic() - start > 1.4  # the bug this engine removes


def test_sliced_wait_sees_a_pending_message_within_one_slice():
    ch = MissedWakeup(arrives_after=0.05)
    get = sliced(ch.get_msg, slice_s=0.1)
    start = time.monotonic()
    assert asyncio.run(get(timeout=30.0)) == {"msg": "reply"}
    assert time.monotonic() - start < 0.5  # ≤ arrival + one slice (+ scheduling)
    ch = MissedWakeup(arrives_after=0.05)
    start = time.monotonic()
    assert asyncio.run(sliced(ch.get_msg, slice_s=0.1)(timeout=None)) == {"msg": "reply"}
    assert time.monotonic() - start < 0.5


def test_sliced_wait_still_times_out():
    ch = MissedWakeup(arrives_after=60.0)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(sliced(ch.get_msg, slice_s=0.1)(timeout=0.35))
    assert 0.3 < time.monotonic() - start < 1.0


def test_engine_registers_with_papermill():
    from papermill.engines import papermill_engines

    assert register() == ENGINE == register()
    assert papermill_engines.get_engine(ENGINE).__name__ == "SlicedPollEngine"


def test_engine_client_really_polls_in_slices(tmp_path):
    """nbclient's synchronous entry points are bound to its own coroutines: check that a
    kernel started by the engine's client has the sliced waits and writes its own output to
    the kernel log, not to ours."""
    import nbformat
    from papermill.engines import NotebookExecutionManager

    from ebmlab.notebook_engine import SlicedPollClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import sys; print('to the kernel log', "
                                          "file=sys.__stderr__, flush=True)")]
    out = tmp_path / "out.ipynb"
    client = SlicedPollClient(NotebookExecutionManager(nb, output_path=str(out)),
                              kernel_name="python3", timeout=60)
    with client.setup_kernel():
        assert getattr(client.kc.shell_channel.get_msg, "sliced", False)
        assert getattr(client.kc.iopub_channel.get_msg, "sliced", False)
        assert client.km.transport == "ipc"
        assert client.km.ip.startswith(tempfile.gettempdir())  # sockets not in the cwd
        client.execute_cell(nb.cells[0], 0)
    assert "to the kernel log" in (tmp_path / "out.ipynb.kernel.log").read_text()
