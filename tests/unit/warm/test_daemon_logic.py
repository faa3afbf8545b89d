"""The daemon's request handling with a stand-in for the services (no Airflow, no emulator):
one run at a time, busy/queued answers, stop, idle timeout, a failing run, bad requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.warm import client, protocol, state
from harness.warm.daemon import WarmDaemon


class FakeResult:
    def __init__(self, dag_id: str) -> None:
        self.dag_id = dag_id

    def to_dict(self):
        return {"dag_id": self.dag_id}


class FakePipeline:
    """Runs block until released; "explode" as dag id raises."""

    def __init__(self, *, home: Path, spark: str) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.runs: list[str] = []
        self.resets = 0
        self.stopped = False

    def start(self, log):
        return self

    def stop(self):
        self.stopped = True

    @property
    def services(self):
        return {"aws_url": "http://127.0.0.1:1"}

    def run(self, request, out):
        self.runs.append(request.dag_id)
        out(f"running {request.dag_id}")
        self.started.set()
        if request.dag_id == "explode":
            raise RuntimeError("boom")
        assert self.release.wait(30)
        return 0, FakeResult(request.dag_id)

    def reset_account(self):
        self.resets += 1


@pytest.fixture
def daemon(tmp_path):
    pipelines: list[FakePipeline] = []

    def factory(**kw):
        pipelines.append(FakePipeline(**kw))
        return pipelines[-1]

    d = WarmDaemon(state_dir=tmp_path, socket_path=tmp_path / "s.sock", idle_timeout=0,
                   spark="submit", marker="m", pipeline_factory=factory)  # fmt: skip
    thread = threading.Thread(target=d.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    st = None
    while time.monotonic() < deadline:
        st = state.read_state(tmp_path)
        if st is not None and st.status == "ready":
            break
        time.sleep(0.01)
    assert st is not None and st.status == "ready"
    yield d, st, pipelines[0], thread
    d.stop()
    thread.join(10)


def _req(tmp_path, dag_id="d", **kw):
    return protocol.RunRequest(dag_id=dag_id, dags_folder=str(tmp_path),
                               workdir=str(tmp_path / "w"), poke_interval=0.2,
                               **kw).to_dict()  # fmt: skip


def _run_in_thread(st, req, wait=True):
    box: dict = {}

    def go():
        box["answers"] = list(client.request(st, {"op": "run", "request": req, "wait": wait},
                                             timeout=30))  # fmt: skip

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def _wait_idle(st, bound: float = 10.0) -> None:
    """"done" is sent before the daemon leaves the run's reset phase (busy until then, by
    design): poll, bounded, until it is idle."""
    deadline = time.monotonic() + bound
    while client.ping(st)["busy"]:
        assert time.monotonic() < deadline, f"still busy {bound} s after the run was done"
        time.sleep(0.01)


def test_one_run_at_a_time_busy_queued_then_done(daemon, tmp_path):
    d, st, pipe, _ = daemon
    assert client.ping(st)["status"] == "ready"
    first, box1 = _run_in_thread(st, _req(tmp_path, "first", client_pid=111))
    assert pipe.started.wait(10)
    busy = list(client.request(st, {"op": "run", "request": _req(tmp_path), "wait": False},
                               timeout=10))  # fmt: skip
    assert [a["type"] for a in busy] == ["busy"]
    assert busy[0]["busy_with"]["dag_id"] == "first" and busy[0]["busy_with"]["client_pid"] == 111
    second, box2 = _run_in_thread(st, _req(tmp_path, "second"))
    deadline = time.monotonic() + 10
    while (client.ping(st) or {}).get("waiting") != 1:
        assert time.monotonic() < deadline, "the second run was never queued"
        time.sleep(0.01)
    assert client.ping(st)["busy"] is True
    pipe.release.set()
    first.join(10)
    second.join(10)
    assert box1["answers"] == [{"type": "out", "line": "running first"},
                               {"type": "done", "code": 0, "result": {"dag_id": "first"}}]
    assert [a["type"] for a in box2["answers"]] == ["queued", "out", "done"]
    _wait_idle(st)  # the second run's reset follows its "done"
    assert pipe.runs == ["first", "second"] and pipe.resets == 2


def test_keep_state_skips_the_reset(daemon, tmp_path):
    d, st, pipe, _ = daemon
    pipe.release.set()
    code, result = client.run_request(st, protocol.RunRequest.from_dict(
        _req(tmp_path, keep_state=True)), lambda line: None)  # fmt: skip
    assert (code, result) == (0, {"dag_id": "d"})
    _wait_idle(st)
    assert pipe.resets == 0


def test_a_failing_run_is_reported_and_the_daemon_survives(daemon, tmp_path):
    d, st, pipe, _ = daemon
    lines: list[str] = []
    code, result = client.run_request(st, protocol.RunRequest.from_dict(
        _req(tmp_path, "explode")), lines.append)  # fmt: skip
    assert (code, result) == (1, None)
    assert "warm run failed: RuntimeError('boom')" in lines[1]
    assert client.ping(st)["status"] == "ready"


def test_bad_requests_get_an_error(daemon, tmp_path):
    _, st, _, _ = daemon
    assert list(client.request(st, {"op": "dance"}, timeout=10)) == [
        {"type": "error", "message": "unknown op 'dance'"}]
    answer = list(client.request(st, {"op": "run", "request": {"dag_id": "x"}}, timeout=10))
    assert answer[0]["type"] == "error" and "must be a non-empty string" in answer[0]["message"]


def test_stop_ends_serve_and_cleans_up(daemon, tmp_path):
    d, st, pipe, thread = daemon
    assert [a["type"] for a in client.request(st, {"op": "stop"}, timeout=10)] == ["stopping"]
    thread.join(10)
    assert not thread.is_alive() and pipe.stopped
    assert not Path(st.socket).exists()


def test_idle_timeout_stops_the_daemon(tmp_path):
    d = WarmDaemon(state_dir=tmp_path, socket_path=tmp_path / "s.sock", idle_timeout=0.3,
                   spark="submit", marker="m", pipeline_factory=FakePipeline)  # fmt: skip
    thread = threading.Thread(target=d.serve, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "still serving long after its idle timeout"
    assert not (tmp_path / "s.sock").exists()
