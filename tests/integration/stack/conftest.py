"""The stack under test: `python -m harness stack up` in a throw-away state dir, on a free port.

One stack per module (the browser test and the scenarios share the default one; the deferrable
scenario starts its own): starting it costs about a minute. Teardown runs `stack down` and
checks that no process of the stack is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.ports import free_port
from harness.stack.api import AirflowApi
from harness.stack.emulator import EmulatorProcess
from harness.stack.processes import marked_processes

ROOT = Path(__file__).resolve().parents[3]
UP_TIMEOUT_S = 1200


@dataclass
class RunningStack:
    state_dir: Path
    status: dict[str, Any]
    state: dict[str, Any]
    api: AirflowApi
    backend: EmulatorProcess

    @property
    def url(self) -> str:
        return self.status["url"]


def _cli(state_dir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "stack", "--state-dir", str(state_dir), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def start_stack(state_dir: Path, *extra: str) -> Iterator[RunningStack]:
    up = _cli(state_dir, "up", "--port", str(free_port()), *extra, timeout=UP_TIMEOUT_S)
    try:
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
        status = _cli(state_dir, "status", "--json", timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        info = json.loads(status.stdout)
        assert set(info) >= {"url", "username", "password"}
        state = json.loads((state_dir / "state.json").read_text())
        api = AirflowApi(info["url"], info["username"], info["password"])
        backend = EmulatorProcess(ready=state["backend"])
        yield RunningStack(state_dir, info, state, api, backend)
    finally:
        state = json.loads((state_dir / "state.json").read_text()) \
            if (state_dir / "state.json").exists() else None
        down = _cli(state_dir, "down", timeout=300)
        assert down.returncode == 0, f"stack down failed:\n{down.stdout}\n{down.stderr}"
        if state:
            roots = [state["supervisor_pid"]] + [p["pid"] for p in state["processes"]]
            assert marked_processes(state["stack_id"], roots) == [], "processes left"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from start_stack(tmp_path_factory.mktemp("stack") / "state")
