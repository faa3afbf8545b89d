"""Nothing outlives `python -m harness run` when it is interrupted or killed mid-step.

A tiny DAG (in a temporary DAGs folder) creates a cluster whose step blocks for good (Python
reading a FIFO nobody writes) and waits for it. Once the step is really running, `run` gets a
signal: its DAG worker, the step and the step's own child must all be gone within a bound; on
SIGTERM/SIGINT the cluster ends TERMINATED and the throw-away Airflow home and temp folders are
removed; on SIGKILL the reapers still end every process and remove the worker's folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.proc_helpers import (
    blocking_step_args,
    descendants,
    poll,
    sigint_reaches_children,
    survivors,
    with_marker,
)

ROOT = Path(__file__).resolve().parents[3]

DAG = textwrap.dedent("""
    import json, os
    from datetime import datetime

    from airflow.sdk import DAG, task

    with DAG("orphan_probe", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):

        @task(retries=0)
        def start_and_wait():
            import boto3

            emr = boto3.client("emr")
            cluster_id = emr.run_job_flow(
                Name="probe", ReleaseLabel="emr-7.12.0",
                Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                           "KeepJobFlowAliveWhenNoSteps": True},
                JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
                Steps=[{"Name": "block", "ActionOnFailure": "CONTINUE",
                        "HadoopJarStep": {"Jar": "command-runner.jar",
                                          "Args": json.loads(os.environ["PROBE_STEP_ARGS"])}}],
            )["JobFlowId"]
            step_id = emr.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
            emr.get_waiter("step_complete").wait(
                ClusterId=cluster_id, StepId=step_id,
                WaiterConfig={"Delay": 1, "MaxAttempts": 100000})

        start_and_wait()
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)  # fmt: skip
def test_run_leaves_nothing_behind(tmp_path, sig):
    marker = f"harness-orphan-run-{uuid.uuid4().hex}"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "orphan_probe.py").write_text(DAG)
    ready = tmp_path / "ready"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir),
           "PROBE_STEP_ARGS": json.dumps(blocking_step_args(ready, tmp_path / "fifo", marker))}
    out_path = tmp_path / "run.out"
    with out_path.open("w") as out, sigint_reaches_children():
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--dag-id", "orphan_probe",
             "--dags-folder", str(dags), "--workdir", str(tmp_path / "run")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert poll(ready.exists, 300, step=0.05), out_path.read_text()
        tree = descendants(proc.pid) | with_marker(marker)
        assert len(tree) >= 3, tree  # the DAG worker, the step and its child at least
        proc.send_signal(sig)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"harness run still running 90 s after {signal.Signals(sig).name}:\n"
                        + out_path.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = out_path.read_text()
    assert survivors(tree) == set(), output
    assert with_marker(marker) == set()
    left = sorted(p.name for p in tmpdir.iterdir())
    if sig == signal.SIGKILL:
        # The worker's reaper removed its folder (and the Airflow home in it); the emulator's
        # own small temp folders cannot be removed by a killed process (documented).
        assert [n for n in left if n.startswith(("harness-run-", "airflow-home-"))] == [], left
        return
    assert proc.returncode == 128 + sig, output
    assert f"interrupted ({signal.Signals(sig).name})" in output, output
    assert "TERMINATED" in [line.rsplit(": ", 1)[-1] for line in output.splitlines()
                            if line.startswith("cluster j-")], output  # fmt: skip
    assert left == [], left
