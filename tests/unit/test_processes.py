"""harness.processes / harness/_reaper.py: a reaped process tree never outlives its owner."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def test_helpers_orphaned_by_the_sigkill_are_ended_too(tmp_path):
    pid_file = tmp_path / "pid"
    # The command ignores SIGTERM and starts, in a session of its own, a shell that ignores it
    # too, with a child of its own: only the SIGKILL ends the command, and the shell and then
    # its child are re-parented to the reaper one after the other, after that SIGKILL went out.
    inner = (f"trap '' TERM; sleep 300 & echo $! > {pid_file}.tmp; "
             f"mv {pid_file}.tmp {pid_file}; wait")
    script = f"trap '' TERM; setsid sh -c {shlex.quote(inner)} & wait"
    proc = popen_reaped(["bash", "-c", script], grace=0.5)
    helper = _pid_from(pid_file)
    try:
        assert stop_reaped(proc, grace=0.5) == 128 + signal.SIGTERM
        assert survivors({helper}, bound=10) == set()
    finally:
        if alive(helper):
            os.kill(helper, signal.SIGKILL)


def test_signals_that_arrive_together_do_not_interrupt_the_teardown(tmp_path):
    pid_file, scratch, err = tmp_path / "pid", tmp_path / "scratch", tmp_path / "err"
    scratch.mkdir()
    script = f"trap '' TERM; echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; " \
             "while :; do sleep 0.1; done"  # fmt: skip
    with err.open("w") as fh:
        proc = popen_reaped(["bash", "-c", script], grace=0.5, cleanup=[scratch], stderr=fh)
    child = _pid_from(pid_file)
    # A reaper not scheduled for a while (a loaded machine) finds several signals pending:
    # stopped, it cannot run a handler before all of them are there.
    sent = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        for sig in sent:
            os.kill(proc.pid, sig)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=30) in {128 + s for s in sent}
        assert survivors({child}, bound=10) == set()  # it ignored SIGTERM: SIGKILL got it
        assert not scratch.exists()
        assert err.read_text() == ""  # no traceback, no "signal ignored" warning
    finally:
        if alive(child):  # the reaper failed: do not leave its child behind
            os.kill(child, signal.SIGKILL)


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


def test_pipe_lines_runs_a_signal_handler_when_another_thread_got_the_signal():
    """A process-directed signal may be delivered to any thread; the main thread waiting on a
    silent pipe must still run its handler (it used to sit in read() until the pipe spoke)."""
    import threading

    from harness.processes import pipe_lines

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    main_tid = threading.get_native_id()

    def main_is_waiting() -> bool:
        stat = Path(f"/proc/self/task/{main_tid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "S"

    def signal_from_here() -> None:  # this thread gets the signal, not the main one
        if poll(main_is_waiting, 20, step=0.01):
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

    r, w = os.pipe()
    os.write(w, b'{"a": 1}\n')
    spoke = threading.Event()

    def speak() -> None:  # the safety net of a failing run: the pipe speaks after 20 s
        spoke.set()
        os.write(w, b"late\n")

    unblock = threading.Timer(20, speak)
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        lines = pipe_lines(r)
        assert next(lines) == b'{"a": 1}'
        unblock.start()
        threading.Thread(target=signal_from_here, daemon=True).start()
        with pytest.raises(Interrupted):
            list(lines)
    finally:
        unblock.cancel()
        signal.signal(signal.SIGUSR1, previous)
        os.close(w)
    assert not spoke.is_set(), "the handler ran only once the pipe spoke again"


def test_pipe_lines_gives_every_line_and_a_last_unterminated_one():
    from harness.processes import pipe_lines

    r, w = os.pipe()
    os.write(w, b"one\ntwo\n\nthree")
    os.close(w)
    assert list(pipe_lines(r)) == [b"one", b"two", b"", b"three"]


def test_wait_for_returns_when_another_thread_got_the_signal():
    """`harness serve` and the stack's emulator wait for a signal handler to set an Event."""
    import threading

    from harness.processes import wait_for

    stop = threading.Event()
    main_tid = threading.get_native_id()

    def signal_from_here() -> None:
        if poll(lambda: Path(f"/proc/self/task/{main_tid}/stat").read_text()
                .rsplit(")", 1)[1].split()[0] == "S", 20, step=0.01):
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

    safety_net = threading.Timer(20, stop.set)  # a failing run still ends
    previous = signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    try:
        safety_net.start()
        threading.Thread(target=signal_from_here, daemon=True).start()
        wait_for(stop)
        assert safety_net.is_alive(), "woke only when the safety net set the event"
    finally:
        safety_net.cancel()
        signal.signal(signal.SIGUSR1, previous)
