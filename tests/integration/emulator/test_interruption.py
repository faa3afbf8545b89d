"""Nothing outlives `python -m harness serve` or a pytest session using the emulator.

Each test starts the harness as a subprocess, waits (polling fast, bounded) until a step is
really running (the step touches a file), collects the process tree (walking /proc, plus a
unique marker in the step's command line or environment), sends a signal and checks that every
one of those processes is gone, that clusters ended TERMINATED and that throw-away folders
were removed. Steps are cheap (Python blocked on a FIFO) except in the spark-submit test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import pytest

from tests.proc_helpers import (
    blocking_step_args,
    descendants,
    exe_name,
    poll,
    read_line,
    sigint_reaches_children,
    survivors,
    with_marker,
)

from .conftest import run_cluster, step

START_BOUND = 120  # generous: a loaded two-core machine
RUNNING_BOUND = 120


def _serve(tmp_path: Path, env: dict[str, str]):
    err = (tmp_path / "serve.stderr").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve"], stdout=subprocess.PIPE,
                            stderr=err, text=True, env=env)  # fmt: skip
    err.close()
    line = read_line(proc.stdout, START_BOUND)
    if not line.startswith("emulated AWS ready at "):
        proc.kill()
        proc.wait()
        pytest.fail(f"no ready line (got {line!r}):\n{(tmp_path / 'serve.stderr').read_text()}")
    match = re.search(r"ready at (\S+) \(region \S+, workdir (.+?)\);", line)
    assert match, line
    return proc, match.group(1), Path(match.group(2))


def _emr(url: str):
    return boto3.session.Session().client(
        "emr", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def _private_tmp(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A TMPDIR of its own for the process under test: what it leaves there is visible."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    return tmpdir, {**os.environ, "TMPDIR": str(tmpdir)}


def _stop(proc: subprocess.Popen, sig: int) -> str:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read()
    proc.stdout.close()
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)  # fmt: skip
def test_serve_leaves_no_process_and_no_folder(tmp_path, sig):
    marker = f"harness-orphan-probe-{uuid.uuid4().hex}"
    tmpdir, env = _private_tmp(tmp_path)
    proc, url, workdir = _serve(tmp_path, env)
    try:
        ready = tmp_path / "ready"
        emr = _emr(url)
        cluster_id = run_cluster(emr, steps=[step("block", *blocking_step_args(
            ready, tmp_path / "fifo", marker))])  # fmt: skip
        assert poll(ready.exists, RUNNING_BOUND), "the step never started"
        tree = descendants(proc.pid) | with_marker(marker)
        assert with_marker(marker), "the step's process is not visible"
        assert len(tree) >= 2, tree  # the step and its grandchild at least
    except BaseException:
        proc.kill()
        raise
    out = _stop(proc, sig)
    assert survivors(tree) == set(), f"left running after {signal.Signals(sig).name}"
    assert with_marker(marker) == set()
    if sig == signal.SIGKILL:
        return  # nothing could clean up the folders (see docs/offline-safety.md)
    assert proc.returncode == 0, out
    assert f"cluster {cluster_id}: TERMINATED" in out, out
    assert not workdir.exists()
    assert sorted(p.name for p in tmpdir.iterdir()) == []


def test_serve_sigkill_ends_a_running_spark_submit_jvm_and_its_driver_is_guarded(tmp_path):
    marker = f"harness-orphan-jvm-{uuid.uuid4().hex}"
    script = tmp_path / "block.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
        spark.range(1).count()  # the JVM is really up
        try:  # the PySpark driver is guarded too (spark-submit passes PYTHONPATH on)
            import boto3
            boto3.client("s3", region_name="us-east-1",
                         endpoint_url="https://s3.amazonaws.com").list_buckets()
            outcome = "sent"
        except Exception as exc:
            outcome = type(exc).__name__
        open(sys.argv[1] + ".tmp", "w").write(outcome)
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        open(sys.argv[2]).read()
    """))
    ready, fifo = tmp_path / "ready", tmp_path / "fifo"
    os.mkfifo(fifo)
    tmpdir, env = _private_tmp(tmp_path)
    proc, url, workdir = _serve(tmp_path, env)
    try:
        emr = _emr(url)
        run_cluster(emr, steps=[step("spark", "spark-submit", str(script), str(ready), str(fifo),
                                     marker)])  # fmt: skip
        assert poll(ready.exists, 300, step=0.1), "the Spark step never got running"
        assert ready.read_text() == "OffLoopbackCallError"
        tree = descendants(proc.pid) | with_marker(marker)
        jvms = {p for p in tree if exe_name(p) == "java"}
        assert jvms, f"no JVM among {tree}"
    except BaseException:
        proc.kill()
        raise
    _stop(proc, signal.SIGKILL)
    assert survivors(tree) == set(), "a JVM or Python driver survived its harness"
    assert with_marker(marker) == set()
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)  # SIGKILL: left behind, as documented


INNER_TEST = textwrap.dedent("""
    import json, os
    from pathlib import Path

    import pytest

    @pytest.fixture
    def report():
        holder = {}
        yield holder
        runtime = holder.get("runtime")  # emulated_aws is torn down by now
        states = {c.id: c.state.value for c in runtime.clusters()} if runtime else {}
        Path(os.environ["PROBE_REPORT"]).write_text(json.dumps(states))

    def test_blocks(report, emulated_aws):
        report["runtime"] = emulated_aws.runtime
        emr = emulated_aws.client("emr")
        args = json.loads(os.environ["PROBE_STEP_ARGS"])
        cluster_id = emr.run_job_flow(
            Name="probe", ReleaseLabel="emr-7.12.0",
            Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                       "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
            Steps=[{"Name": "block", "ActionOnFailure": "CONTINUE",
                    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}],
        )["JobFlowId"]
        step_id = emr.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
        emulated_aws.runtime.wait_step(cluster_id, step_id, timeout=3600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)  # fmt: skip
def test_pytest_session_interrupted_runs_finalizers(tmp_path, sig):
    marker = f"harness-orphan-pytest-{uuid.uuid4().hex}"
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(INNER_TEST)
    ready, report = tmp_path / "ready", tmp_path / "report.json"
    tmpdir, env = _private_tmp(tmp_path)
    env.update(PROBE_REPORT=str(report), PROBE_MARKER=marker,
               PROBE_STEP_ARGS=json.dumps(blocking_step_args(ready, tmp_path / "fifo", marker)))
    out_path = tmp_path / "pytest.out"
    with out_path.open("w") as out, sigint_reaches_children():
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--basetemp", str(tmp_path / "basetemp"), str(inner)],
            cwd=inner, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert poll(ready.exists, START_BOUND + RUNNING_BOUND, step=0.05), out_path.read_text()
        tree = descendants(proc.pid) | with_marker(marker)
        assert len(tree) >= 3, tree
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = out_path.read_text()
    assert survivors(tree) == set(), output
    assert with_marker(marker) == set()
    assert proc.returncode == 2, output  # pytest's "interrupted"
    assert "KeyboardInterrupt" in output, output
    states = json.loads(report.read_text())  # the finalizer ran after emulated_aws stopped
    assert list(states.values()) == ["TERMINATED"], states
    assert sorted(p.name for p in tmpdir.iterdir()) == [], "throw-away folders left behind"
