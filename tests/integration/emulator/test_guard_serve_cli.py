"""Endpoint guard, `python -m harness serve`, the AWS CLI and create_default_roles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import botocore.endpoint
import pytest

from harness.emr.roles import DEFAULT_ROLES, create_default_roles
from harness.endpoint import EmulatedAWS
from harness.guard import EndpointGuard, OffLoopbackCallError

from .conftest import run_cluster

AWS = str(Path(sys.executable).parent / "aws")


# -- guard --------------------------------------------------------------------------------------
def test_guard_refuses_non_loopback_endpoints(emulated_aws):
    real = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url="https://s3.amazonaws.com"
    )
    with pytest.raises(OffLoopbackCallError, match="s3.amazonaws.com"):
        real.list_buckets()
    emr = boto3.session.Session().client(
        "emr",
        region_name="eu-west-1",
        endpoint_url="https://elasticmapreduce.eu-west-1.amazonaws.com",
    )
    with pytest.raises(OffLoopbackCallError, match="only loopback endpoints"):
        emr.list_clusters()
    # the emulator itself is fine
    assert emulated_aws.client("s3").list_buckets()["Buckets"] == []


def test_guard_covers_clients_without_endpoint_url(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with EndpointGuard():
        client = boto3.session.Session().client("sts", region_name="us-east-1")
        with pytest.raises(OffLoopbackCallError, match="sts"):
            client.get_caller_identity()


def test_guard_replaces_and_restores_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALREALREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    original_send = botocore.endpoint.Endpoint._send
    with EndpointGuard():
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert "AWS_SESSION_TOKEN" not in os.environ and "AWS_PROFILE" not in os.environ
        creds = boto3.session.Session().get_credentials()
        assert creds.access_key == "testing"
        assert botocore.endpoint.Endpoint._send is not original_send
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALREALREAL"
    assert os.environ["AWS_SESSION_TOKEN"] == "real-token" and os.environ["AWS_PROFILE"] == "prod"
    assert botocore.endpoint.Endpoint._send is original_send  # uninstalled: nothing leaks


def test_failed_start_leaves_another_guard_installed(emulated_aws, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(FileExistsError):  # fails before its own guard is installed
        EmulatedAWS(workdir=not_a_dir).start()
    with pytest.raises(RuntimeError, match="another EMR runtime"):  # fails after installing
        EmulatedAWS(workdir=tmp_path / "second").start()
    real = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url="https://s3.amazonaws.com"
    )
    with pytest.raises(OffLoopbackCallError):  # the running emulator's guard is still on
        real.list_buckets()
    assert emulated_aws.client("s3").list_buckets()["Buckets"] == []


def test_stop_restores_moto_settings_exactly(tmp_path, monkeypatch):
    from moto import settings

    # a key that was absent must be absent again (not written back as False)
    monkeypatch.delitem(settings.default_user_config["iam"], "load_aws_managed_policies")
    before = {k: dict(v) if isinstance(v, dict) else v
              for k, v in settings.default_user_config.items()}  # fmt: skip
    with EmulatedAWS(workdir=tmp_path, load_managed_policies=True):
        assert settings.default_user_config["iam"]["load_aws_managed_policies"] is True
    assert settings.default_user_config == before


# -- serve --------------------------------------------------------------------------------------
def _readline(stream, timeout: float) -> str:
    """One line from `stream`, or '' if none came within `timeout` seconds."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else ""


