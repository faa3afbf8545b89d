"""harness.fast_exit: a finished command's process ends with its code, its output flushed and
its exit handlers run, without the interpreter's teardown; a command that raised ends as usual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import atexit, sys
from harness import fast_exit
fast_exit.install()
atexit.register(print, "handler ran")

class Teardown:
    def __del__(self):
        print("torn down")

keep = Teardown()  # freed only by the interpreter's teardown
print("partial line", end="")
sys.stderr.write("to stderr")
if sys.argv[1] == "done":
    fast_exit.done(3)
    raise SystemExit(3)
raise RuntimeError("the command failed")
"""


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_a_finished_command_skips_the_teardown_but_keeps_its_output_and_handlers():
    proc = run("done")
    assert proc.returncode == 3
    assert proc.stdout.startswith("partial line") and "handler ran" in proc.stdout
    assert "torn down" not in proc.stdout  # the teardown was skipped
    assert proc.stderr == "to stderr"


def test_a_command_that_raised_ends_as_usual():
    proc = run("raise")
    assert proc.returncode == 1
    assert "RuntimeError: the command failed" in proc.stderr
    assert "handler ran" in proc.stdout and "torn down" in proc.stdout
