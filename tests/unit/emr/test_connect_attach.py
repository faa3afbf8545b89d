"""Attaching to a Spark Connect server started elsewhere: the xdist controller's, or the one
HARNESS_SPARK_CONNECT_URL names for every emulator of the process (no JVM in these tests)."""

from __future__ import annotations

import socket
import threading

import pytest

from harness.emr.connect import (
    SERVER_URL_ENV,
    ConnectExecutor,
    SparkConnectError,
    SparkConnectServer,
    executor_from_env,
)
from harness.ports import free_port


@pytest.mark.parametrize("url", ["sc://10.0.0.5:15002", "sc://localhost:15002",
                                 "http://127.0.0.1:15002", "sc://127.0.0.1", "127.0.0.1:1"])
def test_only_a_server_on_loopback_can_be_attached(url):
    with pytest.raises(ValueError, match="sc://127.0.0.1:PORT"):
        SparkConnectServer.attach(url)


def test_an_attached_server_is_ready_once_its_port_is_open_and_is_never_stopped():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"sc://127.0.0.1:{listener.getsockname()[1]}"
        server = SparkConnectServer.attach(url)
        assert server.attached and server.reachable()
        assert server.wait_ready(timeout=10) == url
        server.stop()  # not ours: nothing to stop, and the port stays open
        with socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass
    assert not server.reachable()


def test_an_attached_server_that_never_opens_its_port_fails_wait_ready_in_bounds():
    port = free_port()  # closed again: nothing listens there
    server = SparkConnectServer.attach(f"sc://127.0.0.1:{port}", start_timeout=0.5)
    with pytest.raises(SparkConnectError, match="not (ready|open) after"):
        server.wait_ready()


def test_no_variable_means_the_default_cold_spark_submit():
    assert executor_from_env({}) is None
    assert executor_from_env({SERVER_URL_ENV: " "}) is None


def test_the_variable_names_the_server_of_every_default_executor():
    executor = executor_from_env({SERVER_URL_ENV: "sc://127.0.0.1:15002"})
    assert isinstance(executor, ConnectExecutor)
    assert executor.server.attached and executor.server.url == "sc://127.0.0.1:15002"
    executor.close()  # a server the executor did not start stays up


def test_a_url_off_this_machine_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match=f"^{SERVER_URL_ENV}: not a Spark Connect server"):
        executor_from_env({SERVER_URL_ENV: "sc://spark.example.com:15002"})


def test_the_emulator_takes_its_default_executor_from_the_variable(monkeypatch, tmp_path):
    from harness import EmulatedAWS

    monkeypatch.setenv(SERVER_URL_ENV, "sc://127.0.0.1:15002")
    aws = EmulatedAWS(workdir=tmp_path)  # not started: no server is needed to construct it
    assert isinstance(aws.executor, ConnectExecutor)
    monkeypatch.delenv(SERVER_URL_ENV)
    assert EmulatedAWS(workdir=tmp_path).executor is None
    monkeypatch.setenv(SERVER_URL_ENV, "sc://192.0.2.1:15002")
    with pytest.raises(ValueError, match=SERVER_URL_ENV):
        EmulatedAWS(workdir=tmp_path)


def test_a_failed_attach_quotes_the_servers_log(tmp_path):
    log = tmp_path / "spark-connect.log"
    log.write_text("Error: JAVA_HOME is not set\n")
    server = SparkConnectServer.attach(f"sc://127.0.0.1:{free_port()}", start_timeout=0.3,
                                       log_path=log)
    with pytest.raises(SparkConnectError, match="(?s)server log tail.*JAVA_HOME is not set"):
        server.wait_ready()


def test_the_run_says_its_steps_run_on_the_server_the_variable_names(monkeypatch, tmp_path):
    from harness.backends.embedded import EmbeddedBackend

    monkeypatch.setenv(SERVER_URL_ENV, "sc://127.0.0.1:15002")
    with EmbeddedBackend(workdir=tmp_path) as backend:
        assert backend.describe().endswith(
            "; PySpark steps on the Spark Connect server sc://127.0.0.1:15002 (started "
            f"elsewhere: {SERVER_URL_ENV})"), backend.describe()
    monkeypatch.delenv(SERVER_URL_ENV)
    with EmbeddedBackend(workdir=tmp_path / "cold") as backend:
        assert "Spark Connect" not in backend.describe()  # the default: cold spark-submit


def _run_step(executor: ConnectExecutor, tmp_path) -> tuple[int, str]:
    argv = ["/opt/spark/bin/spark-submit", "--master", "local[2]", "job.py", "in", "out"]
    code = executor.run(argv, {}, tmp_path, tmp_path / "stdout", tmp_path / "stderr",
                        threading.Event())
    return code, (tmp_path / "stderr").read_text()


def test_a_step_fails_naming_a_server_of_the_variable_that_is_not_there(tmp_path):
    executor = executor_from_env({SERVER_URL_ENV: f"sc://127.0.0.1:{free_port()}"})
    assert executor is not None and executor.server.start_timeout == 10.0  # not minutes
    executor.server.start_timeout = 0.3  # the test's own bound: what is tested is the message
    code, stderr = _run_step(executor, tmp_path)
    assert code == 1 and "Spark Connect server at sc://127.0.0.1:" in stderr, stderr


def test_a_step_fails_clearly_when_an_attached_server_went_away(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        executor = ConnectExecutor(server=SparkConnectServer.attach(
            f"sc://127.0.0.1:{listener.getsockname()[1]}"))
        executor.server.wait_ready(timeout=10)  # ready once, as at the session's start
    code, stderr = _run_step(executor, tmp_path)  # the listener is closed now
    assert code == 1
    assert "(started elsewhere) no longer accepts connections" in stderr, stderr