def test_serve_prints_ready_line_and_stops_on_sigterm(tmp_path):
    """Also under `-W error`: the version mismatch of an emr-6.15.0 cluster is one plain line
    on stderr, and one RunJobFlow makes one cluster (a warning raised in the handler was a 500
    that botocore retried)."""
    err_path = tmp_path / "serve.stderr"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-W", "error", "-m", "harness", "serve",
             "--workdir", str(tmp_path / "w")],
            stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        line = _readline(proc.stdout, timeout=60)
        assert line.startswith("emulated AWS ready at http://127.0.0.1:"), (
            f"no ready line within 60 s (got {line!r}); stderr:\n{err_path.read_text()}"
        )
        url = line.split()[4]
        s3 = boto3.session.Session().client(
            "s3", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        s3.create_bucket(Bucket="from-outside")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["from-outside"]
        emr = boto3.session.Session().client(
            "emr", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        cid = run_cluster(emr)
        assert [c["Id"] for c in emr.list_clusters()["Clusters"]] == [cid]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, err_path.read_text()
        assert "stopped" in proc.stdout.read()
        err_lines = err_path.read_text().splitlines()
        assert [ln for ln in err_lines if "emr-6.15.0" in ln] == [
            ln for ln in err_lines if ln.startswith(f"WARNING: cluster {cid} uses emr-6.15.0")
        ]
        assert len([ln for ln in err_lines if "emr-6.15.0" in ln]) == 1, err_lines
        assert not [ln for ln in err_lines if "Warning" in ln or "warnings.warn" in ln], err_lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


# -- AWS CLI ------------------------------------------------------------------------------------
def aws_cli(aws, *args, check=True):
    env = {**os.environ, **aws.env()}
    env.pop("AWS_PROFILE", None)
    res = subprocess.run([AWS, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def test_seed_cli_commands(emulated_aws, emr, tmp_path):
    csv = tmp_path / "dados_vendas.csv"
    csv.write_text("data,produto\n2025-01-01,x\n")
    aws_cli(emulated_aws, "s3", "mb", "s3://meu-bucket-emr")
    aws_cli(emulated_aws, "s3", "cp", str(csv), "s3://meu-bucket-emr/input/dados_vendas.csv")
    listing = aws_cli(emulated_aws, "s3", "ls", "s3://meu-bucket-emr/input/").stdout
    assert "dados_vendas.csv" in listing

    cid = run_cluster(emr, name="cluster-airflow-emr")
    emr.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig={"Delay": 0.1})
    active = json.loads(aws_cli(emulated_aws, "emr", "list-clusters", "--active").stdout)
    assert [c["Id"] for c in active["Clusters"]] == [cid]
    assert active["Clusters"][0]["Status"]["State"] == "WAITING"

    aws_cli(emulated_aws, "emr", "terminate-clusters", "--cluster-ids", cid)
    aws_cli(emulated_aws, "emr", "wait", "cluster-terminated", "--cluster-id", cid)
    assert (
        json.loads(aws_cli(emulated_aws, "emr", "list-clusters", "--active").stdout)["Clusters"]
        == []
    )


def test_create_default_roles_cli_limitation_and_boto3_replacement(emulated_aws):
    # The CLI cannot derive the EMR service principal from a loopback endpoint (documented).
    res = aws_cli(emulated_aws, "emr", "create-default-roles", check=False)
    assert res.returncode != 0
    assert "service principal" in res.stderr.lower(), res.stderr

    iam = emulated_aws.client("iam")
    # ... after creating only what needs no EMR principal: the EC2 role and instance profile
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["EMR_EC2_DefaultRole"]
    assert create_default_roles(iam) == {
        "created": ["EMR_DefaultRole", "EMR_AutoScaling_DefaultRole"],
        "existing": ["EMR_EC2_DefaultRole"],
    }

    emulated_aws.reset()  # a fresh account: everything is created
    assert create_default_roles(iam) == {
        "created": ["EMR_EC2_DefaultRole", "EMR_DefaultRole", "EMR_AutoScaling_DefaultRole",
                    "instance-profile/EMR_EC2_DefaultRole"],
        "existing": [],
    }  # fmt: skip
    for role, (principals, policy) in DEFAULT_ROLES.items():
        doc = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        service = doc["Statement"][0]["Principal"]["Service"]
        assert (service if isinstance(service, list) else [service]) == list(principals)
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [
            f"arn:aws:iam::aws:policy/service-role/{policy}"
        ]
    profile = iam.get_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["EMR_EC2_DefaultRole"]
    # idempotent, and accepts a boto3 Session too
    session = boto3.session.Session()
    again = create_default_roles(session)
    assert again["created"] == [] and len(again["existing"]) == 3
