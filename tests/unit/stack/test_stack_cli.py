"""`python -m harness stack` without a running stack: clear answers, right exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


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
