"""Process-tree helpers for tests that check nothing outlives the harness (reads /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie waiting to be reaped is dead


def exe_name(pid: int) -> str | None:
    """The executable's file name, or None if the process is gone (short-lived helpers such as
    the shell tools spark-submit runs can exit between listing /proc and reading it)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return None


def _ppids() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(entry)] = int(fields[1])
    return out


def descendants(pid: int) -> set[int]:
    """Every process below `pid` right now."""
    parents = _ppids()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def with_marker(marker: str) -> set[int]:
    """Live processes whose command line or environment contains `marker`."""
    raw = marker.encode()
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                if raw in Path(f"/proc/{entry}/{part}").read_bytes():
                    if alive(int(entry)):
                        pids.add(int(entry))
                    break
            except OSError:
                continue
    return pids


def poll(predicate: Callable[[], object], bound: float = 30.0, step: float = 0.02) -> bool:
    """Poll `predicate` fast until it is true or `bound` seconds passed."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def survivors(pids: set[int], bound: float = 30.0) -> set[int]:
    """The pids still alive after waiting up to `bound` seconds for all to go."""
    poll(lambda: not any(alive(p) for p in pids), bound)
    return {p for p in pids if alive(p)}


#: A cheap step that starts a grandchild, says it is running (touches argv[1]) and then blocks
#: for good reading a FIFO nobody writes (argv[2]); argv[3] is a marker for `with_marker`.
BLOCKING_STEP_CODE = (
    "import subprocess, sys; subprocess.Popen(['sleep', '600']); "
    "open(sys.argv[1], 'w').close(); open(sys.argv[2]).read()"
)


def blocking_step_args(ready: Path, fifo: Path, marker: str) -> list[str]:
    """command-runner.jar args of the blocking step (creates the FIFO)."""
    if not fifo.exists():
        os.mkfifo(fifo)
    return ["python3", "-c", BLOCKING_STEP_CODE, str(ready), str(fifo), marker]


def read_line(stream, timeout: float) -> str:
    """One line from `stream`, or '' if none came within `timeout` seconds."""
    import threading

    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else ""


@contextlib.contextmanager
def sigint_reaches_children() -> Iterator[None]:
    """Children started inside get SIGINT's default disposition, so a test's SIGINT acts as a
    Ctrl-C would, even when this process ignores SIGINT: a background job of a
    non-interactive shell (`cmd &`, `nohup cmd &`) starts with SIGINT ignored, an ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler.
    A handled signal is reset to the default on exec, so handling it here for the moment of
    the spawn is enough."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
