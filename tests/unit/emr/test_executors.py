"""SubprocessExecutor: cancelling a step kills its whole process group."""

import os
import signal
import threading
import time
from pathlib import Path

from harness.emr.executors import SubprocessExecutor


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie waiting to be reaped is dead


def _poll(predicate, bound: float = 10.0) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_cancel_kills_group_members_that_outlive_the_direct_child(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    # The grandchild ignores SIGTERM (like a JVM busy in a shutdown hook); the direct child
    # (bash) dies on it at once.
    script = f"(trap '' TERM; exec sleep 300) & echo $! > {pid_file}.tmp; " \
             f"mv {pid_file}.tmp {pid_file}; wait"  # fmt: skip
    cancel = threading.Event()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            SubprocessExecutor().run(
                ["bash", "-c", script],
                dict(os.environ),
                tmp_path,
                tmp_path / "out",
                tmp_path / "err",
                cancel,
            )  # fmt: skip
        )
    )
    runner.start()
    grandchild = None
    try:
        assert _poll(pid_file.exists), (tmp_path / "err").read_text()
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild)
        cancel.set()
        runner.join(30)
        assert result, "run() did not return after cancel"
        assert _poll(lambda: not _alive(grandchild)), f"process {grandchild} survived the cancel"
    finally:
        cancel.set()
        runner.join(30)
        if grandchild is not None and _alive(grandchild):  # do not leak it when failing
            os.kill(grandchild, signal.SIGKILL)
