"""Helpers for the emulator's integration tests (the `emulated_aws` fixture is the plugin's)."""

from __future__ import annotations

import sys

import pytest

PY = sys.executable


def step(name, *args, action="CONTINUE", jar="command-runner.jar"):
    return {
        "Name": name,
        "ActionOnFailure": action,
        "HadoopJarStep": {"Jar": jar, "Args": list(args)},
    }


def ok_step(name="ok", action="CONTINUE"):
    return step(name, "bash", "-c", f"echo {name} done", action=action)


def failing_step(name="bad", action="CONTINUE", message="kaput"):
    return step(name, "bash", "-c", f"echo 'RuntimeError: {message}' >&2; exit 3", action=action)


def run_cluster(emr, *, steps=(), keep_alive=True, name="test-cluster", **extra):
    params = {
        "Name": name,
        "ReleaseLabel": "emr-6.15.0",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "Primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
                 "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"Name": "Workers", "Market": "SPOT", "InstanceRole": "CORE",
                 "InstanceType": "m5.xlarge", "InstanceCount": 2},
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
            "TerminationProtected": False,
        },
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
        "Steps": list(steps),
        **extra,
    }  # fmt: skip
    return emr.run_job_flow(**params)["JobFlowId"]


def states(emr, cluster_id):
    """{step name: state} from ListSteps."""
    return {s["Name"]: s["Status"]["State"] for s in emr.list_steps(ClusterId=cluster_id)["Steps"]}


@pytest.fixture
def emr(emulated_aws):
    return emulated_aws.client("emr")


@pytest.fixture
def s3(emulated_aws):
    return emulated_aws.client("s3")
