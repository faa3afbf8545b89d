"""`harness up` -> `harness run` (twice and more) -> `harness down`, through the real commands.

Run-to-run isolation: an edited DAG file and helper module are re-read (even when a stale
bytecode cache looks valid), Variables are the run's own, the metadata DB and the emulated
account start empty (unless the run before asked `--keep-state`); a run while the services are
busy waits or is told so; `down` leaves no process behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import signal
import struct
from pathlib import Path

from harness.emr.roles import create_default_roles
from harness.warm import client, procs, protocol, state
from tests.integration.warm.conftest import harness, harness_popen, wait_for

PROBE_DAG = '''
import json
import os
import sys
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Variable, task

sys.path.insert(0, os.path.dirname(__file__))
import warm_helper  # noqa: E402

MARK = "mark-aaaa"

with DAG("warm_probe", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), schedule=None):
    @task
    def probe():
        import boto3

        s3 = boto3.client("s3")
        buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        prior = Variable.get("set_by_task", default=None)
        Variable.set("set_by_task", "an earlier run")
        s3.create_bucket(Bucket=Variable.get("probe_bucket"))
        keep = Variable.get("probe_keep", default=None)  # a file in the run's workdir
        if keep:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            Path(keep).write_text("written by the run")
        Path(Variable.get("probe_out")).write_text(json.dumps({
            "mark": MARK, "helper": warm_helper.VALUE, "color": Variable.get("color"),
            "buckets": buckets, "prior": prior}))

    probe()
'''

WAIT_DAG = '''
import time
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Variable, task

with DAG("warm_wait", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), schedule=None):
    @task
    def wait_for_release():
        Path(Variable.get("started")).write_text("started")
        release = Path(Variable.get("release"))
        deadline = time.monotonic() + 300
        while not release.exists():  # the test releases it; bounded
            if time.monotonic() > deadline:
                raise TimeoutError(f"{release} never appeared")
            time.sleep(0.05)

    wait_for_release()
'''


def _run(warm_dir: Path, dags: Path, *variables: str, workdir: Path | None = None
         ) -> tuple[int, str]:  # fmt: skip
    argv = ["run", "--dag-id", "warm_probe", "--dags-folder", str(dags)]
    if workdir is not None:
        argv += ["--workdir", str(workdir)]
    for v in variables:
        argv += (["--keep-state"] if v == "--keep-state" else ["--var", v])
    done = harness(*argv, warm_dir=warm_dir)
    return done.returncode, done.stdout + done.stderr


def _pyc_would_be_trusted(source: Path) -> bool:
    """The trap is armed: the cached .pyc's header matches the source's mtime and size."""
    pyc = Path(importlib.util.cache_from_source(str(source)))
    header = pyc.read_bytes()[8:16]
    mtime, size = struct.unpack("<II", header)
    st = source.stat()
    return mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF


def test_runs_are_isolated_and_see_edits(warm, tmp_path):
    warm_dir, st = warm
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "warm_probe.py"
    dag_file.write_text(PROBE_DAG)
    (dags / "warm_helper.py").write_text('VALUE = "h1"\n')
    py_compile.compile(str(dag_file))  # a bytecode cache of version 1, as any import leaves
    out = [tmp_path / f"out{i}.json" for i in range(4)]

    run1 = tmp_path / "run1"
    kept = run1 / "logs" / "kept.txt"  # where the emulator keeps step logs
    code, text = _run(warm_dir, dags, f"probe_out={out[1]}", "color=red",
                      "probe_bucket=made-by-run-1", f"probe_keep={kept}", workdir=run1)
    assert code == 0, text
    assert f"(workdir {run1})" in text
    assert f"using warm services started by `harness up` (pid {st.pid})" in text
    assert "warm_probe" in text and "success" in text
    first = json.loads(out[1].read_text())
    assert first == {"mark": "mark-aaaa", "helper": "h1", "color": "red",
                     "buckets": ["airflow-emr-local"], "prior": None}  # fmt: skip

    # Edit the DAG: same size, same mtime (an edit within the same second), so the cached
    # bytecode of version 1 still looks valid; and edit the helper module it imports.
    before = dag_file.stat()
    dag_file.write_text(PROBE_DAG.replace("mark-aaaa", "mark-bbbb"))
    os.utime(dag_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _pyc_would_be_trusted(dag_file)
    (dags / "warm_helper.py").write_text('VALUE = "h2-edited"\n')

    code, text = _run(warm_dir, dags, f"probe_out={out[2]}", "color=blue",
                      "probe_bucket=made-by-run-2", "--keep-state")  # fmt: skip
    assert code == 0, text
    second = json.loads(out[2].read_text())
    # Edits seen; the new Variable value; run 1's bucket and DB Variable gone.
    assert second == {"mark": "mark-bbbb", "helper": "h2-edited", "color": "blue",
                      "buckets": ["airflow-emr-local"], "prior": None}  # fmt: skip

    code, text = _run(warm_dir, dags, f"probe_out={out[3]}", "color=green",
                      "probe_bucket=made-by-run-3")  # fmt: skip
    assert code == 0, text
    third = json.loads(out[3].read_text())
    # The reset after run 1 emptied the emulator, not the folder run 1 reported.
    assert kept.read_text() == "written by the run"
    # Run 2 asked --keep-state: its bucket is still there; the metadata DB is fresh anyway.
    assert third["buckets"] == ["airflow-emr-local", "made-by-run-2"]
    assert third["prior"] is None and third["color"] == "green"


def test_a_run_while_busy_waits_or_is_told(warm, tmp_path):
    warm_dir, st = warm
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "warm_wait.py").write_text(WAIT_DAG)
    started_a, release_a = tmp_path / "started-a", tmp_path / "release-a"
    release_c = tmp_path / "release-c"
    release_c.write_text("go")
    first = harness_popen("run", "--dag-id", "warm_wait", "--dags-folder", str(dags),
                          "--var", f"started={started_a}", "--var", f"release={release_a}",
                          warm_dir=warm_dir)  # fmt: skip
    try:
        wait_for("the first run to start its task",
                 lambda: started_a.exists() or first.poll() is not None)  # fmt: skip
        assert first.poll() is None, first.stdout.read()

        # Not willing to wait: told who holds the services.
        req = protocol.RunRequest(dag_id="warm_wait", dags_folder=str(dags),
                                  workdir=str(tmp_path / "w"), poke_interval=0.2)
        answers = list(client.request(st, {"op": "run", "request": req.to_dict(),
                                           "wait": False}, timeout=60))  # fmt: skip
        assert [a["type"] for a in answers] == ["busy"]
        assert answers[0]["busy_with"]["dag_id"] == "warm_wait"
        assert answers[0]["busy_with"]["client_pid"] == first.pid

        # Willing to wait (the CLI): queued, then run once the first one is done.
        second = harness_popen("run", "--dag-id", "warm_wait", "--dags-folder", str(dags),
                               "--var", f"started={tmp_path / 'started-c'}",
                               "--var", f"release={release_c}", warm_dir=warm_dir)  # fmt: skip
        wait_for("the second run to be queued",
                 lambda: (client.ping(st) or {}).get("waiting") == 1)  # fmt: skip
        release_a.write_text("go")
        out_first, _ = first.communicate(timeout=600)
        out_second, _ = second.communicate(timeout=600)
    finally:
        release_a.write_text("go")
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert first.returncode == 0, out_first
    assert second.returncode == 0, out_second
    assert (f"warm services are busy with warm_wait for pid {first.pid}" in out_second
            and "waiting for them" in out_second), out_second  # fmt: skip
    assert "dag run warm_wait: success" in out_second


def test_a_warm_session_returns_the_dag_run_result(warm, tmp_path):
    """`WarmSession` (what the `warm_services` fixture yields) on the same services."""
    from harness.warm.session import WarmSession

    warm_dir, _ = warm
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "warm_probe.py").write_text(PROBE_DAG)
    (dags / "warm_helper.py").write_text('VALUE = "h1"\n')
    session = WarmSession(warm_dir)  # attached, not owned: stop() leaves the services up
    run = session.run(dag_id="warm_probe", dags_folder=dags, workdir=tmp_path / "w",
                      variables={"probe_out": str(tmp_path / "o.json"), "color": "x",
                                 "probe_bucket": "made-by-session"})  # fmt: skip
    assert run.code == 0, "\n".join(run.output)
    assert run.result.ok and run.result.task_states == {"probe": "success"}
    assert "dag run warm_probe: success" in "\n".join(run.output)
    session.stop()
    assert state.read_state(warm_dir) is not None


def test_down_leaves_no_process_even_with_a_step_running(tmp_path):
    # Services of its own: `down` ends them, and under pytest-xdist's worksteal a test can run
    # before others of its module (a stolen one), which the module's shared services must outlive.
    from tests.integration.warm.conftest import start_warm, stop_warm

    warm_dir = tmp_path / "warm"
    st = start_warm(warm_dir)
    try:
        _down_with_a_step_running(warm_dir, st)
    finally:
        if state.read_state(warm_dir) is not None:
            stop_warm(warm_dir, st)


def _down_with_a_step_running(warm_dir, st):
    import boto3

    url = st.services["aws_url"]
    kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}  # fmt: skip
    create_default_roles(boto3.client("iam", **kw))
    emr = boto3.client("emr", **kw)
    cluster = emr.run_job_flow(
        Name="warm-down", ReleaseLabel="emr-6.15.0", Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    emr.add_job_flow_steps(JobFlowId=cluster, Steps=[{
        "Name": "sleeper", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar",
                          "Args": ["bash", "-c", "sleep 600; echo warm-down-sleeper"]}}])
    sleeper = wait_for("the step's process", lambda: [
        p for p in procs.marked_processes(st.marker)
        if b"warm-down-sleeper" in Path(f"/proc/{p}/cmdline").read_bytes()])
    tree = {st.pid, st.daemon_pid, *procs.marked_processes(st.marker)}

    down = harness("down", warm_dir=warm_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no process of theirs is left" in down.stdout
    assert [p for p in tree if procs.alive(p)] == [], f"alive after down: {tree}, {sleeper}"
    assert procs.marked_processes(st.marker) == []
    assert state.read_state(warm_dir) is None
    assert not Path(st.socket).exists()
    again = harness("down", warm_dir=warm_dir)
    assert again.returncode == 0 and "not up" in again.stdout


def test_a_killed_daemon_leaves_nothing_behind(tmp_path):
    """SIGKILL the daemon in the middle of a step: its guardian ends the step's process tree
    (in a session of its own) and removes the state file; `run` then goes cold."""
    from tests.integration.warm.conftest import start_warm

    warm_dir = tmp_path / "warm"
    st = start_warm(warm_dir)
    try:
        import boto3

        kw = {"endpoint_url": st.services["aws_url"], "region_name": "us-east-1",
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
        create_default_roles(boto3.client("iam", **kw))
        emr = boto3.client("emr", **kw)
        cluster = emr.run_job_flow(
            Name="warm-kill", ReleaseLabel="emr-6.15.0", Applications=[{"Name": "Spark"}],
            Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                       "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
        emr.add_job_flow_steps(JobFlowId=cluster, Steps=[{
            "Name": "sleeper", "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar",
                              "Args": ["bash", "-c", "sleep 600; echo warm-kill-sleeper"]}}])
        wait_for("the step's process", lambda: [
            p for p in procs.marked_processes(st.marker)
            if b"warm-kill-sleeper" in Path(f"/proc/{p}/cmdline").read_bytes()])
        os.kill(st.daemon_pid, signal.SIGKILL)
        wait_for("the guardian to clean up and exit", lambda: not procs.alive(st.pid), 120)
        assert procs.marked_processes(st.marker) == []
        assert state.read_state(warm_dir) is None
    finally:
        left = procs.marked_processes(st.marker)
        procs.kill_all(left)
        assert not left, f"left behind: {left}"

