"""The notebook engine never waits more than a slice for a message that is already there
(the nbclient stall), and still honours the caller's timeout."""

from __future__ import annotations

import asyncio
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
