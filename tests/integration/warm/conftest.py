"""Warm services for the integration tests: `python -m harness up` in a throw-away state folder.

Steps run with `--spark submit` here (no Spark Connect JVM to start): these tests are about the
loop (isolation, edits, busy, stopping), not Spark; the benchmark measures the Spark Connect path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.warm import procs, state

ROOT = Path(__file__).resolve().parents[3]


def harness(*argv: str, warm_dir: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m harness ARGV --warm-dir DIR` from the repository root, output captured."""
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_WARM"}
    return subprocess.run([sys.executable, "-m", "harness", *argv, "--warm-dir", str(warm_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def harness_popen(*argv: str, warm_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_WARM"}
    return subprocess.Popen([sys.executable, "-m", "harness", *argv, "--warm-dir", str(warm_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def wait_for(what: str, condition: Callable[[], object], timeout: float = 300.0) -> object:
    """Poll ``condition`` (fast, bounded) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_warm(warm_dir: Path) -> state.WarmState:
    up = harness("up", "--spark", "submit", "--idle-timeout", "20m", warm_dir=warm_dir)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "warm services up in" in up.stdout, up.stdout
    st = state.read_state(warm_dir)
    assert st is not None and st.status == "ready"
    return st


def stop_warm(warm_dir: Path, st: state.WarmState) -> None:
    """Teardown: `down`, then make sure (and fail if not) that nothing of the tree is left."""
    down = harness("down", warm_dir=warm_dir)
    left = procs.marked_processes(st.marker)
    if left:
        procs.kill_all(left)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not left, f"processes left after down: {left}"


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """(state folder, state) of warm services shared by a test module."""
    warm_dir = tmp_path_factory.mktemp("warm")
    st = start_warm(warm_dir)
    try:
        yield warm_dir, st
    finally:
        if state.read_state(warm_dir) is not None:
            stop_warm(warm_dir, st)
