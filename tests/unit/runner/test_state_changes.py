"""The emulator's EMR state changes, forwarded to a waiting sensor over a pipe
(harness.airflow.state_changes) and announced by the runtime (EmrRuntime.on_state_change)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from harness.airflow.state_changes import StateChanges, forward_changes, runtime_of


class FakeRuntime:
    def __init__(self) -> None:
        self.listeners: list = []

    def on_state_change(self, callback):
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def change(self) -> None:
        for callback in list(self.listeners):
            callback()


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        try:
            os.close(fd)
        except OSError:
            pass


def test_a_change_ends_the_wait_and_clear_forgets_it(pipe):
    read_fd, write_fd = pipe
    runtime = FakeRuntime()
    remove = forward_changes(runtime, write_fd)
    changes = StateChanges(read_fd)
    assert changes.wait(0.01) is False  # nothing changed
    runtime.change()
    assert changes.wait(5) is True
    changes.clear()
    assert changes.wait(0.01) is False
    remove()
    runtime.change()  # no longer forwarded
    assert changes.wait(0.01) is False


def test_a_change_from_another_thread_wakes_a_waiter_at_once(pipe):
    read_fd, write_fd = pipe
    runtime = FakeRuntime()
    forward_changes(runtime, write_fd)
    changes = StateChanges(read_fd)
    timer = threading.Timer(0.05, runtime.change)
    timer.start()
    t = time.monotonic()
    assert changes.wait(30) is True
    timer.join()
    assert time.monotonic() - t < 25  # woken by the change, not the bound


def test_forwarding_never_blocks_the_runtime_on_a_full_or_closed_pipe(pipe):
    read_fd, write_fd = pipe
    runtime = FakeRuntime()
    forward_changes(runtime, write_fd)
    for _ in range(100_000):  # more bytes than a pipe holds: the writes past it are dropped
        runtime.change()
    assert StateChanges(read_fd).wait(0) is True
    os.close(read_fd)
    runtime.change()  # the worker is gone: ignored


def test_only_the_harness_runtime_is_forwarded():
    runtime = FakeRuntime()
    assert runtime_of(type("EmulatedAWS", (), {"runtime": runtime})()) is runtime
    backend = type("Backend", (), {"emulator": type("E", (), {"runtime": runtime})()})()
    assert runtime_of(backend) is runtime
    assert runtime_of("http://127.0.0.1:4566") is None  # a bare endpoint: fixed polling
    assert runtime_of(type("AwsBackend", (), {"emulator": None})()) is None
