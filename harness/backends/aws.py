"""The real-AWS backend: the caller's profile, a run id in every name and tag, always cleaned up.

    with AwsBackend(profile="dataeng", region="us-east-1") as aws:   # STS: account printed
        aws.provision([("data/input.csv", "input/input.csv")])  # into the run's bucket
        values = aws.run_values()   # bucket <prefix>-<run id>, run id, tags, the cluster plan
        ...                         # run the DAG with Variables filled from them
    # stop(): the run's tagged clusters terminated (waited for), its bucket emptied and deleted

What a DAG needs (which files, which Variables) is the caller's: `python -m harness smoke-aws`
takes it from the repository's ``[tool.harness]`` table (``harness.aws_smoke``).
`endpoint_url` aims every client at another endpoint: the offline tests run this class's real
code paths (gating, naming, tagging, cost guard, cleanup) against the embedded emulator with it.
Without it the backend talks to AWS, so it refuses to start in a process where the offline
guard is active. No Airflow imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from harness.backends.aws_cleanup import (
    CREATED_BY_TAG,
    RUN_ID_TAG,
    delete_bucket,
    run_clusters,
    terminate_clusters,
)
from harness.backends.aws_cost import PRICES_USD_PER_HOUR, ClusterPlan, CostCeiling, check_cost
from harness.backends.base import Backend, BackendUnavailable

__all__ = ["AwsBackend", "Identity", "RequiredRolesMissing"]

DEFAULT_BUCKET_PREFIX = "airflow-emr-smoke"
#: EMR's default roles (`aws emr create-default-roles`): checked, never created, when the run's
#: config asks for them (``emr_default_roles``).
REQUIRED_ROLES = ("EMR_DefaultRole", "EMR_EC2_DefaultRole")
#: How long `stop()` waits for the run's clusters to reach TERMINATED on AWS (their last log
#: upload goes to the bucket, which is deleted after). Against an emulator: a few seconds.
TERMINATE_WAIT_S = 20 * 60
DEFAULT_PLAN = ClusterPlan()  # m5.xlarge: 1 primary + 1 core
DEFAULT_CEILING = CostCeiling()
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class RequiredRolesMissing(RuntimeError):
    """The account lacks the EMR default roles the DAG uses (the message has the fix)."""


@dataclass(frozen=True)
class Identity:
    """Who the backend acts as (STS GetCallerIdentity)."""

    account: str
    arn: str


class AwsBackend(Backend):
    """A real AWS account reached through the caller's profile (`AWS_PROFILE` or `profile=`).

    Args (keyword-only):
        region: the region; None takes the profile's (and fails clearly if it has none).
        run_id: the run's id (default: a fresh one); in the bucket name and every tag.
        profile: the named profile (None: boto3's default chain, `AWS_PROFILE` included).
        bucket_prefix: the bucket is `<bucket_prefix>-<run_id>`.
        plan: the cluster the run asks for and its time bounds (checked by the cost guard).
        ceiling: the cost ceiling.
        endpoint_url: tests only - aim every client at this endpoint instead of AWS.
        terminate_wait_s: how long `stop()` waits for clusters to be TERMINATED.
    """

    name = "aws"
    offline = False

    def __init__(
        self,
        *,
        region: str | None = None,
        run_id: str | None = None,
        profile: str | None = None,
        bucket_prefix: str = DEFAULT_BUCKET_PREFIX,
        plan: ClusterPlan = DEFAULT_PLAN,
        ceiling: CostCeiling = DEFAULT_CEILING,
        endpoint_url: str | None = None,
        terminate_wait_s: float = TERMINATE_WAIT_S,
    ) -> None:
        super().__init__(region=region or "", run_id=run_id)
        self.profile = profile
        self.bucket_prefix = bucket_prefix
        self.plan = plan
        self.ceiling = ceiling
        self.endpoint_url = endpoint_url
        self.terminate_wait_s = terminate_wait_s
        self.identity: Identity | None = None
        self.started_at: datetime | None = None
        self.cleanup_log: list[str] = []
        self._session: Any = None
        # Refuse bad names before anything exists (a bucket name is global and strict).
        if not _BUCKET_RE.match(self.bucket_name) or "--" in self.bucket_name:
            raise ValueError(
                f"bucket name {self.bucket_name!r} (prefix {bucket_prefix!r} + run id) is not a "
                "valid S3 bucket name: 3-63 lowercase letters, digits and single hyphens"
            )

    # -- naming ----------------------------------------------------------------------------
    @property
    def bucket_name(self) -> str:
        return f"{self.bucket_prefix}-{self.run_id}"

    def tags(self) -> dict[str, str]:
        """The tags on everything the run creates (the sweeper looks for `RUN_ID_TAG`)."""
        return {RUN_ID_TAG: self.run_id, CREATED_BY_TAG: "airflow-emr-harness"}

    # -- session, identity -------------------------------------------------------------------
    def session(self) -> Any:
        """The boto3 session (the profile's credentials; created on first use)."""
        if self._session is None:
            import boto3
            from botocore.exceptions import ProfileNotFound

            try:
                self._session = boto3.session.Session(
                    profile_name=self.profile, region_name=self.region or None
                )
            except ProfileNotFound as e:
                raise BackendUnavailable(f"aws backend: {e}") from None
            self.region = self.region or self._session.region_name or ""
        return self._session

    def _require_region(self) -> str:
        self.session()
        if not self.region:
            raise BackendUnavailable(
                "aws backend: no region: pass --region or set one in the profile "
                f"({self.profile or 'default'}) or AWS_DEFAULT_REGION"
            )
        return self.region

    def whoami(self) -> Identity:
        """STS GetCallerIdentity; `BackendUnavailable` when there are no usable credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        session = self.session()
        if session.get_credentials() is None:
            raise BackendUnavailable(
                "aws backend: no AWS credentials found (profile "
                f"{self.profile or 'default chain'}): set AWS_PROFILE or pass --profile"
            )
        self._require_region()
        try:
            ident = self.client("sts").get_caller_identity()
        except (BotoCoreError, ClientError) as e:
            raise BackendUnavailable(f"aws backend: credentials rejected by STS: {e}") from None
        self.identity = Identity(ident["Account"], ident["Arn"])
        return self.identity

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        from harness.guard import EndpointGuard, is_loopback_url

        if self.started_at is not None:
            raise RuntimeError("AwsBackend already started")
        if EndpointGuard.active() and not (
            self.endpoint_url and is_loopback_url(self.endpoint_url)
        ):
            raise BackendUnavailable(
                "aws backend: the offline guard is active in this process (an emulated "
                "backend is running): real AWS calls are refused here"
            )
        check_cost(self.plan, self.ceiling)  # refuse before anything exists
        try:
            self.whoami()
            # EMR lists creation times in whole seconds; a minute of slack for clock skew.
            self.started_at = datetime.now(UTC) - timedelta(seconds=60)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the run's tagged clusters (waiting, bounded), then empty and delete its
        bucket. Idempotent; every part is tried, the first error is raised at the end."""
        if self.started_at is None:
            return
        errors: list[str] = []
        try:
            emr = self.client("emr")
            clusters = run_clusters(emr, self.run_id, created_after=self.started_at)
            terminate_clusters(emr, clusters, wait_s=self.terminate_wait_s)
            self.cleanup_log += [f"terminated cluster {c}" for c in clusters]
        except Exception as e:
            errors.append(f"terminating the run's clusters: {e}")
        try:
            if delete_bucket(self.client("s3"), self.bucket_name):
                self.cleanup_log.append(f"deleted bucket {self.bucket_name}")
        except Exception as e:
            errors.append(f"deleting bucket {self.bucket_name}: {e}")
        if errors:
            raise RuntimeError(
                f"aws backend cleanup of run {self.run_id} incomplete ({'; '.join(errors)}); "
                f"`python -m harness cleanup --older-than 0s --yes` ends what is left"
            )
        self.started_at = None

    # -- where AWS is ----------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        return {}

    def default_endpoint(self) -> str | None:
        return self.endpoint_url

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env

    def connection_extra(self) -> dict[str, Any]:
        extra = super().connection_extra()
        if self.profile:
            extra["profile_name"] = self.profile  # the amazon provider's profile support
        return extra

    def client(self, service: str, **kwargs: Any) -> Any:
        session = self.session()
        if self.endpoint_url:
            kwargs.setdefault("endpoint_url", self.endpoint_url)
        return session.client(service, region_name=self._require_region(), **kwargs)

    def describe(self) -> str:
        who = f"account {self.identity.account}" if self.identity else "account not checked"
        where = f" via {self.endpoint_url}" if self.endpoint_url else ""
        return f"aws backend ({who}, region {self.region or '?'}{where}, run {self.run_id})"

    # -- what the run creates --------------------------------------------------------------
    def plan_lines(self) -> list[str]:
        """What a run would create, for the console (printed before anything happens)."""
        tags = ", ".join(f"{k}={v}" for k, v in self.tags().items())
        return [
            f"run id: {self.run_id}",
            f"S3 bucket: s3://{self.bucket_name} (tags {tags}); the run's uploads, outputs, "
            "EMR logs; emptied and deleted at the end",
            f"EMR cluster: {self.plan.describe()}, tags {tags}; terminated at the end",
            f"hard stops: run timeout {self.plan.run_timeout_s} s (the DAG run's budget and "
            f"the harness deadline), cluster idle auto-termination {self.plan.idle_timeout_s} s",
            f"cost ceiling: at most {self.ceiling.max_instances} instances of "
            f"{', '.join(sorted(PRICES_USD_PER_HOUR))}, worst case at most "
            f"${self.ceiling.max_usd:.2f} (this plan: {self._worst_case()})",
            f"IAM: uses the existing {', '.join(REQUIRED_ROLES)} if the config asks for EMR's "
            "default roles (not created)",
        ]

    def _worst_case(self) -> str:
        if self.plan.instance_type not in PRICES_USD_PER_HOUR:
            return f"{self.plan.instance_type} is not allowed"
        return f"${self.plan.worst_case_usd():.2f}"

    def provision(
        self, files: Iterable[tuple[str | Path, str]], *,
        roles: Iterable[str] = REQUIRED_ROLES,
    ) -> list[str]:  # fmt: skip
        """Check that ``roles`` exist, create the run's tagged bucket, upload each (local file,
        key) into it. Returns the ``s3://`` URIs uploaded."""
        if self.started_at is None:
            raise RuntimeError("start the backend first (use it as a context manager)")
        pairs = [(Path(local), key) for local, key in files]
        missing = [str(local) for local, _ in pairs if not local.is_file()]
        if missing:
            raise FileNotFoundError(f"aws backend: no such file to upload: {', '.join(missing)}")
        self.check_roles(roles)
        s3 = self.client("s3")
        params: dict[str, Any] = {"Bucket": self.bucket_name}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**params)
        s3.put_bucket_tagging(
            Bucket=self.bucket_name,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in self.tags().items()]},
        )
        uploaded = []
        for local, key in pairs:
            s3.upload_file(str(local), self.bucket_name, key)
            uploaded.append(f"s3://{self.bucket_name}/{key}")
        return uploaded

    def check_roles(self, roles: Iterable[str] = REQUIRED_ROLES) -> None:
        iam = self.client("iam")
        missing = []
        for role in roles:
            try:
                iam.get_role(RoleName=role)
            except iam.exceptions.NoSuchEntityException:
                missing.append(role)
        if missing:
            profile = f" --profile {self.profile}" if self.profile else ""
            raise RequiredRolesMissing(
                f"the account lacks {', '.join(missing)}: create them once with "
                f"`aws emr create-default-roles{profile}`, then re-run"
            )

    def run_values(self) -> dict[str, str]:
        """This run's values for a config's ``{placeholders}``: its bucket, run id, region,
        tags (JSON) and the cluster plan's size (``harness.config.AWS_PLACEHOLDERS``)."""
        return {
            "bucket": self.bucket_name,
            "run_id": self.run_id,
            "region": self.region,
            "tags": json.dumps(self.tags()),
            "instance_type": self.plan.instance_type,
            "core_count": str(self.plan.core_count),
        }
