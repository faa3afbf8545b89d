"""`aws emr create-default-roles`, in boto3, for the emulated endpoint.

The AWS CLI command cannot provision the emulator: it sends IAM calls to the global IAM
endpoint unless AWS_ENDPOINT_URL is set, and even then it derives the EMR service principal
from an endpoint host shaped `<region>.elasticmapreduce.<suffix>` - a loopback URL is not, so
it stops with "Could not resolve the service principal". This function creates what the CLI
creates (awscli/customizations/emr/createdefaultroles.py): the same roles, trust policies,
managed-policy attachments and instance profile; existing ones are left alone.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DEFAULT_ROLES", "create_default_roles"]

EC2_PRINCIPAL = "ec2.amazonaws.com"
EMR_PRINCIPAL = "elasticmapreduce.amazonaws.com"
AUTOSCALING_PRINCIPAL = "application-autoscaling.amazonaws.com"

#: role name -> (service principals, AWS-managed policy name)
DEFAULT_ROLES: dict[str, tuple[tuple[str, ...], str]] = {
    "EMR_EC2_DefaultRole": ((EC2_PRINCIPAL,), "AmazonElasticMapReduceforEC2Role"),
    "EMR_DefaultRole": ((EMR_PRINCIPAL,), "AmazonElasticMapReduceRole"),
    "EMR_AutoScaling_DefaultRole": (
        (EMR_PRINCIPAL, AUTOSCALING_PRINCIPAL),
        "AmazonElasticMapReduceforAutoScalingRole",
    ),
}
INSTANCE_PROFILE = "EMR_EC2_DefaultRole"


def assume_role_policy(principals: tuple[str, ...]) -> dict[str, Any]:
    """The trust policy the CLI writes (a single principal is a string, several a list)."""
    service: str | list[str] = principals[0] if len(principals) == 1 else list(principals)
    return {
        "Version": "2008-10-17",
        "Statement": [
            {
                "Sid": "",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }  # fmt: skip
        ],
    }


def _iam(session_or_client: Any) -> Any:
    if hasattr(session_or_client, "create_role"):
        return session_or_client
    return session_or_client.client("iam")


def create_default_roles(session_or_client: Any, *, partition: str = "aws") -> dict[str, Any]:
    """Create EMR_EC2_DefaultRole (+ its instance profile), EMR_DefaultRole and
    EMR_AutoScaling_DefaultRole with their managed policies, as `aws emr create-default-roles`.

    `session_or_client` is an IAM client or a boto3 Session (its `client("iam")` is used, so
    AWS_ENDPOINT_URL decides where it goes). Returns {"created": [...], "existing": [...]}.
    """
    iam = _iam(session_or_client)
    created, existing = [], []
    for role, (principals, policy) in DEFAULT_ROLES.items():
        try:
            iam.get_role(RoleName=role)
            existing.append(role)
        except iam.exceptions.NoSuchEntityException:
            iam.create_role(
                RoleName=role, AssumeRolePolicyDocument=json.dumps(assume_role_policy(principals))
            )
            iam.attach_role_policy(
                RoleName=role, PolicyArn=f"arn:{partition}:iam::aws:policy/service-role/{policy}"
            )
            created.append(role)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=INSTANCE_PROFILE)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        iam.create_instance_profile(InstanceProfileName=INSTANCE_PROFILE)
        profile = {"Roles": []}
        created.append(f"instance-profile/{INSTANCE_PROFILE}")
    if not any(r["RoleName"] == INSTANCE_PROFILE for r in profile.get("Roles", [])):
        iam.add_role_to_instance_profile(
            InstanceProfileName=INSTANCE_PROFILE, RoleName=INSTANCE_PROFILE
        )
    return {"created": created, "existing": existing}
