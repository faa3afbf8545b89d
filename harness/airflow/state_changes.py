"""Wake a waiting EMR sensor when the emulator's EMR state changes, instead of a fast fixed poll.

A step sensor polling every 0.2 s costs CPU on both sides (the task machinery and botocore in
the DAG worker, moto in the emulator's process) while the step's JVM starts on the same two
cores. The emulator knows when a step or cluster changes state (``EmrRuntime.on_state_change``),
so the DAG worker can be told instead:

* parent side, ``forward_changes(runtime, fd)``: writes one byte to a pipe on every change;
* worker side, ``StateChanges(fd)``: ``clear()`` before a poke, ``wait(timeout)`` after a poke
  that returned false (true at once if anything changed since the poke began).

The sensor still pokes for real (``describe_step`` decides, not the signal): after a false poke
``run_bounds`` waits for a change for at most ``CHANGE_WAIT_MAX`` s, then Airflow sleeps its
``poke_interval`` and pokes again. A change the signal missed is thus seen within
``CHANGE_WAIT_MAX`` s. Only sensors of EMR state the runtime drives (``SIGNALLED_SENSOR_CLASSES``)
wait so; any other sensor keeps its fixed poll.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Callable
from typing import Any

__all__ = ["CHANGE_WAIT_MAX", "SIGNALLED_SENSOR_CLASSES", "StateChanges", "forward_changes",
           "runtime_of"]

#: Seconds a signalled sensor waits after a false poke before it pokes anyway.
CHANGE_WAIT_MAX = 2.0
#: Sensors (class names anywhere in the MRO) whose condition is EMR state the runtime changes.
SIGNALLED_SENSOR_CLASSES = ("EmrStepSensor", "EmrJobFlowSensor")


class StateChanges:
    """The read end of the change pipe, in the DAG worker."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def clear(self) -> None:
        """Forget the changes seen so far (called right before a poke)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 4096):
                pass

    def wait(self, timeout: float) -> bool:
        """True once something changed since the last ``clear()``; False after ``timeout`` s."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        return bool(ready)


def runtime_of(aws: Any) -> Any:
    """The EMR runtime behind a backend or ``EmulatedAWS`` (None: not the harness's emulator)."""
    runtime = getattr(aws, "runtime", None)
    if runtime is None:
        runtime = getattr(getattr(aws, "emulator", None), "runtime", None)
    return runtime if callable(getattr(runtime, "on_state_change", None)) else None


def forward_changes(runtime: Any, fd: int) -> Callable[[], None]:
    """Write a byte to ``fd`` on each state change of ``runtime``; returns the remover.

    Never blocks the runtime: a full pipe already holds a wake-up, a closed one is ignored."""
    os.set_blocking(fd, False)

    def notify() -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(fd, b".")

    remover: Callable[[], None] = runtime.on_state_change(notify)
    return remover
