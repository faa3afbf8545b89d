"""connect_plan: which spark-submit steps can run on the warm Spark Connect server, and how."""

from __future__ import annotations

import pytest

from harness.emr.connect import connect_plan

SERVER_CONF = {"spark.sql.shuffle.partitions": "2", "spark.sql.session.timeZone": "UTC"}


def _plan(*args: str, env: dict[str, str] | None = None):
    argv = ["/venv/bin/spark-submit", "--master", "local[2]", *args]
    return connect_plan(argv, env or {"PYSPARK_PYTHON": "/venv/bin/python"},
                        server_conf=SERVER_CONF)


def test_a_pyspark_script_runs_as_plain_python_with_its_arguments():
    argv, env, ignored = _plan("--conf", "spark.sql.shuffle.partitions=2", "job.py", "in", "out")
    assert argv == ["/venv/bin/python", "job.py", "in", "out"]
    assert ignored == []
    assert "SPARK_REMOTE" not in env  # the executor adds it once the server is ready


def test_settings_the_shared_server_does_not_have_are_reported():
    _, _, ignored = _plan("--conf", "spark.executor.memory=4g", "--conf",
                          "spark.sql.session.timeZone=UTC", "job.py")
    assert ignored == ["spark.executor.memory"]


def test_py_files_go_on_the_python_path():
    _, env, _ = _plan("--py-files", "a.zip,b.py", "job.py", env={"PYTHONPATH": "/x"})
    assert env["PYTHONPATH"].split(":") == ["a.zip", "b.py", "/x"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--class", "com.x.Main", "app.jar"), "application app.jar is not a Python script"),
        (("--jars", "x.jar", "job.py"), "JVM options --jars need spark-submit"),
        (("--packages", "g:a:1", "job.py"), "JVM options --packages need spark-submit"),
    ],
)
def test_jvm_applications_fall_back_to_spark_submit(args, reason):
    assert _plan(*args) == reason


def test_non_spark_commands_fall_back():
    assert connect_plan(["bash", "-c", "true"], {}, server_conf={}) == "not a spark-submit step"


def test_the_server_runs_at_a_lower_cpu_priority_when_nice_exists(monkeypatch):
    from harness.emr import connect

    monkeypatch.setattr(connect.shutil, "which", lambda name: "/usr/bin/nice")
    assert connect._niced(["java"], 10) == ["/usr/bin/nice", "-n", "10", "java"]
    assert connect._niced(["java"], 0) == ["java"]
    monkeypatch.setattr(connect.shutil, "which", lambda name: None)
    assert connect._niced(["java"], 10) == ["java"]  # no `nice` (e.g. Windows): unchanged
