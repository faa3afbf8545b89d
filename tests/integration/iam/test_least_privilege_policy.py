"""docs/iam/airflow-emr-policy.json, proven offline with moto's IAM enforcement.

The emulator is provisioned as an admin (bucket, data, job, EMR default roles, the `airflow`
IAM user holding ONLY the shipped policy), then moto starts checking every request against the
caller's IAM policies (`moto.core.authorization.enable_iam_authentication`, what
`INITIAL_NO_AUTH_ACTION_COUNT` does at server start, switched on after provisioning instead).

1. pipeline_emr runs end to end with the Airflow connection holding the `airflow` user's keys:
   green, and the actions it used (recorded from moto's own check) are the policy's actions.
2. For each enforced action, the policy without it fails with AccessDenied: the exact calls the
   DAG's tasks make (`task_calls`, shown equivalent to the DAG run by the recorded actions) stop
   at the call needing that action, and one full DAG run fails at the task needing it.
3. The gaps: moto does not evaluate `iam:PassRole` on RunJobFlow, nor `s3:ListBucket` (kept for
   AWS's 404-vs-403 on a missing input); they are in the policy unproven (docs/real-aws.md).

The emulator's own calls (the cluster's S3 staging, the harness's inspection) use the dummy
`testing` keys; here those belong to an admin user standing in for the cluster's instance role.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from harness.airflow.home import connection_env
from tests.lesson import PipelineLayout, provision

ROOT = Path(__file__).resolve().parents[3]
POLICY_PATH = ROOT / "docs" / "iam" / "airflow-emr-policy.json"
LAYOUT = PipelineLayout(bucket="airflow-emr-iam-proof")
ACCOUNT = "123456789012"
AIRFLOW_USER = "airflow"
#: In the policy for AWS, never evaluated by moto (see the module docstring).
UNENFORCED = {"iam:PassRole", "s3:ListBucket"}


def policy() -> dict:
    return json.loads(POLICY_PATH.read_text())


def policy_actions(doc: dict) -> set[str]:
    out: set[str] = set()
    for st in doc["Statement"]:
        actions = st["Action"]
        out |= {actions} if isinstance(actions, str) else set(actions)
    return out


def without(doc: dict, action: str) -> dict:
    """The policy with one action removed (a statement left empty is dropped)."""
    doc = copy.deepcopy(doc)
    kept = []
    for st in doc["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        st["Action"] = [a for a in actions if a != action]
        if st["Action"]:
            kept.append(st)
    doc["Statement"] = kept
    return doc


def _admin_owns_the_dummy_keys(iam) -> None:
    """An admin user whose access key is the emulator's dummy `testing` pair (moto generates
    key ids; the emulator's runtime signs its S3 staging calls with `testing`)."""
    from moto.iam.models import iam_backends

    iam.create_user(UserName="emulator-admin")
    iam.put_user_policy(UserName="emulator-admin", PolicyName="admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))  # fmt: skip
    iam.create_access_key(UserName="emulator-admin")
    (key,) = iam_backends[ACCOUNT]["aws"].users["emulator-admin"].access_keys
    key.access_key_id, key.secret_access_key = "testing", "testing"


@pytest.fixture
def enforced(emulated_aws, monkeypatch):
    """(aws, airflow user's keys, recorded actions): provisioned as admin, then enforcing."""
    from moto.core.authorization import enable_iam_authentication
    from moto.iam import access_control

    provision(emulated_aws, LAYOUT, data=ROOT / "data" / "dados_vendas.csv",
              script=ROOT / "spark" / "processar_vendas.py")  # fmt: skip
    iam = emulated_aws.client("iam")
    _admin_owns_the_dummy_keys(iam)
    iam.create_user(UserName=AIRFLOW_USER)
    iam.put_user_policy(UserName=AIRFLOW_USER, PolicyName="airflow-emr",
                        PolicyDocument=POLICY_PATH.read_text())
    key = iam.create_access_key(UserName=AIRFLOW_USER)["AccessKey"]
    keys = (key["AccessKeyId"], key["SecretAccessKey"])

    recorded: list[tuple[str, str]] = []  # (user arn, action) of every checked request
    original = access_control.IAMRequestBase.check_action_permitted

    def record(self, resource):
        recorded.append((self._access_key.arn, self._action))
        return original(self, resource)

    monkeypatch.setattr(access_control.IAMRequestBase, "check_action_permitted", record)
    with enable_iam_authentication():
        yield emulated_aws, keys, recorded


def airflow_actions(recorded) -> set[str]:
    arn = f"arn:aws:iam::{ACCOUNT}:user/{AIRFLOW_USER}"
    return {action for who, action in recorded if who == arn}


def set_policy(aws, doc: dict) -> None:
    aws.client("iam").put_user_policy(UserName=AIRFLOW_USER, PolicyName="airflow-emr",
                                      PolicyDocument=json.dumps(doc))


def as_airflow_user(aws, keys):
    """run_dag's `aws=`: no dummy-key connection; the Airflow connection holds the user's keys."""
    env = {**aws.env(), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1],
           **connection_env(aws.url, region=aws.region, login=keys[0], password=keys[1])}
    return SimpleNamespace(url=None, region=aws.region, env=lambda: env)


