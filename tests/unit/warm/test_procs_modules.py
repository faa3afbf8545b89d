"""Finding and ending a marked process tree; forgetting modules loaded from a DAG folder."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from harness.warm import procs
from harness.warm.pipeline import drop_modules_under


def test_marked_processes_are_found_and_ended():
    marker = uuid.uuid4().hex
    # A process in a session of its own (as a step or the Spark Connect JVM): found by marker.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
        env={**os.environ, procs.MARKER_ENV: marker}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, start_new_session=True,
    )
    try:
        # Popen returns once exec has begun, but the kernel sets up the new program's
        # environment block a moment later: until then /proc/PID/environ reads empty (seen
        # under load). Wait for the child to say it runs.
        assert proc.stdout.readline() == b"up\n"
        assert procs.marked_processes(marker) == [proc.pid]
        assert procs.marked_processes(uuid.uuid4().hex) == []
        assert procs.alive(proc.pid, procs.start_ticks(proc.pid))
        assert procs.kill_all([proc.pid], grace=5.0) == []
        proc.wait(timeout=10)
        assert not procs.alive(proc.pid)
        assert procs.marked_processes(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_children_of_lists_live_children():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.pid in procs.children_of(os.getpid())
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in procs.children_of(os.getpid())


def test_drop_modules_under_forgets_only_that_folder(tmp_path, monkeypatch):
    (tmp_path / "warm_helper_mod.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import warm_helper_mod  # noqa: F401

    assert "warm_helper_mod" in sys.modules
    assert drop_modules_under(tmp_path) == ["warm_helper_mod"]
    assert "warm_helper_mod" not in sys.modules
    assert "os" in sys.modules
