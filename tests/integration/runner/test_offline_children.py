"""Children of an offline run never see the caller's real AWS credentials and never reach AWS.

The caller's environment here looks like a developer's: a real-looking access key, a profile
(AWS_PROFILE) backed by ``~/.aws`` files, and a service-specific endpoint pointing at real S3.
A DAG task run in the DAG worker process and a Python step run by the emulated EMR each try to
call a non-loopback AWS endpoint: both must be refused by the off-loopback guard, resolve only
the dummy credentials, and have no trace of the real key in their environment.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from harness.airflow.dag_runner import prepare_dag_run
from harness.endpoint import EmulatedAWS

REAL_KEY = "AKIAREALREALREAL1234"

PROBE = textwrap.dedent(
    """
    import json, logging, os
    import boto3
    creds = boto3.session.Session().get_credentials()
    report = "PROBE " + json.dumps({
        "access_key": creds.access_key if creds else None,
        "real_key_in_environ": "AKIAREALREALREAL1234" in json.dumps(dict(os.environ)),
        "profile": os.environ.get("AWS_PROFILE"),
    })
    print(report, flush=True)  # a step's stdout
    logging.getLogger("airflow.task").warning(report)  # a task's log
    boto3.client("s3", region_name="us-east-1",
                 endpoint_url="https://s3.amazonaws.com").list_buckets()
    """
)

DAG_FILE = textwrap.dedent(
    '''
    from datetime import datetime

    from airflow.sdk import DAG, task

    with DAG("offline_probe", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):

        @task(retries=0)
        def probe():
    {body}

        probe()
    '''
)


@pytest.fixture
def developer_env(tmp_path, monkeypatch):
    """Real-looking credentials, a profile and ~/.aws files in this process's environment."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[prod]\naws_access_key_id = {REAL_KEY}\naws_secret_access_key = real-secret\n"
    )
    (home / ".aws" / "config").write_text("[profile prod]\nregion = eu-west-1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", REAL_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com")
    # The migrated Airflow DB cache is found from the working directory: keep the repo's.
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(Path.cwd() / ".harness" / "cache"))
    return home


def _probe_report(text: str) -> dict:
    lines = [line for line in text.splitlines() if "PROBE {" in line]
    assert lines, f"the probe printed nothing:\n{text[-3000:]}"
    return json.loads(lines[-1].split("PROBE ", 1)[1])


def test_dag_task_in_the_worker_process_is_guarded(tmp_path, developer_env):
    dags = tmp_path / "dags"
    dags.mkdir()
    body = textwrap.indent(PROBE, " " * 8)
    (dags / "offline_probe.py").write_text(DAG_FILE.format(body=body))
    # As `python -m harness run` does: the worker starts before the endpoint (and its guard).
    with prepare_dag_run("offline_probe", dags_folder=dags) as prepared, \
            EmulatedAWS(workdir=tmp_path / "aws") as aws:  # fmt: skip
        result = prepared.run(aws=aws)
    log = result.log("probe")
    assert result.task_states.get("probe") == "failed", result.summary() + "\n" + log[-3000:]
    assert "OffLoopbackCallError" in log, log[-3000:]
    report = _probe_report(log)
    assert report == {"access_key": "testing", "real_key_in_environ": False, "profile": None}


def test_python_step_is_guarded(tmp_path, developer_env):
    from tests.integration.emulator.conftest import run_cluster, step

    with EmulatedAWS(workdir=tmp_path / "aws") as aws:
        emr = aws.client("emr")
        cluster_id = run_cluster(emr, steps=[step("probe", "python3", "-c", PROBE)],
                                 keep_alive=False)  # fmt: skip
        (step_id,) = [s["Id"] for s in emr.list_steps(ClusterId=cluster_id)["Steps"]]
        run = aws.runtime.wait_step(cluster_id, step_id, timeout=120)
        stdout = (aws.step_dir(cluster_id, step_id) / "stdout").read_text()
        stderr = (aws.step_dir(cluster_id, step_id) / "stderr").read_text()
    assert run.state.value == "FAILED", stdout + stderr
    assert "OffLoopbackCallError: offline guard: refused" in stderr, stderr
    assert _probe_report(stdout) == {"access_key": "testing", "real_key_in_environ": False,
                                     "profile": None}  # fmt: skip
    assert os.environ["AWS_ACCESS_KEY_ID"] == REAL_KEY  # the caller's own env is restored
