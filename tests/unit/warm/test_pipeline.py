"""harness.warm.pipeline without Airflow or a JVM: which warm Spark the daemon uses."""

from __future__ import annotations

import pytest

from harness.emr.connect import SERVER_URL_ENV
from harness.warm.pipeline import WarmPipeline, spark_executor


def test_a_server_named_by_the_environment_is_used_and_never_stopped(monkeypatch, tmp_path):
    monkeypatch.setenv(SERVER_URL_ENV, "sc://127.0.0.1:15002")
    lines: list[str] = []
    executor = spark_executor(tmp_path, lines.append)
    assert executor.server.attached and executor.server.url == "sc://127.0.0.1:15002"
    assert lines == [f"Spark Connect server sc://127.0.0.1:15002: started elsewhere "
                     f"({SERVER_URL_ENV}); `down` leaves it running"]
    with executor:  # what `down` does with it: the attached server is not stopped
        pass
    assert not (tmp_path / "spark-connect.log").exists()  # no server of its own was started


def test_a_server_off_this_machine_fails_the_start(monkeypatch, tmp_path):
    monkeypatch.setenv(SERVER_URL_ENV, "sc://203.0.113.9:15002")
    with pytest.raises(ValueError, match=SERVER_URL_ENV):
        spark_executor(tmp_path, print)


def test_only_connect_or_submit_spark(tmp_path):
    with pytest.raises(ValueError, match="'connect' or 'submit'"):
        WarmPipeline(home=tmp_path, spark="yarn")
