"""The version guard: does the cluster's release run the Spark minor installed locally?

Pure apart from reading the installed pyspark's version.
"""

from __future__ import annotations

__all__ = ["local_pyspark_minor", "version_problem"]


def local_pyspark_minor() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return ".".join(version("pyspark").split(".")[:2])
    except PackageNotFoundError:
        return None


def version_problem(cluster_id: str, label: str | None, local: str | None) -> str | None:
    """What is wrong with running cluster `cluster_id` (ReleaseLabel `label`) on the local
    pyspark minor `local` (None: not installed); None if nothing."""
    if not label:
        return None
    from harness.releases import UnknownReleaseError, get_release

    try:
        release = get_release(label)
    except UnknownReleaseError as exc:
        return f"cluster {cluster_id}: {exc}"
    if local is None:
        return (
            f"cluster {cluster_id} ({label}) runs Spark {release.spark}, but pyspark is not "
            "installed locally: spark-submit steps cannot run (install the `spark` extra)"
        )
    if release.spark_minor != local:
        return (
            f"cluster {cluster_id} uses {label} (Spark {release.spark}, Python "
            f"{release.python}) but local pyspark is {local}.x: steps run on Spark {local} "
            f"here. APIs newer than Spark {release.spark_minor} will pass locally and fail "
            f"on EMR. Test with pyspark=={release.spark_minor}.* (nox -s spark_compat)."
        )
    return None
