"""After a run: which clusters it created (``RunAttribution``), their final state, failed
steps with their log tails, what S3 holds; and terminating a killed run's clusters.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.airflow.environment import RunSpec, _is_backend
from harness.airflow.results import ACTIVE_CLUSTER_STATES, DagRunResult

__all__ = ["RUN_APP_ID_PREFIX", "RunAttribution"]


def _client(aws: Any, service: str, url: str | None, region: str) -> Any:
    """A client from ``aws`` itself (a backend, an EmulatedAWS), else one aimed at ``url``.
    ``url`` is None only for backends (the aws backend has no endpoint URL), which make their
    own clients; without either, boto3 would aim dummy credentials at real AWS: refuse."""
    if hasattr(aws, "client"):
        return aws.client(service)
    if url is None:
        raise ValueError(f"cannot inspect {service}: {aws!r} makes no clients and there is "
                         "no endpoint URL")
    import boto3

    # types-boto3 types client() for literal service names only; this one is "emr" or "s3".
    return boto3.client(service, endpoint_url=url,  # type: ignore[call-overload]
                        region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


#: Prefix of the User-Agent app id (botocore's ``AWS_SDK_UA_APP_ID``) marking one run's AWS calls.
RUN_APP_ID_PREFIX = "harness-run-"


@dataclass(frozen=True)
class RunAttribution:
    """How to tell the clusters one run created from everyone else's.

    ``app_id``: the run's clients send ``app/<app_id>`` in their User-Agent, and an emulator
    that records it (``aws.runtime``) says exactly which clusters the run created, even with
    other clients or runs active at the same time. ``before``: for other endpoints, the
    cluster ids that existed before the run (exact for runs one after another).
    """

    app_id: str | None
    before: frozenset[str] | None


def _attribution(spec: RunSpec, aws: Any, url: str | None, region: str) -> RunAttribution:
    """Tag the run's AWS clients (called before the run starts)."""
    if not (url or _is_backend(aws)):
        return RunAttribution(None, None)
    # An environment variable, not the connection's ``config_kwargs``: a hook given an explicit
    # ``botocore_config`` (the DAG's operators) ignores the connection's config_kwargs.
    app_id = RUN_APP_ID_PREFIX + uuid.uuid4().hex[:12]
    spec.extra_env["AWS_SDK_UA_APP_ID"] = app_id
    if _emr_runtime(aws) is not None:
        return RunAttribution(app_id, None)
    return RunAttribution(app_id, frozenset(_cluster_ids(_client(aws, "emr", url, region))))


def _emr_runtime(aws: Any) -> Any:
    """The emulator's EMR runtime (it records who created each cluster), if ``aws`` has one."""
    if aws is None or isinstance(aws, str):
        return None
    # A backend (embedded, localstack) holds its EmulatedAWS as `.emulator`.
    runtime = getattr(getattr(aws, "emulator", None) or aws, "runtime", None)
    return runtime if callable(getattr(runtime, "clusters", None)) else None


def _cluster_ids(emr: Any) -> list[str]:
    return [c["Id"] for page in emr.get_paginator("list_clusters").paginate()
            for c in page["Clusters"]]  # fmt: skip


def _run_cluster_ids(aws: Any, emr: Any, owner: RunAttribution) -> set[str]:
    """Ids of the clusters the run created (see ``RunAttribution``)."""
    runtime = _emr_runtime(aws)
    if runtime is not None and owner.app_id is not None:
        return {r.id for r in runtime.clusters(app_id=owner.app_id)}
    return set(_cluster_ids(emr)) - set(owner.before or ())


def _inspect(aws: Any, url: str | None, region: str, owner: RunAttribution,
             result: DagRunResult) -> None:  # fmt: skip
    t = time.perf_counter()
    _inspect_emr(aws, url, region, owner, result)
    _inspect_s3(aws, url, region, result)
    result.timings["inspect"] = time.perf_counter() - t


def _inspect_s3(aws: Any, url: str | None, region: str, result: DagRunResult,
                limit: int = 1000) -> None:
    """``s3_keys``: what the emulated S3 holds after the run (up to ``limit`` keys a bucket)."""
    s3 = _client(aws, "s3", url, region)
    for bucket in s3.list_buckets().get("Buckets", []):
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            keys += [o["Key"] for o in page.get("Contents", [])]
            if len(keys) >= limit:
                break
        result.s3_keys[bucket["Name"]] = sorted(keys[:limit])


#: Steps whose logs a failure report shows: failed, and stopped before finishing (a hung step
#: cancelled when its cluster was terminated, for instance).
STEP_PROBLEM_STATES = ["FAILED", "CANCELLED", "INTERRUPTED"]


def _inspect_emr(aws: Any, url: str | None, region: str, owner: RunAttribution,
                 result: DagRunResult) -> None:  # fmt: skip
    """Fill ``clusters`` (created by this run) and ``step_failures`` from the emulator."""
    emr = _client(aws, "emr", url, region)
    mine = _run_cluster_ids(aws, emr, owner)
    clusters = []
    for page in emr.get_paginator("list_clusters").paginate():
        clusters += [c for c in page["Clusters"] if c["Id"] in mine]
    for c in clusters:
        status = c["Status"]
        result.clusters.append({
            "id": c["Id"],
            "name": c.get("Name"),
            "state": status["State"],
            "reason": (status.get("StateChangeReason") or {}).get("Code"),
            "message": (status.get("StateChangeReason") or {}).get("Message"),
        })
        for page in emr.get_paginator("list_steps").paginate(ClusterId=c["Id"],
                                                             StepStates=STEP_PROBLEM_STATES):
            for step in page["Steps"]:
                details = step["Status"].get("FailureDetails") or {}
                tail = stdout_tail = None
                if hasattr(aws, "step_stderr_tail"):
                    try:
                        tail = aws.step_stderr_tail(c["Id"], step["Id"])
                    except Exception as e:  # the report must not hide the run's own failure
                        tail = f"(stderr unavailable: {e})"
                if hasattr(aws, "step_dir"):
                    # spark-submit's PythonRunner sends the Python driver's traceback to stdout.
                    try:
                        stdout_tail = _tail(Path(aws.step_dir(c["Id"], step["Id"])) / "stdout")
                    except Exception:  # a backend whose steps' logs are not local
                        stdout_tail = None
                result.step_failures.append({
                    "cluster_id": c["Id"],
                    "step_id": step["Id"],
                    "name": step.get("Name"),
                    "state": step["Status"]["State"],
                    "reason": details.get("Reason"),
                    "message": details.get("Message"),
                    "log_file": details.get("LogFile"),
                    "stderr_tail": tail,
                    "stdout_tail": stdout_tail,
                })


def _tail(path: Path, lines: int = 20) -> str | None:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return None


def _after_kill(aws: Any, url: str | None, region: str, owner: RunAttribution,
                result: DagRunResult) -> None:
    """A killed worker ran no teardown: terminate the clusters this run created."""
    if not (result.timed_out and result.timed_out.get("how") == "worker killed"):
        return
    emr = _client(aws, "emr", url, region)
    mine = _run_cluster_ids(aws, emr, owner)
    live = {c["Id"] for page in emr.get_paginator("list_clusters").paginate(
        ClusterStates=list(ACTIVE_CLUSTER_STATES[:-1])) for c in page["Clusters"]}
    if mine & live:
        emr.terminate_job_flows(JobFlowIds=sorted(mine & live))
