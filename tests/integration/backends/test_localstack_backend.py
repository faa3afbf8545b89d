"""The LocalStack backend against a real LocalStack started on this host (no Docker): it binds
loopback only, stops by PID with nothing left behind, dies with its parent, serves S3/IAM/STS/
Logs, and an already running endpoint can be given by URL. Skips (with the reason) where
LocalStack's virtual environment has not been created (`nox -s localstack` creates it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.backends.base import BackendUnavailable
from harness.backends.localstack import LocalStackBackend, LocalStackServer, read_health
from harness.backends.localstack_env import venv_python
from harness.backends.sockets import listening_addresses, off_loopback
from harness.ports import free_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def localstack_python():
    python = venv_python()
    if python is None:
        pytest.skip("LocalStack's virtual environment is not created: run "
                    "`python -m harness.backends.localstack_env` (nox -s localstack does)")
    return python


@pytest.fixture(scope="module")
def server(localstack_python, tmp_path_factory):
    """One LocalStack for the module's read-only checks."""
    with LocalStackServer(workdir=tmp_path_factory.mktemp("localstack")) as server:
        yield server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent has not reaped it yet).
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_it_listens_on_loopback_only(server):
    assert server.proc is not None
    sockets = listening_addresses(server.proc.pid)
    assert ("tcp", "127.0.0.1", server.port) in sockets
    assert off_loopback(server.proc.pid) == []


def test_it_serves_s3_iam_sts_and_logs(server):
    health = read_health(server.url)
    assert health["version"] == "4.13.1"
    for service in ("s3", "iam", "sts", "logs"):
        assert health["services"][service] in ("available", "running"), health
    assert health["services"].get("emr", "disabled") not in ("available", "running")


def test_its_state_stays_under_its_workdir(server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="state-check")
    s3.put_object(Bucket="state-check", Key="k", Body=b"x" * 1024)
    assert (server.workdir / "filesystem").is_dir()
    assert (server.workdir / "s3-storage").is_dir()


def test_without_the_bind_patch_it_would_listen_everywhere(localstack_python, tmp_path):
    """The check that guards every start: with the launcher told to bind every interface (what
    LocalStack does by itself), the start fails and says so."""
    server = LocalStackServer(workdir=tmp_path)
    server._bind_host = "0.0.0.0"
    with pytest.raises(RuntimeError, match=r"listens off loopback: \[\('tcp', '0.0.0.0'"):
        server.start()
    assert server.proc is None  # stopped after the failed start


def test_stop_leaves_no_process(localstack_python, tmp_path):
    server = LocalStackServer(workdir=tmp_path).start()
    assert server.proc is not None
    pid = server.proc.pid
    server.stop()
    assert not _alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # its whole process group is gone
    server.stop()  # idempotent


def test_it_dies_with_the_process_that_started_it(localstack_python, tmp_path):
    """A parent killed with SIGKILL cannot clean up: PR_SET_PDEATHSIG stops LocalStack anyway."""
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from harness.backends.localstack import LocalStackServer
        s = LocalStackServer(workdir={str(tmp_path / 'ls')!r}).start()
        open({str(pid_file)!r}, "w").write(str(s.proc.pid))
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == "ready\n"
        pid = int(pid_file.read_text())
        assert _alive(pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone(pid, timeout=60), f"LocalStack {pid} outlived its parent"


def test_an_endpoint_given_by_url(server, tmp_path):
    with LocalStackBackend(url=server.url, workdir=tmp_path) as backend:
        assert backend.server is None  # nothing started for LocalStack itself
        assert backend.endpoints()["s3"] == server.url
        assert backend.endpoints()["emr"] != server.url  # EMR comes from the harness here
        assert backend.faults is not None
        assert "LocalStack 4.13.1" in backend.describe() and "given by URL" in backend.describe()
        backend.client("s3").create_bucket(Bucket="by-url")
        import boto3

        direct = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        assert "by-url" in [b["Name"] for b in direct.list_buckets()["Buckets"]]
    assert read_health(server.url)  # not stopped: it was not ours


def test_emr_from_localstack_is_refused_when_it_does_not_serve_it(server, tmp_path):
    with pytest.raises(BackendUnavailable, match="does not serve EMR"):
        LocalStackBackend(url=server.url, workdir=tmp_path, emr="localstack").start()


def test_in_docker_or_the_exact_reason_why_not(tmp_path):
    backend = LocalStackBackend(docker=True, workdir=tmp_path)
    try:
        backend.start()
    except BackendUnavailable as exc:
        pytest.skip(f"localstack-docker backend unavailable: {exc}")
    try:
        assert read_health(backend.url)["services"]["s3"] in ("available", "running")
    finally:
        backend.stop()


@pytest.mark.parametrize(("url", "expected"), [
    ("closed-port", "localstack backend unavailable: no LocalStack at http://127.0.0.1:"),
    ("http://10.0.0.5:4566", "localstack backend: the LocalStack URL must be a loopback address"),
])
def test_the_cli_says_why_a_localstack_url_cannot_be_used(tmp_path, url, expected):
    if url == "closed-port":
        url = f"http://127.0.0.1:{free_port()}"  # closed again: nobody listens
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--backend", "localstack", "--localstack-url",
         url, "--workdir", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stdout
