"""An emulated spark-submit step's JVM options: quick for test-sized data, the JVM's defaults
for large inputs, the user's own when HARNESS_SPARK_JAVA_OPTIONS is set (even empty)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness import spark as hs
from harness.endpoint import EmulatedAWS
from harness.spark_cds import CACHE_DIR_ENV, archive_path

pytest.importorskip("pyspark", reason="pyspark ships with the `spark` extra")


class RecordingExecutor:
    """Keeps each step's environment; runs nothing."""

    def __init__(self) -> None:
        self.envs: list[dict[str, str]] = []

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, stdout_path: Path,
            stderr_path: Path, cancel_event: threading.Event) -> int:  # fmt: skip
        self.envs.append(dict(env))
        return 0


def run_step(tmp_path: Path, input_bytes: int) -> tuple[dict[str, str], str]:
    executor = RecordingExecutor()
    with EmulatedAWS(workdir=tmp_path, load_managed_policies=False, executor=executor) as aws:
        s3, emr = aws.client("s3"), aws.client("emr")
        s3.create_bucket(Bucket="jvm-bucket")
        s3.put_object(Bucket="jvm-bucket", Key="job.py", Body=b"print('job')\n")
        s3.put_object(Bucket="jvm-bucket", Key="in/data.csv", Body=b"x" * input_bytes)
        cluster = emr.run_job_flow(
            Name="c", ReleaseLabel="emr-6.15.0", Applications=[{"Name": "Spark"}],
            Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True,
                       "MasterInstanceType": "m5.xlarge"},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
        step = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[{
            "Name": "spark", "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
                "spark-submit", "s3://jvm-bucket/job.py", "s3://jvm-bucket/in/", "s3://jvm-bucket/out/"]}}])["StepIds"][0]
        aws.runtime.wait_step(cluster, step, "COMPLETED", timeout=60)
        controller = (aws.runtime.step_dir(cluster, step) / "controller").read_text()
    [env] = executor.envs
    return env, controller


def test_test_sized_data_gets_the_quick_jvm_and_the_controller_log_says_so(tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv(hs.JAVA_OPTIONS_ENV, raising=False)  # the plugin sets it for tests
    env, controller = run_step(tmp_path, 1000)
    assert env[hs.JAVA_OPTIONS_ENV] == hs.QUICK_JVM_OPTIONS
    assert hs.QUICK_JVM_OPTIONS in env["SPARK_SUBMIT_OPTS"]
    assert f"JVM options from the harness (0.0 MiB of staged data): {hs.QUICK_JVM_OPTIONS}" \
        in controller


def test_large_inputs_keep_the_jvm_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv(hs.JAVA_OPTIONS_ENV, raising=False)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "no-archive"))
    # Options an earlier spark_submit_env() put in this process's environment are taken back.
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", f"-Dmine=1 {hs.QUICK_JVM_OPTIONS}")
    monkeypatch.setenv(hs.ADDED_OPTIONS_ENV, hs.QUICK_JVM_OPTIONS)
    env, controller = run_step(tmp_path, hs.QUICK_JVM_MAX_BYTES)
    assert env[hs.JAVA_OPTIONS_ENV] == ""
    assert env["SPARK_SUBMIT_OPTS"] == "-Dmine=1"
    assert "JVM options from the harness (32.0 MiB of staged data): none (the JVM defaults)" \
        in controller


def test_the_controller_log_names_the_class_data_archive(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    archive = archive_path(hs.java_home(), hs.spark_home())
    archive.parent.mkdir()
    archive.write_bytes(b"")
    env, controller = run_step(tmp_path, 1000)
    assert f"-XX:SharedArchiveFile={archive}" in env["SPARK_SUBMIT_OPTS"]
    assert f"-XX:SharedArchiveFile={archive}" in controller


@pytest.mark.parametrize("mine", ["", "-Xmx3g"])
def test_options_set_by_the_user_are_kept_even_empty(tmp_path, monkeypatch, mine):
    monkeypatch.setenv(hs.JAVA_OPTIONS_ENV, mine)
    env, controller = run_step(tmp_path, 1000)
    assert env[hs.JAVA_OPTIONS_ENV] == mine
    assert "MiB of staged data" not in controller
    assert "JVM options from the harness: " in controller
