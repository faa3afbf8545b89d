"""Process hygiene for the warm loop (Linux): parent-death signal, child subreaper, and finding
every process of one warm tree by an environment marker.

A minimal, self-contained version of what the daemon needs; ``harness.processes`` (branch
``proc``) wraps single child processes in reapers, this module keeps a whole long-lived tree in
check: every process started under ``harness up`` inherits ``MARKER_ENV`` (children inherit the
environment unless they replace it), so ``down`` can find and end whatever is left even if the
guardian and the daemon were both killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from harness.processes import start_ticks, stat_fields

__all__ = [
    "MARKER_ENV",
    "alive",
    "children_of",
    "kill_all",
    "marked_processes",
    "set_child_subreaper",
    "set_parent_death_signal",
    "start_ticks",
]

MARKER_ENV = "HARNESS_WARM_MARKER"
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {value}): {os.strerror(err)}")


def set_parent_death_signal(sig: int = signal.SIGTERM, *, expected_parent: int | None = None
                            ) -> None:  # fmt: skip
    """Get ``sig`` when the parent dies. If the parent already died (before this call), the
    signal would never come: raise it now, so the caller's handler runs as if it had."""
    _prctl(_PR_SET_PDEATHSIG, int(sig))
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)


def set_child_subreaper() -> None:
    """Orphaned descendants of this process are re-parented to it instead of to init."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def alive(pid: int, ticks: int | None = None) -> bool:
    """The process exists and is not a zombie (and, with ``ticks``, is the same process)."""
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def children_of(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out


def marked_processes(marker: str, *, exclude: Iterable[int] = ()) -> list[int]:
    """Live processes whose environment holds ``MARKER_ENV=marker``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    skip = {os.getpid(), *exclude}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in env.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def kill_all(pids: Iterable[int], *, grace: float = 5.0) -> list[int]:
    """SIGTERM each process (and its process group, if it leads one), SIGKILL what is still
    alive after ``grace`` s; return the pids that survived even that (should be none)."""
    pids = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            _reap()
            time.sleep(0.05)  # bounded fast poll: these are not our children to wait on
        pids = [p for p in pids if alive(p)]
        if not pids:
            break
    return pids


def _reap() -> None:
    """Collect exited children of this process (a subreaper adopts orphans: they are ours)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
