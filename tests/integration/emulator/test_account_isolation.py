"""A fresh emulated account stays fresh, and stays cheap (harness.moto_tuning).

AWS-managed IAM policies are built on first use, not on the account's first request; they are
still all there, attachable, and per account: an attachment or a policy made before a reset (or
in an earlier endpoint) is never seen after it.
"""

from __future__ import annotations

import json

import pytest

from harness import moto_tuning
from harness.endpoint import EmulatedAWS

EMR_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceRole"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "elasticmapreduce.amazonaws.com"},
     "Action": "sts:AssumeRole"}]})  # fmt: skip


def _iam_backends():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    return list(iam_backends[DEFAULT_ACCOUNT_ID].values())


def _moto_policy_count() -> int:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return len(json.loads(aws_managed_policies_data))


def _aws_policies(iam) -> list[str]:
    pages = iam.get_paginator("list_policies").paginate(Scope="AWS")
    return [p["Arn"] for page in pages for p in page["Policies"]]


def test_first_requests_do_not_build_managed_policies(emulated_aws):
    s3 = emulated_aws.client("s3")
    s3.create_bucket(Bucket="isolation-bucket")
    s3.put_object(Bucket="isolation-bucket", Key="k", Body=b"v")
    # moto's request path built an IAM backend per partition, without their ~1,600 policies.
    backends = _iam_backends()
    assert backends, "moto built no IAM backend: the premise of this test changed"
    assert not any(moto_tuning.managed_policies_loaded(b) for b in backends)


def test_managed_policies_are_all_there_and_attachable(emulated_aws):
    iam = emulated_aws.client("iam")
    arns = _aws_policies(iam)
    assert len(arns) == _moto_policy_count() > 1000
    assert EMR_POLICY in arns
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="r", PolicyArn=EMR_POLICY)
    policy = iam.get_policy(PolicyArn=EMR_POLICY)["Policy"]
    assert policy["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=EMR_POLICY,
                                     VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["Document"]["Statement"], version  # the real document, not an empty stub


def test_reset_forgets_attachments_roles_policies_and_objects(emulated_aws):
    iam, s3 = emulated_aws.client("iam"), emulated_aws.client("s3")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="r", PolicyArn=EMR_POLICY)
    mine = iam.create_policy(PolicyName="mine", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))["Policy"]["Arn"]
    s3.create_bucket(Bucket="isolation-bucket")
    s3.put_object(Bucket="isolation-bucket", Key="k", Body=b"v")

    emulated_aws.reset()

    assert iam.list_roles()["Roles"] == []
    assert iam.get_policy(PolicyArn=EMR_POLICY)["Policy"]["AttachmentCount"] == 0
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=mine)
    assert s3.list_buckets()["Buckets"] == []
    assert iam.list_policies(Scope="AWS", MaxItems=1)["IsTruncated"]  # rebuilt, all of them


def test_a_new_endpoint_starts_from_an_empty_account(tmp_path):
    with EmulatedAWS(workdir=tmp_path / "one") as aws:
        iam = aws.client("iam")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        iam.attach_role_policy(RoleName="r", PolicyArn=EMR_POLICY)
        aws.client("s3").create_bucket(Bucket="isolation-bucket")
    with EmulatedAWS(workdir=tmp_path / "two") as aws:
        iam = aws.client("iam")
        assert iam.list_roles()["Roles"] == []
        assert iam.get_policy(PolicyArn=EMR_POLICY)["Policy"]["AttachmentCount"] == 0
        assert aws.client("s3").list_buckets()["Buckets"] == []


def test_sessions_share_service_models_once_an_endpoint_started(tmp_path):
    import boto3

    loaders, sessions = [], []
    for name in ("one", "two"):  # one endpoint per process at a time (moto's state is global)
        with EmulatedAWS(workdir=tmp_path / name) as aws:
            assert aws.client("s3").list_buckets()["Buckets"] == []
            sessions.append(aws._session)
            loaders.append(aws._session._session.get_component("data_loader"))
    assert sessions[0] is not sessions[1]
    assert loaders[0] is loaders[1]
    # Any later session of the process (an Airflow AWS hook makes one per hook) too.
    assert boto3.session.Session()._session.get_component("data_loader") is loaders[0]
