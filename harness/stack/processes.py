"""Child processes of the stack: started in their own process group, recorded, stopped for sure.

Every process the stack starts goes through `spawn`: a new session (so its whole group can be
signalled, Airflow's own workers included), stdout+stderr to a log file, and a parent-death
signal so that nothing outlives the stack's supervisor even if it is killed with SIGKILL.
`stop_group` is the one way to stop: SIGTERM to the group, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import start_ticks

__all__ = [
    "ChildProcess",
    "StartupError",
    "alive",
    "group_alive",
    "kill_marked",
    "marked_processes",
    "log_tail",
    "spawn",
    "stop_group",
    "wait_until",
]

_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    """A stack component did not come up (the message names it and carries its log tail)."""


def _pdeathsig_preexec(uid: int | None, gid: int | None, pdeathsig: bool) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        if not pdeathsig:
            return
        # After setuid: changing credentials clears the parent-death signal.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass
class ChildProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    #: start time (harness.processes.start_ticks): with the pid, it names this process
    start: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    cwd: str | os.PathLike[str] | None = None,
    uid: int | None = None,
    gid: int | None = None,
    pdeathsig: bool = True,
) -> ChildProcess:
    """Start `argv` in a new session with its output in `log` (appended).

    `pdeathsig`: the child gets SIGTERM when this process dies (off only for the detached
    supervisor of `stack up`, which must outlive the command that started it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(uid, gid, pdeathsig),
        )
    return ChildProcess(name, popen, log, start_ticks(popen.pid))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_members(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state ppid pgrp session ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) members of process group `pgid`."""
    return _group_members(pgid)


def wait_until(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.1
) -> bool:
    """Poll `check` until it is true or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_group(pgid: int, *, timeout: float = 20.0, sig: int = signal.SIGTERM,
               reap: Callable[[], object] | None = None) -> bool:
    """SIGTERM the whole group, wait up to `timeout`, then SIGKILL; True when none is left."""

    def gone() -> bool:
        if reap is not None:
            reap()
        return not group_alive(pgid)

    if gone():
        return True
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return True
    if wait_until(gone, timeout=timeout):
        return True
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return wait_until(gone, timeout=5.0)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


#: Every process the stack starts carries this variable (inherited by all descendants, even
#: those that start their own session), so `stack down` can find whatever is left.
MARKER_VAR = "HARNESS_STACK_ID"


def _process_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (ppid, environ) of every live, non-zombie process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            environ = (entry / "environ").read_bytes()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), environ)
    return table


def marked_processes(stack_id: str, roots: Iterable[int] = ()) -> list[int]:
    """Live processes of the stack: those whose environment has ``HARNESS_STACK_ID=<id>``, and
    every descendant of `roots` (PostgreSQL's and Airflow's processes rewrite their title over
    their environment, so the marker alone does not find them)."""
    needle = f"{MARKER_VAR}={stack_id}".encode()
    table = _process_table()
    me = os.getpid()
    found = {pid for pid, (_, environ) in table.items()
             if pid != me and needle in environ.split(b"\0")}
    found |= {pid for pid in roots if pid in table}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != me:
                found.add(child)
                todo.append(child)
    return sorted(found)


def kill_marked(stack_id: str, roots: Iterable[int] = (), *, timeout: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of the stack; returns those still alive after.

    Every pid seen is tracked until it is dead: once a parent dies, its children are re-parented
    and (with no marker in their environment) no longer found as descendants of `roots`, so
    "nothing marked is left" alone would let a child that has not died yet escape."""
    roots = list(roots)
    seen: set[int] = set()

    def left() -> list[int]:
        seen.update(marked_processes(stack_id, roots))
        return sorted(pid for pid in seen if alive(pid))

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if wait_until(lambda: not left(), timeout=timeout):
            return []
    return left()
