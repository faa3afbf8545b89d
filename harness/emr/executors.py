"""How a step's local command is run. Pluggable: the runtime takes any `StepExecutor`.

`SubprocessExecutor` (the default) runs the argv under a reaper (`harness.processes`) in its
own session, streams stdout/stderr to files, and ends the step's whole process tree when the
step is cancelled, its cluster terminated, or the harness process dies. Another executor
(e.g. one backed by a warm Spark Connect server) only has to implement `run()`;
`harness.emr.steps.split_spark_submit` parses the argv of a spark-submit step (the step's
merged Spark conf is already in that argv as `--conf` flags).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.processes import popen_reaped, stop_reaped

__all__ = ["StepExecutor", "SubprocessExecutor"]


@runtime_checkable
class StepExecutor(Protocol):
    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        stdout_path: Path,
        stderr_path: Path,
        cancel_event: threading.Event,
    ) -> int:
        """Run the step to completion and return its exit code.

        Must return promptly once `cancel_event` is set (`SubprocessExecutor`: within its
        `kill_grace`, 1 s by default); the return code is then ignored and the step is
        reported CANCELLED.
        """
        ...


class SubprocessExecutor:
    """Run the step as a local process (spark-submit, bash, aws, python ...).

    On cancel the step's process tree gets SIGTERM, then, after at most `kill_grace` seconds
    (less if it exits earlier), SIGKILL: nothing the step started (a JVM, a daemonised helper)
    outlives it. The same happens when the harness process dies (even by SIGKILL), and to
    whatever a step leaves behind when it ends by itself.

    `run()` must be called from a thread that lives until it returns (the kernel's
    parent-death signal is tied to the thread that started the process)."""

    def __init__(self, *, kill_grace: float = 1.0) -> None:
        self.kill_grace = kill_grace

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        stdout_path: Path,
        stderr_path: Path,
        cancel_event: threading.Event,
    ) -> int:
        with stdout_path.open("ab") as out, stderr_path.open("ab") as err:
            try:
                proc = popen_reaped(
                    argv,
                    grace=self.kill_grace,
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                )
            except OSError as exc:
                err.write(f"failed to start {argv[0]!r}: {exc}\n".encode())
                return 127
            # The process ending wakes us at once; a cancel is noticed within 50 ms.
            done = threading.Event()

            def wait_then_signal() -> None:
                proc.wait()
                done.set()

            waiter = threading.Thread(target=wait_then_signal, daemon=True)
            waiter.start()
            while not done.wait(0.05):
                if cancel_event.is_set():
                    self._kill(proc)
                    break
            waiter.join()
            return proc.returncode

    def _kill(self, proc: subprocess.Popen) -> None:
        stop_reaped(proc, grace=self.kill_grace)
