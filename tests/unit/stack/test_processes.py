"""The stack's process hygiene: groups stopped for sure, stray processes found, parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from harness.stack.processes import (
    MARKER_VAR,
    alive,
    kill_marked,
    marked_processes,
    spawn,
    stop_group,
    wait_until,
)


def _env(stack_id: str) -> dict[str, str]:
    return {**os.environ, MARKER_VAR: stack_id}


def test_stop_group_stops_a_tree_that_ignores_sigterm(tmp_path: Path) -> None:
    # The child traps SIGTERM and has a grandchild: only SIGKILL after the bound ends both.
    child = spawn("tree", ["bash", "-c", "trap '' TERM; sleep 300 & wait"],
                  env=_env("t1"), log=tmp_path / "tree.log")
    assert wait_until(lambda: len(marked_processes("t1", [child.pid])) >= 2, timeout=10)
    members = marked_processes("t1", [child.pid])
    assert stop_group(child.pid, timeout=1, reap=child.popen.poll)
    assert not any(alive(pid) for pid in members)


def test_marked_processes_finds_a_descendant_that_left_the_group(tmp_path: Path) -> None:
    stack_id = uuid.uuid4().hex
    # A grandchild in its own session, and its environment cleared: found as a descendant.
    script = ("import os, subprocess, sys, time; "
              "subprocess.Popen(['sleep', '300'], start_new_session=True, env={}); "
              "time.sleep(300)")
    child = spawn("parent", [sys.executable, "-c", script], env=_env(stack_id),
                  log=tmp_path / "p.log")
    try:
        assert wait_until(lambda: len(marked_processes(stack_id, [child.pid])) == 2, timeout=20)
        stray = [p for p in marked_processes(stack_id, [child.pid]) if p != child.pid][0]
        assert os.getpgid(stray) != child.pid  # stop_group alone would miss it
        assert kill_marked(stack_id, [child.pid]) == []
        assert not alive(stray) and not alive(child.pid)
    finally:
        child.popen.kill()
        child.popen.wait()


def test_children_die_with_their_parent(tmp_path: Path) -> None:
    # A middle process spawns a child through `spawn`, then is SIGKILLed: the child follows.
    pidfile = tmp_path / "child.pid"
    script = (
        "import os, sys, time; from pathlib import Path; "
        "from harness.stack.processes import spawn; "
        f"c = spawn('c', ['sleep', '300'], env=dict(os.environ), log=Path({str(tmp_path)!r}) / "
        f"'c.log'); Path({str(pidfile)!r}).write_text(str(c.pid)); time.sleep(300)")
    middle = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert wait_until(pidfile.exists, timeout=30)
        child_pid = int(pidfile.read_text())
        assert alive(child_pid)
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        assert wait_until(lambda: not alive(child_pid), timeout=10), "child outlived its parent"
    finally:
        middle.kill()
        middle.wait()
        if pidfile.exists() and alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_wait_until_is_bounded() -> None:
    started = time.monotonic()
    assert wait_until(lambda: False, timeout=0.3, interval=0.05) is False
    assert time.monotonic() - started < 30  # bounded, not a timing claim
