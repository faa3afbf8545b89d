"""harness.processes / harness/_reaper.py: a reaped process tree never outlives its owner."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from harness.processes import popen_reaped, stop_reaped
from tests.proc_helpers import alive, poll, survivors


def _pid_from(path, bound=30.0) -> int:
    assert poll(lambda: path.exists() and path.read_text().strip(), bound), f"no {path}"
    return int(path.read_text())


def test_exit_code_passes_through():
    assert popen_reaped(["bash", "-c", "exit 3"]).wait(timeout=30) == 3


def test_start_failure_is_127_with_a_message(tmp_path):
    err = tmp_path / "err"
    with err.open("w") as fh:
        code = popen_reaped(["/no/such/binary"], stderr=fh).wait(timeout=30)
    assert code == 127
    assert "failed to start '/no/such/binary'" in err.read_text()


def test_what_a_finished_command_left_behind_is_ended(tmp_path):
    pid_file = tmp_path / "pid"
    # A detached helper in its own session: outside the command's process group.
    script = f"setsid sleep 300 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}"
    proc = popen_reaped(["bash", "-c", script])
    assert proc.wait(timeout=30) == 0
    helper = _pid_from(pid_file)
    assert survivors({helper}, bound=10) == set()


def test_sigterm_ends_the_tree_and_removes_cleanup_folders(tmp_path):
    pid_file, scratch = tmp_path / "pid", tmp_path / "scratch"
    scratch.mkdir()
    script = f"(trap '' TERM; exec sleep 300) & echo $! > {pid_file}.tmp; " \
             f"mv {pid_file}.tmp {pid_file}; wait"  # fmt: skip
    proc = popen_reaped(["bash", "-c", script], grace=0.5, cleanup=[scratch])
    grandchild = _pid_from(pid_file)
    assert stop_reaped(proc, grace=0.5) == 128 + signal.SIGTERM
    assert survivors({grandchild}, bound=10) == set()  # it ignored SIGTERM: SIGKILL got it
    assert not scratch.exists()


def test_tree_dies_with_a_sigkilled_parent(tmp_path):
    pid_file = tmp_path / "pid"
    owner_code = textwrap.dedent(f"""
        import sys
        from harness.processes import popen_reaped
        p = popen_reaped(["bash", "-c", "sleep 300 & echo $! > {pid_file}.tmp; "
                          "mv {pid_file}.tmp {pid_file}; wait"])
        print(p.pid, flush=True)
        sys.stdin.read()
    """)
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        reaper = int(owner.stdout.readline())
        sleeper = _pid_from(pid_file)
        assert alive(reaper) and alive(sleeper)
        owner.kill()  # no chance to clean up: only the parent-death signal is left
        owner.wait(timeout=30)
        assert survivors({reaper, sleeper}, bound=20) == set()
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()
        owner.stdin.close()
        owner.stdout.close()
