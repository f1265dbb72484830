"""The notebook engine never waits more than a slice for a message that is already there
(the nbclient stall), and still honours the caller's timeout."""

from __future__ import annotations

import asyncio
import tempfile
from concurrent.futures import ThreadPoolExecutor
from queue import Empty

import pytest

from ebmlab.notebook_engine import ENGINE, register, sliced


class MissedWakeup:
    """A channel whose poll misses the wake-up, on a virtual clock (no real waiting, so the
    test does not depend on machine load): a message that arrives while a poll waits is seen
    only when that poll's timeout expires — what asyncio zmq did in the stalled cells. A fresh
    poll checks the socket at once."""

    def __init__(self, arrives_at: float) -> None:
        self.now = 0.0
        self.arrives_at = arrives_at
        self.polls = 0

    def clock(self) -> float:
        return self.now

    async def get_msg(self, timeout: float | None = None):
        self.polls += 1
        await asyncio.sleep(0)
        if self.now >= self.arrives_at:
            return {"msg": "reply"}
        if timeout is None:
            raise AssertionError("an unbounded wait on a missed wake-up never returns")
        self.now += timeout  # the wake-up never comes; the final check at the deadline does
        if self.now >= self.arrives_at:
            return {"msg": "reply"}
        raise Empty


def run(coro):
    """Run a coroutine on a fresh event loop in its own thread: an earlier test in this
    process (a Playwright or nbclient run) may have left a loop running in the main thread,
    where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_unsliced_wait_stalls_for_the_whole_timeout():
    ch = MissedWakeup(arrives_at=0.05)
    assert run(ch.get_msg(timeout=300.0)) == {"msg": "reply"}
    assert ch.now == 300.0  # seen only at the deadline: the bug this engine removes


def test_sliced_wait_sees_a_pending_message_within_one_slice():
    ch = MissedWakeup(arrives_at=0.05)
    get = sliced(ch.get_msg, slice_s=1.0, clock=ch.clock)
    assert run(get(timeout=300.0)) == {"msg": "reply"}
    assert ch.now <= 0.05 + 1.0  # at most one slice after it arrived
    ch = MissedWakeup(arrives_at=7.5)
    assert run(sliced(ch.get_msg, slice_s=1.0, clock=ch.clock)(timeout=None))
    assert 7.5 <= ch.now <= 8.5 and ch.polls == 8  # an unbounded wait is bounded slices too


def test_sliced_wait_still_times_out():
    ch = MissedWakeup(arrives_at=60.0)
    with pytest.raises(Empty):
        run(sliced(ch.get_msg, slice_s=1.0, clock=ch.clock)(timeout=3.5))
    assert ch.now == 3.5 and ch.polls == 4  # slices of 1, 1, 1 and 0.5 s, then give up


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
