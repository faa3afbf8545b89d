"""Ending what a real-AWS run created: the seed lesson's "Limpeza" section as code.

    aws emr list-clusters --active            -> find_orphans (tagged, older than a threshold)
    aws emr terminate-clusters --cluster-ids  -> terminate_clusters
    aws s3 rm s3://bucket --recursive; rb     -> delete_bucket

Only resources carrying the harness's run-id tag (`RUN_ID_TAG`) are ever touched, so the sweeper
cannot end a cluster or bucket it did not create. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACTIVE_CLUSTER_STATES",
    "CREATED_BY_TAG",
    "RUN_ID_TAG",
    "Orphan",
    "cluster_run_id",
    "delete_bucket",
    "end_orphans",
    "find_orphans",
    "run_clusters",
    "terminate_clusters",
]

#: Tag on every cluster and bucket a harness run creates; its value is the run id.
RUN_ID_TAG = "airflow-emr:run-id"
CREATED_BY_TAG = "airflow-emr:created-by"
ACTIVE_CLUSTER_STATES = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]


def _tags(pairs: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs or ()}


def cluster_run_id(emr: Any, cluster_id: str) -> str | None:
    """The run-id tag of a cluster (None: not the harness's)."""
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    return _tags(cluster.get("Tags")).get(RUN_ID_TAG)


def run_clusters(emr: Any, run_id: str, *, created_after: datetime) -> list[str]:
    """Active clusters tagged with `run_id`, created after `created_after`."""
    found = []
    pages = emr.get_paginator("list_clusters").paginate(
        CreatedAfter=created_after, ClusterStates=ACTIVE_CLUSTER_STATES
    )
    for page in pages:
        for c in page["Clusters"]:
            if cluster_run_id(emr, c["Id"]) == run_id:
                found.append(c["Id"])
    return found


def terminate_clusters(emr: Any, cluster_ids: list[str], *, wait_s: float = 0) -> None:
    """Terminate the clusters; with `wait_s`, wait (bounded) until they are TERMINATED, so
    their last log upload lands before the bucket is deleted."""
    if not cluster_ids:
        return
    emr.terminate_job_flows(JobFlowIds=cluster_ids)
    if wait_s > 0:
        delay = 2 if wait_s < 120 else 30
        waiter = emr.get_waiter("cluster_terminated")
        for cluster_id in cluster_ids:
            waiter.wait(
                ClusterId=cluster_id,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(wait_s // delay))},
            )


def delete_bucket(s3: Any, bucket: str) -> bool:
    """Empty (every object version and delete marker too) and delete `bucket`.

    Returns False when the bucket does not exist (already cleaned up)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:  # at most 1000 a page, DeleteObjects' limit
            _delete_objects(s3, bucket, keys)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            _delete_objects(s3, bucket, keys)
    s3.delete_bucket(Bucket=bucket)
    return True


def _delete_objects(s3: Any, bucket: str, keys: list[dict[str, str]]) -> None:
    errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True}).get(
        "Errors", []
    )
    if errors:
        first = errors[0]
        raise RuntimeError(
            f"could not empty s3://{bucket}: {len(errors)} object(s) not deleted, e.g. "
            f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
        )


@dataclass(frozen=True)
class Orphan:
    """A tagged resource older than the sweeper's threshold."""

    kind: str  # "cluster" or "bucket"
    id: str
    run_id: str
    created: datetime
    state: str = ""

    def describe(self, now: datetime) -> str:
        age = now - self.created
        hours = age.total_seconds() / 3600
        state = f", {self.state}" if self.state else ""
        return f"{self.kind} {self.id} (run {self.run_id}, created {hours:.1f} h ago{state})"


def find_orphans(
    emr: Any, s3: Any, *, older_than: timedelta, now: datetime | None = None
) -> list[Orphan]:
    """Active clusters and buckets tagged `RUN_ID_TAG` created more than `older_than` ago."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    orphans: list[Orphan] = []
    pages = emr.get_paginator("list_clusters").paginate(
        CreatedBefore=cutoff, ClusterStates=ACTIVE_CLUSTER_STATES
    )
    for page in pages:
        for c in page["Clusters"]:
            created = c["Status"]["Timeline"]["CreationDateTime"]
            if created > cutoff:  # CreatedBefore is the filter; this keeps the rule local too
                continue
            run_id = cluster_run_id(emr, c["Id"])
            if run_id is not None:
                orphans.append(Orphan("cluster", c["Id"], run_id, created, c["Status"]["State"]))
    for bucket in s3.list_buckets().get("Buckets", []):
        if bucket["CreationDate"] > cutoff:
            continue
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet"))
        except s3.exceptions.ClientError as e:
            # Untagged (NoSuchTagSet), or gone / not ours to read: never the harness's.
            # PermanentRedirect: a bucket of another region, swept from that region.
            skip = ("NoSuchTagSet", "NoSuchBucket", "AccessDenied", "PermanentRedirect")
            if e.response["Error"]["Code"] in skip:
                continue
            raise
        if RUN_ID_TAG in tags:
            orphans.append(
                Orphan("bucket", bucket["Name"], tags[RUN_ID_TAG], bucket["CreationDate"])
            )
    return orphans


def end_orphans(
    emr: Any, s3: Any, orphans: list[Orphan], *, out: Callable[[str], Any] = print,
    wait_s: float = 0,
) -> list[str]:  # fmt: skip
    """Terminate the clusters, then empty and delete the buckets. Every orphan is tried;
    returns the errors (one line each), empty when all went."""
    errors = []
    clusters = [o.id for o in orphans if o.kind == "cluster"]
    try:
        terminate_clusters(emr, clusters, wait_s=wait_s)
        for cluster_id in clusters:
            out(f"terminated cluster {cluster_id}")
    except Exception as e:
        errors.append(f"terminating {', '.join(clusters)}: {e}")
    for orphan in orphans:
        if orphan.kind != "bucket":
            continue
        try:
            delete_bucket(s3, orphan.id)
            out(f"deleted bucket {orphan.id}")
        except Exception as e:
            errors.append(f"deleting bucket {orphan.id}: {e}")
    return errors
