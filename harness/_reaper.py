"""A tiny supervisor between the harness and each process tree it starts (stdlib only).

    python -I _reaper.py PARENT_PID GRACE [--cleanup DIR]... -- ARGV...

It runs ARGV in a new process group and makes sure nothing of that tree outlives it:

- it asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``; the kernel sends
  it when the parent *thread* that started the reaper exits, which is why the harness starts
  reapers from threads that live as long as the step) and becomes a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), so descendants that detach (double fork, setsid) are
  re-parented to it instead of to init;
- on SIGTERM, SIGINT or SIGHUP (or its parent's death) it sends SIGTERM to the whole tree,
  waits up to GRACE seconds, sends SIGKILL to what is left (descendants re-parented to it
  meanwhile included), removes the ``--cleanup`` folders and exits 128 + the signal number;
  signals after the first are ignored, even several arriving at once;
- when ARGV's process exits by itself, whatever it left behind gets the same treatment and the
  reaper exits with ARGV's exit code.

Run with ``-I``: no user site, no PYTHONPATH (no sitecustomize), so it starts in ~20 ms.
Linux only (the prctl calls); elsewhere it still forwards signals to the group.
"""

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_pending: list[int] = []
_armed = False  # raise at once, or remember until the child's pid is known
_stopping = False  # the teardown started: later signals are ignored


def _stop(signum: int) -> _Stop:
    """The exception that starts the teardown; every stop signal after it is ignored. Signals
    that arrive together (the reaper was not scheduled for a while) run their handlers one
    after the other: a second one raised inside the ``except`` would skip the teardown."""
    global _stopping
    _stopping = True
    return _Stop(signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _stopping:
        return  # the teardown is under way: nothing may interrupt it
    if _armed:
        raise _stop(signum)
    _pending.append(signum)


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _close_inherited_fds() -> None:
    """Keep only stdin/stdout/stderr: fds passed through to the child are the child's."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass


def _children() -> list[int]:
    """Pids whose parent is this process (direct children and re-parented orphans)."""
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _reap_all() -> bool:
    """Collect every exited child without blocking; False when no child is left at all."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _signal_children(sig: signal.Signals, done: set[int]) -> None:
    """`sig` to each child not in `done` yet (then added to it)."""
    for pid in _children():
        if pid not in done:
            done.add(pid)
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _tree_alive(pgid: int) -> bool:
    if _reap_all():
        return True
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _end_tree(pgid: int, grace: float) -> None:
    """SIGTERM, up to `grace` seconds for the tree to go, then SIGKILL.

    A descendant outside the group (its own session) whose parent dies meanwhile is re-parented
    here (child subreaper) after the signal went out: each poll signals such newcomers too,
    else one orphaned by the SIGKILL itself would outlive us."""
    for sig, bound in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        signalled: set[int] = set()
        _signal_children(sig, signalled)
        deadline = time.monotonic() + bound
        while _tree_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)  # bounded fast poll: no portable way to wait for a process group
            _signal_children(sig, signalled)


def main(args: list[str]) -> int:
    global _armed
    parent, grace = int(args[0]), float(args[1])
    rest = args[2:]
    cleanup: list[str] = []
    while rest and rest[0] == "--cleanup":
        cleanup.append(rest[1])
        rest = rest[2:]
    if not rest or rest[0] != "--" or len(rest) < 2:
        sys.stderr.write("usage: _reaper.py PARENT_PID GRACE [--cleanup DIR]... -- ARGV...\n")
        return 2
    argv = rest[1:]
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    proc = None
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        if os.getppid() != parent:  # the parent died before the request was made
            _pending.append(signal.SIGTERM)
        if _pending:
            raise _stop(_pending[0])
        try:
            proc = subprocess.Popen(argv, process_group=0, close_fds=False)
        except OSError as exc:
            sys.stderr.write(f"failed to start {argv[0]!r}: {exc}\n")
            return 127
        _close_inherited_fds()  # e.g. a pipe's write end: its reader must see EOF
        _armed = True
        if _pending:
            raise _stop(_pending[0])
        code = proc.wait()
        _end_tree(proc.pid, grace)  # anything the process left behind
        return 128 - code if code < 0 else code
    except _Stop as stop:  # every stop signal is ignored from here on (_stop)
        if proc is not None:
            _end_tree(proc.pid, grace)
        for folder in cleanup:
            shutil.rmtree(folder, ignore_errors=True)
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
