"""Nothing the harness starts outlives it: reaped child processes and signal handling.

Every long-lived process tree the harness starts (a step, the Spark Connect JVM, the DAG worker)
runs under a small reaper (``harness/_reaper.py``) started in its own session:

    proc = popen_reaped(argv, grace=1.0, env=env, stdout=out)
    ...
    stop_reaped(proc)         # SIGTERM to the tree, SIGKILL after `grace`, reaper exits

The reaper dies with its parent (the kernel's parent-death signal) and then ends its whole tree,
so even a SIGKILLed harness leaves no JVM or worker behind. The parent side turns SIGTERM and
SIGHUP into ``KeyboardInterrupt`` (``interrupt_on_signals``) so that every ``with`` block and
fixture finalizer runs: clusters end TERMINATED, throw-away folders are removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "interrupt_on_signals",
    "is_same_process",
    "popen_reaped",
    "reaped_argv",
    "start_ticks",
    "stat_fields",
    "stop_reaped",
]

REAPER = str(Path(__file__).resolve().parent / "_reaper.py")


def reaped_argv(
    argv: Sequence[str], *, grace: float = 1.0, cleanup: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """``argv`` run under the reaper, which must be started by this process (it checks that
    its parent is this pid). ``cleanup``: folders the reaper removes if it is signalled or its
    parent dies (not when the command ends by itself)."""
    if not argv:
        raise ValueError("reaped_argv: empty argv")
    extra: list[str] = []
    for folder in cleanup:
        extra += ["--cleanup", os.fspath(folder)]
    return [sys.executable, "-I", REAPER, str(os.getpid()), str(grace), *extra, "--",
            *map(str, argv)]  # fmt: skip


def popen_reaped(
    argv: Sequence[str],
    *,
    grace: float = 1.0,
    cleanup: Iterable[str | os.PathLike[str]] = (),
    **popen_kwargs: Any,
) -> subprocess.Popen:
    """``subprocess.Popen`` of ``argv`` under a reaper in a new session (a terminal's Ctrl-C
    reaches the harness, which stops its children in order, not the children directly).

    The parent-death signal is tied to the calling *thread*: call this from a thread that lives
    as long as the process should (the main thread, or the thread that waits for it)."""
    popen_kwargs["start_new_session"] = True
    return subprocess.Popen(reaped_argv(argv, grace=grace, cleanup=cleanup), **popen_kwargs)


def stop_reaped(proc: subprocess.Popen, *, grace: float = 1.0, timeout: float = 10.0) -> int:
    """Ask the reaper to end its tree (SIGTERM, SIGKILL after its own grace) and wait for it;
    SIGKILL the reaper's group if it does not answer within ``grace + timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace + timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...; field 3 of
    proc(5) is index 0), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    # "pid (comm) state ppid ..." -- comm may hold spaces and parentheses: split after the last ")".
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if there is no such process.

    With the pid it names one process. A pid read back later (from a state file) may name
    another one: pids are reused, and with Linux's default of 32768 a busy machine goes round
    them in well under an hour (seen: about every 30 minutes here under the test suite)."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def is_same_process(pid: int, ticks: int | None) -> bool:
    """``pid`` is alive (not a zombie) and is the process that started at ``ticks``."""
    fields = stat_fields(pid)
    return (fields is not None and fields[0] not in ("Z", "X") and ticks is not None
            and int(fields[19]) == ticks)


class _Interrupted(KeyboardInterrupt):
    """A SIGTERM/SIGHUP turned into KeyboardInterrupt (carries the signal number)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


#: How often a main thread blocked on a pipe wakes to run a pending signal handler.
SIGNAL_CHECK_S = 0.2


def pipe_lines(fd: int) -> Iterator[bytes]:
    """The lines of the pipe ``fd`` (each without its newline) until EOF; closes ``fd``.

    A signal the kernel delivers to another thread of this process (any thread that does not
    block it may get a process-directed signal) only sets a flag for the main thread: a main
    thread blocked in ``read()`` would not run its handler until the pipe spoke again, so a
    SIGTERM during a long silent wait was lost (seen: ``harness run`` ignoring SIGTERM while a
    step ran). Waiting in ``select`` with a short timeout lets the handler run within
    ``SIGNAL_CHECK_S`` seconds whichever thread got the signal."""
    import select

    pending = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], SIGNAL_CHECK_S)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            yield from lines
        if pending:
            yield pending
    finally:
        os.close(fd)


def wait_for(event: threading.Event) -> None:
    """Block the main thread until ``event`` is set by a signal handler, waking every
    ``SIGNAL_CHECK_S`` seconds: a signal delivered to another thread only runs its handler
    once the main thread wakes (see ``pipe_lines``)."""
    while not event.wait(SIGNAL_CHECK_S):
        pass


@contextlib.contextmanager
def interrupt_on_signals(
    signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGHUP),
) -> Iterator[None]:
    """Within the block, ``signals`` raise ``KeyboardInterrupt`` in the main thread (as Ctrl-C
    does), so cleanup code runs. A no-op outside the main thread. Handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if fired:  # already stopping: a second signal must not cut the cleanup short
            return
        fired.append(signum)
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
