"""`python -m harness stack` without a running stack: clear answers, right exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import start_ticks


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "stack", "--state-dir", str(tmp_path / "s"), *args],
        capture_output=True, text=True, timeout=120, check=False)


def test_status_json_without_a_stack(tmp_path: Path) -> None:
    result = _cli(tmp_path, "status", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"status": "absent"}


def test_down_without_a_stack_is_a_no_op(tmp_path: Path) -> None:
    result = _cli(tmp_path, "down")
    assert result.returncode == 0 and "nothing to stop" in result.stdout


def test_status_of_a_stack_whose_supervisor_is_gone(tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (state_dir / "state.json").write_text(json.dumps({
        "status": "ready", "stack_id": "x", "supervisor_pid": int(dead),
        "url": "http://127.0.0.1:1", "username": "admin", "password": "p", "home": "h",
        "processes": []}))
    result = _cli(tmp_path, "status", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "stopped"


def _state(state_dir: Path, **fields: object) -> None:
    state_dir.mkdir(exist_ok=True)
    (state_dir / "state.json").write_text(json.dumps({
        "status": "ready", "stack_id": "x", "url": "http://127.0.0.1:1", "username": "admin",
        "password": "p", "home": "h", **fields}))


@pytest.mark.parametrize("recorded", ["another start time", "no start time (older state)"])
def test_a_stale_states_pids_reused_by_another_process_are_left_alone(tmp_path: Path,
                                                                      recorded: str) -> None:
    # After a crash the recorded pids can name unrelated processes (pids are reused): neither
    # `down` nor `status` may take such a process for the stack's, let alone signal it.
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        ticks = start_ticks(bystander.pid)
        assert ticks is not None
        start = {"supervisor_start": ticks - 1} if recorded == "another start time" else {}
        proc_start = {"start": ticks - 1} if start else {}
        _state(tmp_path / "s", supervisor_pid=bystander.pid, **start, processes=[
            {"name": "postgres", "pid": bystander.pid, "log": "l", **proc_start}])
        status = _cli(tmp_path, "status", "--json")
        assert json.loads(status.stdout)["status"] == "stopped", status.stdout
        down = _cli(tmp_path, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "0 processes" in down.stdout, down.stdout
        assert bystander.poll() is None, "down signalled a process that only reused a pid"
    finally:
        bystander.kill()
        bystander.wait()


def test_down_stops_a_recorded_process_that_is_still_the_same(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = subprocess.Popen(["sleep", "300"], start_new_session=True)  # what a crash left
    try:
        _state(tmp_path / "s", supervisor_pid=int(dead), supervisor_start=1, processes=[
            {"name": "postgres", "pid": left.pid, "start": start_ticks(left.pid), "log": "l"}])
        down = _cli(tmp_path, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert left.wait(timeout=30) == -signal.SIGTERM
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()
