"""The warm loop's pure parts: state file, liveness, protocol, request building, CLI durations."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import run as pipeline_run
from harness.config import HarnessConfig, S3Uri, Upload
from harness.warm import client, procs, protocol, state
from harness.warm.cli import _duration
from harness.warm.protocol import ProtocolError, RunRequest
from harness.warm.state import Liveness, StateFileError, WarmState


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _state(**kw) -> WarmState:
    base = {"pid": os.getpid(), "socket": "/nowhere/daemon.sock", "marker": "m",
            "pid_start": procs.start_ticks(os.getpid()), "status": "ready",
            "protocol": protocol.PROTOCOL}
    return WarmState(**{**base, **kw})


# -- state file ------------------------------------------------------------------------------
def test_state_round_trips_and_check_sees_a_live_pid(tmp_path):
    st = _state(services={"aws_url": "http://127.0.0.1:1"})
    state.write_state(tmp_path, st)
    assert state.read_state(tmp_path) == st
    live, read, why = state.check(tmp_path)
    assert (live, read, why) == (Liveness.ALIVE, st, "")


def test_no_state_file_is_absent(tmp_path):
    assert state.check(tmp_path)[:2] == (Liveness.ABSENT, None)


def test_a_dead_pid_makes_the_state_stale(tmp_path):
    pid = _dead_pid()
    state.write_state(tmp_path, _state(pid=pid, pid_start=None))
    live, st, why = state.check(tmp_path)
    assert live is Liveness.STALE and st.pid == pid
    assert f"pid {pid}) is gone" in why and "stale" in why


def test_a_reused_pid_is_not_the_recorded_process(tmp_path):
    # Same pid, another start time: the recorded process is gone, someone else has its pid.
    state.write_state(tmp_path, _state(pid_start=procs.start_ticks(os.getpid()) - 1))
    assert state.check(tmp_path)[0] is Liveness.STALE


@pytest.mark.parametrize(("text", "error"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"pid": 5}', "missing field(s): marker, socket"),
    ('{"pid": -1, "socket": "s", "marker": "m"}', "pid must be a positive integer"),
])  # fmt: skip
def test_an_unusable_state_file_says_why(tmp_path, text, error):
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(StateFileError, match=error.replace("(", r"\(").replace(")", r"\)")):
        state.read_state(tmp_path)
    live, _, why = state.check(tmp_path)
    assert live is Liveness.STALE and "unreadable state file" in why


def test_remove_state_only_removes_its_owners_file(tmp_path):
    state.write_state(tmp_path, _state(pid=123456))
    assert not state.remove_state(tmp_path, owner=654321)
    assert (tmp_path / "state.json").exists()
    assert state.remove_state(tmp_path, owner=123456)
    assert not (tmp_path / "state.json").exists()


def test_state_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "env"))
    assert state.state_dir(tmp_path / "arg") == tmp_path / "arg"
    assert state.state_dir() == tmp_path / "env"
    monkeypatch.delenv(state.STATE_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert state.state_dir() == tmp_path / ".harness" / "warm"


# -- protocol ----------------------------------------------------------------------------------
def test_messages_round_trip_and_garbage_is_rejected():
    msg = {"type": "out", "line": "João ✓"}
    assert protocol.decode(protocol.encode(msg)) == msg
    with pytest.raises(ProtocolError, match="not JSON"):
        protocol.decode(b"{oops\n")
    with pytest.raises(ProtocolError, match="not a JSON object"):
        protocol.decode(b"[1]\n")


def _run_args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    pipeline_run.add_arguments(parser)
    args = parser.parse_args([])
    for k, v in kw.items():
        setattr(args, k, v)
    return args


def _config(tmp_path, **kw):
    (tmp_path / "in.csv").write_text("a\n1\n")
    return HarnessConfig(dag_id="d", dags_folder=Path("dags"),
                         uploads=(Upload(Path("in.csv"), S3Uri("b", "input/in.csv")),), **kw)


def test_a_request_from_args_has_absolute_paths_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    req = RunRequest.from_args(_run_args(timings="t.json"),
                               _config(tmp_path, variables={"color": "red"}))
    assert req.dags_folder == str(tmp_path / "dags")
    assert req.uploads == [[str(tmp_path / "in.csv"), "s3://b/input/in.csv"]]
    assert req.timings == str(tmp_path / "t.json")
    assert Path(req.workdir).is_relative_to(tmp_path / ".harness" / "runs")
    assert req.variables == {"color": "red"} and req.client_pid == os.getpid()
    assert RunRequest.from_dict(req.to_dict()) == req
    assert req.config().uploads == (Upload(tmp_path / "in.csv", S3Uri("b", "input/in.csv")),)


@pytest.mark.parametrize(("change", "error"), [
    ({"dags_folder": "dags"}, "dags_folder must be an absolute path"),
    ({"dag_id": ""}, "dag_id must be a non-empty string"),
    ({"variables": {"a": 1}}, "variables must map names to strings"),
    ({"poke_interval": "fast"}, "poke_interval must be a number"),
    ({"uploads": [["in.csv", "s3://b/k"]]}, "uploads must be"),
    ({"surprise": 1}, "unknown field"),
])  # fmt: skip
def test_a_bad_request_is_refused_with_the_reason(tmp_path, change, error):
    good = RunRequest.from_args(_run_args(), _config(tmp_path)).to_dict()
    with pytest.raises(ProtocolError, match=error):
        RunRequest.from_dict({**good, **change})


def test_options_the_warm_loop_cannot_honour_are_named():
    defaults = vars(_run_args())
    args = _run_args()
    assert protocol.unsupported_options(args, defaults) == []
    args.var = ["a=b"]  # a known option: honoured
    args.timeout = 60.0  # known: forwarded to the warm run
    assert protocol.unsupported_options(args, defaults) == []
    args.backend = "localstack"  # the warm services are the embedded emulator only
    args.brand_new = 1  # an option added to `run` later, unknown here
    assert protocol.unsupported_options(args, defaults) == ["--backend", "--brand-new"]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800),
                                               ("2h", 7200), ("0", 0)])  # fmt: skip
def test_durations(text, seconds):
    assert _duration(text) == seconds


def test_a_bad_duration_says_what_it_expects():
    with pytest.raises(argparse.ArgumentTypeError, match="like 90, 90s, 30m or 2h"):
        _duration("soon")


# -- client decisions without a daemon --------------------------------------------------------
def test_run_goes_cold_without_warm_services(tmp_path):
    lines: list[str] = []
    assert client.delegate_run(_run_args(warm_dir=str(tmp_path)), lines.append) is None
    assert lines == []


def test_a_stale_state_file_is_reported_removed_and_the_run_goes_cold(tmp_path):
    state.write_state(tmp_path, _state(pid=_dead_pid(), pid_start=None))
    lines: list[str] = []
    assert client.delegate_run(_run_args(warm_dir=str(tmp_path)), lines.append) is None
    assert "is gone" in lines[0] and "removing it" in lines[0]
    assert lines[-1] == "running cold"
    assert not (tmp_path / "state.json").exists()


def test_no_warm_skips_even_live_services(tmp_path, monkeypatch):
    state.write_state(tmp_path, _state())
    lines: list[str] = []
    assert client.delegate_run(_run_args(warm_dir=str(tmp_path), no_warm=True),
                               lines.append) is None  # fmt: skip
    monkeypatch.setenv(client.NO_WARM_ENV, "1")
    assert client.delegate_run(_run_args(warm_dir=str(tmp_path)), lines.append) is None
    assert lines == [] and (tmp_path / "state.json").exists()


def test_live_services_that_do_not_answer_mean_a_cold_run(tmp_path):
    state.write_state(tmp_path, _state(socket=str(tmp_path / "no.sock")))
    lines: list[str] = []
    assert client.delegate_run(_run_args(warm_dir=str(tmp_path)), lines.append) is None
    assert "do not answer" in lines[-1]


def test_an_unsupported_option_means_a_cold_run_with_a_message(tmp_path):
    state.write_state(tmp_path, _state())
    args = _run_args(warm_dir=str(tmp_path))
    args.backend = "localstack"
    lines: list[str] = []
    assert client.delegate_run(args, lines.append) is None
    assert "--backend is not supported by the warm loop: running cold" in lines[-1]


def test_down_with_a_stale_state_file_cleans_up(tmp_path):
    state.write_state(tmp_path, _state(pid=_dead_pid(), pid_start=None))
    lines: list[str] = []
    assert client.down(directory=tmp_path, out=lines.append) == 0
    assert not (tmp_path / "state.json").exists() and "is gone" in lines[0]


def test_down_when_not_up(tmp_path):
    lines: list[str] = []
    assert client.down(directory=tmp_path, out=lines.append) == 0
    assert lines == [f"warm services are not up (no state file in {tmp_path})"]
