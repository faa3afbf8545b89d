"""`python -m harness smoke-aws` as a user runs it, in a subprocess, against `python -m harness
serve`: the plan and refusals, then a confirmed run that ends in a failed step, in Ctrl-C and in
SIGTERM - and every time the run's cluster is TERMINATED and its bucket gone. (The successful
run is test_aws_backend.py's rehearsal of the real smoke test.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import boto3
import pytest

from harness.backends.aws_cleanup import RUN_ID_TAG
from harness.emr.roles import create_default_roles

from .conftest import LESSON, ROOT

#: Generous bounds for a loaded two-core machine (never timing assertions, only hang guards).
READY_TIMEOUT_S = 120
RUN_TIMEOUT_S = 600


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AIRFLOW"))}  # fmt: skip
    return {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


class Lines:
    """A subprocess's stdout read by a thread: wait for a line with a bound, keep them all."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, needle: str, timeout: float) -> str:
        def found() -> str | None:
            return next((line for line in self.lines if needle in line), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self._done, timeout)
            line = found()
        assert line is not None, f"no line with {needle!r} within {timeout} s:\n{self.text}"
        return line

    def finish(self) -> None:
        self._thread.join(30)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """`python -m harness serve` for the module, with the EMR default roles; its URL."""
    workdir = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_offline_env(),
        cwd=ROOT,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        url = lines.wait_for("emulated AWS ready at", READY_TIMEOUT_S).split()[4]
        create_default_roles(client(url, "iam"))
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines.finish()


def client(url: str, service: str):
    return boto3.session.Session().client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def run_clusters(url: str, run_id: str) -> dict[str, str]:
    """Cluster id -> state of every cluster tagged with `run_id`."""
    emr = client(url, "emr")
    out = {}
    for c in emr.list_clusters()["Clusters"]:
        tags = emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])
        if {"Key": RUN_ID_TAG, "Value": run_id} in tags:
            out[c["Id"]] = c["Status"]["State"]
    return out


def smoke(url: str, run_id: str, *extra: str) -> tuple[subprocess.Popen, Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "smoke-aws", "--endpoint-url", url,
         "--region", "us-east-1", "--run-id", run_id, "--poke-interval", "0.5",
         "--terminate-wait", "60", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_offline_env(),
        cwd=ROOT, start_new_session=True,  # its own process group, as a terminal's job
    )  # fmt: skip
    return proc, Lines(proc)


def finish(proc: subprocess.Popen, lines: Lines) -> int:
    try:
        code = proc.wait(RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        lines.finish()
    return code


def test_without_the_flag_it_prints_the_plan_and_refuses(served):
    proc, lines = smoke(served, "plan0001")
    assert finish(proc, lines) == 2, lines.text
    text = lines.text
    assert text.startswith("AWS account 123456789012 (arn:aws:sts::123456789012:user/moto), "
                           "region us-east-1")
    assert "s3://airflow-emr-smoke-plan0001 (tags airflow-emr:run-id=plan0001" in text
    assert "2 x m5.xlarge (1 primary + 1 core)" in text and "(this plan: $0.84)" in text
    assert "refused: this creates billed resources" in text
    assert "--yes-this-costs-money" in text.splitlines()[-1]
    assert client(served, "s3").list_buckets()["Buckets"] == []  # nothing was created


def test_without_credentials_the_plan_says_so(tmp_path):
    env = {**_offline_env(), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    res = subprocess.run(
        [sys.executable, "-m", "harness", "smoke-aws", "--region", "us-east-1"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout.startswith("AWS account: unknown - aws backend: no AWS credentials found")
    assert "refused:" in res.stdout


def test_the_cost_guard_refuses_even_with_the_flag(served):
    proc, lines = smoke(served, "cost0001", "--yes-this-costs-money",
                        "--instance-type", "m5.24xlarge")
    assert finish(proc, lines) == 2, lines.text
    assert "refused: cost guard: instance type 'm5.24xlarge' is not allowed" in lines.text
    assert client(served, "s3").list_buckets()["Buckets"] == []


def _assert_cleaned_up(url: str, run_id: str, text: str) -> None:
    clusters = run_clusters(url, run_id)
    assert clusters and set(clusters.values()) == {"TERMINATED"}, (clusters, text)
    buckets = [b["Name"] for b in client(url, "s3").list_buckets()["Buckets"]]
    assert f"airflow-emr-smoke-{run_id}" not in buckets, text
    assert "cleanup done" in text


def test_a_failed_step_fails_the_run_and_cleans_up(served, tmp_path):
    script = tmp_path / "broken_job.py"
    script.write_text("raise SystemExit('the job failed on purpose')\n")
    # The lesson's job script replaced through the generic --upload (same destination).
    (dest,) = [str(u.dest) for u in LESSON.config.uploads if u.local.name.endswith(".py")]
    proc, lines = smoke(served, "fail0001", "--yes-this-costs-money",
                        "--upload", f"{script}={dest}")
    assert finish(proc, lines) == 1, lines.text
    assert "aguardar_step_spark: failed" in lines.text
    _assert_cleaned_up(served, "fail0001", lines.text)


@pytest.mark.parametrize(
    ("signum", "group"),
    [pytest.param(signal.SIGINT, True, id="ctrl-c"), pytest.param(signal.SIGTERM, False,
                                                                  id="sigterm")],
)
def test_a_signal_mid_run_cleans_up(served, signum, group):
    run_id = f"sig{int(signum):05d}"
    proc, lines = smoke(served, run_id, "--yes-this-costs-money")
    # Mid-run: the cluster exists and the step is being waited for.
    lines.wait_for("aguardar_step_spark: running", RUN_TIMEOUT_S)
    assert set(run_clusters(served, run_id).values()) <= {"STARTING", "BOOTSTRAPPING",
                                                          "RUNNING", "WAITING"}
    if group:  # Ctrl-C in a terminal reaches the whole foreground process group
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    assert finish(proc, lines) == 128 + signum, lines.text
    assert f"interrupted by {signal.Signals(signum).name}" in lines.text
    _assert_cleaned_up(served, run_id, lines.text)


def test_missing_emr_roles_fail_clearly_and_create_nothing(tmp_path):
    """A fresh account (its own emulator, no default roles): the run stops with the fix."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--workdir", str(tmp_path / "w")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_offline_env(),
        cwd=ROOT,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        url = lines.wait_for("emulated AWS ready at", READY_TIMEOUT_S).split()[4]
        run, out = smoke(url, "roles001", "--yes-this-costs-money")
        assert finish(run, out) == 1, out.text
        assert "failed: the account lacks EMR_DefaultRole, EMR_EC2_DefaultRole" in out.text
        assert "aws emr create-default-roles" in out.text
        assert client(url, "s3").list_buckets()["Buckets"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines.finish()
