"""AwsBackend against the emulator: identity, naming, tags, refusals, cleanup on success and
failure (signals: test_smoke_cli.py)."""

from __future__ import annotations

import json

import pytest

from harness.backends.aws import AwsBackend, RequiredRolesMissing
from harness.backends.aws_cleanup import CREATED_BY_TAG, RUN_ID_TAG
from harness.backends.aws_cost import ClusterPlan, CostGuardError
from harness.backends.base import BackendUnavailable

from .conftest import LESSON, bucket_names, cluster_state, small_cluster, tags_of


def test_start_reads_identity_and_names_everything_with_the_run_id(aws_backend_factory):
    with aws_backend_factory(run_id="ab12cd34", bucket_prefix="smoke") as aws:
        assert aws.identity.account == "123456789012"  # moto's account, via STS
        assert aws.bucket_name == "smoke-ab12cd34"
        aws.provision(LESSON.files)
        s3 = aws.client("s3")
        tagging = s3.get_bucket_tagging(Bucket="smoke-ab12cd34")["TagSet"]
        assert tags_of(tagging) == {RUN_ID_TAG: "ab12cd34", CREATED_BY_TAG: "airflow-emr-harness"}
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="smoke-ab12cd34")["Contents"]]
        assert sorted(keys) == ["input/dados_vendas.csv", "scripts/processar_vendas.py"]
        variables = LESSON.variables(aws.run_values())
        assert variables["emr_bucket_name"] == "smoke-ab12cd34"
        assert variables["emr_instance_type"] == "m5.xlarge"
        assert variables["emr_instance_count"] == "1"
        assert json.loads(variables["emr_tags"])[RUN_ID_TAG] == "ab12cd34"
        assert "account 123456789012" in aws.describe() and "run ab12cd34" in aws.describe()


def test_the_dags_cluster_request_carries_the_run_tags(aws_backend_factory, dagbag):
    """The Variables of the lesson's [tool.harness.aws.variables], filled with the backend's run
    values, make pipeline_emr's RunJobFlow tag the cluster."""
    from harness.airflow.dag_testing import emr_request, render_task

    with aws_backend_factory(run_id="feed0001") as aws:
        aws.provision(LESSON.files)
        dag = dagbag.dags["pipeline_emr"]
        _, body = emr_request(render_task(dag, "criar_cluster_emr",
                                          variables=LESSON.variables(aws.run_values())))
        emr = aws.client("emr")
        cid = emr.run_job_flow(**body)["JobFlowId"]  # what the DAG's task sends
        cluster = emr.describe_cluster(ClusterId=cid)["Cluster"]
        assert tags_of(cluster["Tags"])[RUN_ID_TAG] == "feed0001"
        groups = emr.list_instance_groups(ClusterId=cid)["InstanceGroups"]
        assert sorted((g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"])
                      for g in groups) == [("CORE", "m5.xlarge", 1), ("MASTER", "m5.xlarge", 1)]
    assert cluster_state(emr, cid) == "TERMINATED"  # stop() found it by its tag


def test_stop_terminates_only_the_runs_clusters_and_deletes_its_bucket(
    aws_backend_factory, emulated_aws
):
    emr, s3 = emulated_aws.client("emr"), emulated_aws.client("s3")
    other_run = small_cluster(emr, tags={RUN_ID_TAG: "otherrun"})
    untagged = small_cluster(emr)
    with aws_backend_factory(run_id="0000beef") as aws:
        aws.provision(LESSON.files)
        ours = small_cluster(emr, tags=aws.tags())
        # Versioned objects and delete markers are emptied too (EMR log buckets may be).
        s3.put_bucket_versioning(Bucket=aws.bucket_name,
                                 VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=aws.bucket_name, Key="logs/x", Body=b"1")
        s3.put_object(Bucket=aws.bucket_name, Key="logs/x", Body=b"2")
        s3.delete_object(Bucket=aws.bucket_name, Key="logs/x")
    assert cluster_state(emr, ours) == "TERMINATED"
    assert cluster_state(emr, other_run) == "WAITING"
    assert cluster_state(emr, untagged) == "WAITING"
    assert aws.bucket_name not in bucket_names(s3)
    assert aws.cleanup_log == [f"terminated cluster {ours}", f"deleted bucket {aws.bucket_name}"]
    aws.stop()  # idempotent


def test_stop_cleans_up_when_the_body_fails(aws_backend_factory, emulated_aws):
    emr, s3 = emulated_aws.client("emr"), emulated_aws.client("s3")
    with pytest.raises(RuntimeError, match="the run failed"), aws_backend_factory() as aws:
        aws.provision(LESSON.files)
        cid = small_cluster(emr, tags=aws.tags())
        raise RuntimeError("the run failed")
    assert cluster_state(emr, cid) == "TERMINATED"
    assert aws.bucket_name not in bucket_names(s3)


def test_stop_cleans_up_on_keyboard_interrupt(aws_backend_factory, emulated_aws):
    emr, s3 = emulated_aws.client("emr"), emulated_aws.client("s3")
    with pytest.raises(KeyboardInterrupt), aws_backend_factory() as aws:
        aws.provision(LESSON.files)
        cid = small_cluster(emr, tags=aws.tags())
        raise KeyboardInterrupt
    assert cluster_state(emr, cid) == "TERMINATED"
    assert aws.bucket_name not in bucket_names(s3)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (ClusterPlan(instance_type="m5.4xlarge"), "instance type 'm5.4xlarge' is not allowed"),
        (ClusterPlan(core_count=5), "6 instances (1 primary + 5 core) is above the ceiling of 3"),
        (ClusterPlan(run_timeout_s=5 * 3600), "run timeout 18000 s is outside"),
    ],
)
def test_cost_guard_refuses_before_anything_exists(aws_backend_factory, emulated_aws, plan,
                                                   message):
    aws = aws_backend_factory(plan=plan)
    with pytest.raises(CostGuardError, match="cost guard") as e:
        aws.start()
    assert message in str(e.value)
    assert aws.identity is None  # not even STS was called
    assert bucket_names(emulated_aws.client("s3")) == []


