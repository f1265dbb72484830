"""The papermill engine ``ebmlab reproduce`` runs notebooks with: papermill's own nbclient
engine, except that no wait for a kernel message is ever longer than one second.

Why: nbclient waits for a cell's reply with one ``get_msg(timeout=cell_timeout)`` on an
asyncio zmq socket (and for its outputs with ``get_msg(timeout=None)``). When the socket's
edge-triggered wake-up is missed — it happened in cells that open widget comms, whose burst
of messages races the poller (nbclient issue 312, papermill issue 723) — the reply sits in
the socket until the timeout expires and the final non-blocking check finds it: the cell
"stalls" for the whole timeout and then completes. Each fresh poll checks the socket at once,
so polling in short slices finds a pending message within a slice. The cell timeout still
bounds the total wait.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from queue import Empty
from typing import Any

from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

ENGINE = "ebmlab"
POLL_SLICE = 1.0  # seconds: the longest a pending message can wait unseen


def sliced(get_msg, slice_s: float = POLL_SLICE, clock=time.monotonic):
    """``get_msg(timeout)`` that polls in slices of at most ``slice_s`` seconds (``clock``
    measures the caller's timeout)."""

    async def get_msg_sliced(timeout: float | None = None, **kw: Any):
        deadline = None if timeout is None else clock() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - clock())
            try:
                return await get_msg(timeout=slice_s if left is None else min(slice_s, left),
                                     **kw)
            except Empty:
                if deadline is not None and clock() >= deadline:
                    raise

    get_msg_sliced.sliced = True
    return get_msg_sliced


class SlicedPollClient(PapermillNotebookClient):
    """papermill's client with the kernel client's shell and iopub waits sliced, talking to
    its kernel over local IPC sockets (no TCP ports, no "running over TCP without
    encryption" warning in the output)."""

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.transport = "ipc"
        # IPC socket files are named after ``ip``; keep them out of the notebook folder.
        km.ip = os.path.join(tempfile.gettempdir(), f"ebmlab-kernel-{uuid.uuid4().hex[:12]}")
        return km

    async def async_start_new_kernel(self, **kwargs):
        """The kernel's own stdout/stderr (its warnings, "KeyboardInterrupt caught in
        kernel" when a timed-out cell is interrupted) go to ``<output>.kernel.log`` beside the
        executed notebook, not into the progress output of ``ebmlab reproduce``."""
        out = getattr(self.nb_man, "output_path", None)
        if not out or "stderr" in kwargs:
            return await super().async_start_new_kernel(**kwargs)
        with open(f"{out}.kernel.log", "wb") as log:  # the kernel process keeps its own copy
            kwargs.update(stdout=log, stderr=log)
            return await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = sliced(channel.get_msg)
        return kc

    # nbclient binds its synchronous entry points to its own coroutines at class creation;
    # rebind them so the overrides above are the ones that run.
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


class SlicedPollEngine(NBClientEngine):
    """papermill's nbclient engine running ``SlicedPollClient``."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 **kwargs):
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout, kernel_name=kernel_name,
            log=logger,
            log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        return SlicedPollClient(nb_man, **final_kwargs).execute()


def register() -> str:
    """Register the engine with papermill (idempotent); returns its name."""
    if ENGINE not in papermill_engines._engines:
        papermill_engines.register(ENGINE, SlicedPollEngine)
    return ENGINE
