"""Bootstrap actions really run (script-runner semantics) before a cluster is WAITING."""

from __future__ import annotations

import gzip

from harness.emr.states import ClusterState as C

from .conftest import ok_step, run_cluster, states

NODE_INFO = """#!/bin/bash
set -e
echo "args: $*"
echo "home: $HOME"
echo "pwd: $PWD"
echo "first $1" > "$HOME/marker"
"""

SECOND = """#!/bin/bash
set -e
# Runs after the first: sees what it left in the node's HOME.
cat "$HOME/marker"
python3 -c "import boto3; boto3.client('s3').put_object(Bucket='boot', Key='from-bootstrap.txt', \\
    Body=b'node')"
"""

FAILING = """#!/bin/bash
echo "installing things"
echo "yum: command failed" >&2
exit 3
"""


def _put(s3, key, body):
    s3.put_object(Bucket="boot", Key=key, Body=body.encode())


def _action(name, key, *args):
    return {"Name": name, "ScriptBootstrapAction": {"Path": f"s3://boot/{key}", "Args": list(args)}}


def test_bootstrap_actions_run_in_order_with_args_before_waiting(emulated_aws, emr, s3):
    s3.create_bucket(Bucket="boot")
    _put(s3, "node-info.sh", NODE_INFO)
    _put(s3, "second.sh", SECOND)
    cid = run_cluster(
        emr,
        BootstrapActions=[_action("node info", "node-info.sh", "alpha", "beta"),
                          _action("second", "second.sh")],
        LogUri="s3://boot/logs/",
    )  # fmt: skip
    run = emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=60)
    assert [s.value for s, _, _ in run.history][:3] == ["STARTING", "BOOTSTRAPPING", "WAITING"]

    instance = emr.list_instances(ClusterId=cid, InstanceGroupTypes=["MASTER"])["Instances"][0]
    iid = instance["Ec2InstanceId"]
    local = emulated_aws.workdir / "logs" / cid / "node" / iid / "bootstrap-actions"
    out1 = (local / "1" / "stdout").read_text()
    assert "args: alpha beta" in out1
    assert f"/nodes/{cid}/{iid}/bootstrap-actions/1" in out1  # its own working folder
    assert (local / "2" / "stdout").read_text().strip() == "first alpha"  # ran after action 1
    # The action reached the emulated S3 with the environment steps get.
    assert s3.get_object(Bucket="boot", Key="from-bootstrap.txt")["Body"].read() == b"node"
    key = f"logs/{cid}/node/{iid}/bootstrap-actions/1/stdout.gz"
    body = gzip.decompress(s3.get_object(Bucket="boot", Key=key)["Body"].read()).decode()
    assert "args: alpha beta" in body


def test_failing_bootstrap_action_ends_the_cluster_with_bootstrap_failure(emulated_aws, emr, s3):
    s3.create_bucket(Bucket="boot")
    _put(s3, "fail.sh", FAILING)
    _put(s3, "never.sh", "#!/bin/bash\necho ran > \"$HOME/never\"\n")
    cid = run_cluster(
        emr,
        steps=[ok_step("a")],
        BootstrapActions=[_action("install", "fail.sh"), _action("never", "never.sh")],
        LogUri="s3://boot/logs/",
    )
    emulated_aws.runtime.wait_cluster(cid, timeout=60)
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    iid = emr.list_instances(ClusterId=cid, InstanceGroupTypes=["MASTER"])["Instances"][0][
        "Ec2InstanceId"
    ]
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"] == {
        "Code": "BOOTSTRAP_FAILURE",
        "Message": f"On the master instance ({iid}), bootstrap action 1 returned a non-zero "
        "return code: 'install' (s3://boot/fail.sh) exited with code 3; stderr: yum: command "
        "failed",
    }
    assert states(emr, cid) == {"a": "CANCELLED"}
    assert not (emulated_aws.workdir / "nodes" / cid / iid / "home" / "hadoop" / "never").exists()
    key = f"logs/{cid}/node/{iid}/bootstrap-actions/1/stderr.gz"
    body = gzip.decompress(s3.get_object(Bucket="boot", Key=key)["Body"].read()).decode()
    assert body == "yum: command failed\n"
    local = emulated_aws.workdir / "logs" / cid / "node" / iid / "bootstrap-actions" / "1"
    assert (local / "stdout").read_text() == "installing things\n"


def test_missing_bootstrap_script_fails_with_a_message_naming_it(emulated_aws, emr, s3):
    cid = run_cluster(emr, BootstrapActions=[
        {"Name": "local", "ScriptBootstrapAction": {"Path": "/nonexistent/setup.sh"}}])  # fmt: skip
    emulated_aws.runtime.wait_cluster(cid, timeout=60)
    reason = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["StateChangeReason"]
    assert reason["Code"] == "BOOTSTRAP_FAILURE"
    assert "bootstrap action script '/nonexistent/setup.sh' not found" in reason["Message"]