def run_pipeline(aws, keys):
    from harness.airflow.dag_runner import run_dag

    return run_dag("pipeline_emr", dags_folder=ROOT / "dags", variables=LAYOUT.variables(),
                   aws=as_airflow_user(aws, keys), poke_interval=0.2, retries=0)


def _dag_module():
    spec = importlib.util.spec_from_file_location("pipeline_emr_iam", ROOT / "dags" /
                                                  "pipeline_emr.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def task_calls(aws, keys) -> None:
    """The API calls pipeline_emr's tasks make, in order, as the Airflow user: S3KeySensor's
    HeadObject; EmrCreateJobFlowOperator's RunJobFlow and its logs link's DescribeCluster;
    EmrAddStepsOperator's AddJobFlowSteps; EmrStepSensor's DescribeStep;
    EmrTerminateJobFlowOperator's TerminateJobFlows. Stops at the first denied call."""
    pipeline = _dag_module()
    settings = pipeline.EmrSettings.from_variables(LAYOUT.variables())
    s3 = aws.client("s3", aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
    emr = aws.client("emr", aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
    s3.head_object(Bucket=LAYOUT.bucket, Key=LAYOUT.input_key)
    cid = emr.run_job_flow(**pipeline.job_flow_overrides(settings))["JobFlowId"]
    emr.describe_cluster(ClusterId=cid)
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=pipeline.spark_steps(settings))["StepIds"]
    emr.describe_step(ClusterId=cid, StepId=sid)
    emr.terminate_job_flows(JobFlowIds=[cid])


def test_the_dag_runs_green_as_a_user_holding_only_the_policy(enforced):
    aws, keys, recorded = enforced
    result = run_pipeline(aws, keys)
    assert result.ok, result.failure_report()
    used = airflow_actions(recorded)
    # Every enforced action of the policy was needed, and nothing outside it was used.
    assert used == policy_actions(policy()) - UNENFORCED, used
    # task_calls makes exactly the DAG's calls (by action), so removing an action from the
    # policy fails task_calls exactly where it fails the DAG.
    recorded.clear()
    task_calls(aws, keys)
    assert airflow_actions(recorded) == used


@pytest.mark.parametrize("action", sorted(policy_actions(policy()) - UNENFORCED))
def test_each_enforced_action_is_needed(enforced, action):
    aws, keys, _ = enforced
    task_calls(aws, keys)  # green with the full policy
    set_policy(aws, without(policy(), action))
    with pytest.raises(ClientError) as e:
        task_calls(aws, keys)
    error = e.value.response["Error"]
    if action.startswith("s3:"):
        # HeadObject has no body: S3 says 403 and cannot name the action.
        assert (error["Code"], e.value.operation_name) == ("403", "HeadObject"), error
    else:
        # moto answers EMR's JSON protocol with an XML error body, which botocore cannot
        # parse: the code is then "403" and the message is that body (AccessDenied inside).
        assert (error["Code"] == "AccessDenied"
                or "<Code>AccessDenied</Code>" in error["Message"]), error
        assert f"is not authorized to perform: {action}" in error["Message"], error
        assert e.value.operation_name == action.split(":")[1]


def test_a_full_run_without_describe_step_fails_at_the_sensor_naming_it(enforced):
    aws, keys, _ = enforced
    set_policy(aws, without(policy(), "elasticmapreduce:DescribeStep"))
    result = run_pipeline(aws, keys)
    assert not result.ok
    assert result.task_states["aguardar_step_spark"] == "failed", result.summary()
    assert "not authorized to perform: elasticmapreduce:DescribeStep" in result.log(
        "aguardar_step_spark")
    assert result.task_states["terminar_cluster_emr"] == "success"  # teardown still allowed


def test_gap_moto_does_not_check_pass_role_on_run_job_flow(enforced):
    """On AWS, RunJobFlow needs iam:PassRole on both roles; moto lets it through without.
    If this starts failing, moto enforces PassRole: drop it from UNENFORCED."""
    aws, keys, _ = enforced
    set_policy(aws, without(policy(), "iam:PassRole"))
    task_calls(aws, keys)  # no AccessDenied
