"""The warm daemon's parent: whatever way the daemon ends, nothing it started stays behind.

    python -m harness.warm.guardian STATE_DIR -- DAEMON_ARGV...

Started by ``harness up`` in a new session (so it leads the tree's process group). It makes
itself a child subreaper, so every orphan of the daemon's tree (the Spark Connect JVM and step
processes run in sessions of their own) is re-parented to it, then starts the daemon with a
parent-death signal. When the daemon exits (``down``, idle timeout, crash, SIGKILL), it ends
every process still under it and every process carrying the tree's marker, removes the state
file if it still names this guardian, and exits with the daemon's code. SIGTERM/SIGINT/SIGHUP
are passed to the daemon (a clean stop) and then handled the same way.

Standard library only (it must start fast and cannot fail on the daemon's imports).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.warm import procs, state

#: Seconds the daemon gets to stop its services after a signal before it is killed.
STOP_GRACE = 30.0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m harness.warm.guardian STATE_DIR -- DAEMON_ARGV...",
              file=sys.stderr)  # fmt: skip
        return 2
    directory, daemon_argv = Path(argv[0]), argv[2:]
    procs.set_child_subreaper()
    me = os.getpid()

    def tie_to_guardian() -> None:  # runs in the child between fork and exec
        procs.set_parent_death_signal(signal.SIGTERM, expected_parent=me)

    daemon = subprocess.Popen(daemon_argv, preexec_fn=tie_to_guardian)  # noqa: PLW1509
    print(f"guardian {me}: daemon started (pid {daemon.pid})", flush=True)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(signum)
            print(f"guardian {me}: {signal.Signals(signum).name}: stopping the daemon", flush=True)
            try:
                daemon.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            code = daemon.wait(timeout=STOP_GRACE if stopping else None)
            break
        except subprocess.TimeoutExpired:
            print(f"guardian {me}: the daemon did not stop in {STOP_GRACE:.0f} s: killing it",
                  flush=True)  # fmt: skip
            daemon.kill()
    print(f"guardian {me}: daemon exited with {code}", flush=True)
    return cleanup(directory, code)


def cleanup(directory: Path, code: int) -> int:
    me = os.getpid()
    marker = os.environ.get(procs.MARKER_ENV)
    # Orphans are re-parented here as their parents die: repeat until none is left.
    for _ in range(20):
        left = procs.children_of(me)
        if marker:
            left = sorted({*left, *procs.marked_processes(marker, exclude={me})})
        if not left:
            break
        print(f"guardian {me}: ending what the daemon left: {left}", flush=True)
        survivors = procs.kill_all(left, grace=3.0)
        if survivors:
            print(f"guardian {me}: could not end {survivors}", flush=True)
    procs._reap()
    state.remove_state(directory, owner=me)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