def test_missing_emr_roles_are_reported_with_the_fix(aws_backend_factory, emulated_aws):
    iam = emulated_aws.client("iam")
    for policy in iam.list_attached_role_policies(RoleName="EMR_DefaultRole")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="EMR_DefaultRole", PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName="EMR_DefaultRole")
    with aws_backend_factory(profile=None) as aws:
        with pytest.raises(RequiredRolesMissing, match="EMR_DefaultRole: create them once with "
                                                       "`aws emr create-default-roles`"):
            aws.provision(LESSON.files)
        assert bucket_names(emulated_aws.client("s3")) == []


def test_real_aws_is_refused_while_the_offline_guard_is_active(emulated_aws):
    # emulated_aws installed the guard in this process: no endpoint_url means real AWS.
    with pytest.raises(BackendUnavailable, match="offline guard is active"):
        AwsBackend(region="us-east-1").start()


def test_bad_bucket_prefix_is_refused_at_construction():
    with pytest.raises(ValueError, match="not a valid S3 bucket name"):
        AwsBackend(region="us-east-1", bucket_prefix="My_Bucket")


def test_connection_and_env_use_the_profile_and_no_keys():
    aws = AwsBackend(region="eu-west-1", profile="dataeng", run_id="12345678")
    assert aws.connection_extra() == {"region_name": "eu-west-1", "profile_name": "dataeng"}
    env = aws.env()
    assert env["AWS_PROFILE"] == "dataeng" and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert not any(k.startswith("AWS_ENDPOINT_URL") or "KEY" in k for k in env)


def test_rehearsal_of_the_real_smoke_test(aws_backend_factory, emulated_aws, spark, monkeypatch):
    """test_smoke_real.py's body, run for real against the emulator: provision, the DAG through
    run_dag with the backend's connection, output checked with chispa, cleanup."""
    from . import test_smoke_real

    monkeypatch.setattr(test_smoke_real, "POKE_INTERVAL_S", 0.5)
    backend = aws_backend_factory(run_id="rehearse")
    test_smoke_real.smoke_and_check(backend, spark)
    emr = emulated_aws.client("emr")
    (cluster,) = emr.list_clusters()["Clusters"]
    assert cluster["Status"]["State"] == "TERMINATED"
    assert tags_of(emr.describe_cluster(ClusterId=cluster["Id"])["Cluster"]["Tags"])[
        RUN_ID_TAG] == "rehearse"
    assert bucket_names(emulated_aws.client("s3")) == []
