"""`python -m harness cleanup`: tagged orphans older than a threshold, dry run by default."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from harness import cleanup
from harness.backends.aws_cleanup import RUN_ID_TAG, find_orphans

from .conftest import bucket_names, cluster_state, small_cluster


@pytest.fixture
def leftovers(emulated_aws):
    """What two crashed runs left (a cluster and a bucket each), and what is not ours."""
    emr, s3 = emulated_aws.client("emr"), emulated_aws.client("s3")
    ids = {
        "crashed-1": small_cluster(emr, tags={RUN_ID_TAG: "crashed1"}),
        "crashed-2": small_cluster(emr, tags={RUN_ID_TAG: "crashed2"}),
        "untagged": small_cluster(emr, tags={"team": "data"}),
    }
    for name, tags in [("airflow-emr-smoke-crashed1", {RUN_ID_TAG: "crashed1"}),
                       ("someone-elses-bucket", None), ("tagged-not-ours", {"team": "data"})]:
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="logs/j-1/stderr.gz", Body=b"x")
        if tags:
            s3.put_bucket_tagging(Bucket=name, Tagging={
                "TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    return ids


def args(url, *extra):
    parser = argparse.ArgumentParser()
    cleanup.add_arguments(parser)
    return parser.parse_args(["--endpoint-url", url, "--region", "us-east-1", *extra])


def test_find_orphans_uses_creation_times_and_the_tag(emulated_aws, leftovers):
    emr, s3 = emulated_aws.client("emr"), emulated_aws.client("s3")
    assert find_orphans(emr, s3, older_than=timedelta(hours=2)) == []  # all too young
    later = datetime.now(UTC) + timedelta(hours=3)
    found = find_orphans(emr, s3, older_than=timedelta(hours=2), now=later)
    assert {(o.kind, o.id, o.run_id) for o in found} == {
        ("bucket", "airflow-emr-smoke-crashed1", "crashed1"),
        ("cluster", leftovers["crashed-1"], "crashed1"),
        ("cluster", leftovers["crashed-2"], "crashed2"),
    }
    assert all(o.created < later - timedelta(hours=2) for o in found)


def test_dry_run_lists_and_changes_nothing(emulated_aws, leftovers):
    lines: list[str] = []
    assert cleanup.main(args(emulated_aws.url, "--older-than", "0s"), out=lines.append) == 0
    text = "\n".join(lines)
    assert "account 123456789012, region us-east-1" in text
    assert f"cluster {leftovers['crashed-1']} (run crashed1" in text
    assert "bucket airflow-emr-smoke-crashed1 (run crashed1" in text
    assert "dry run: 3 resource(s) would be ended; re-run with --yes" in text
    emr = emulated_aws.client("emr")
    assert {cluster_state(emr, c) for c in leftovers.values()} == {"WAITING"}
    assert "airflow-emr-smoke-crashed1" in bucket_names(emulated_aws.client("s3"))


def test_yes_ends_the_tagged_orphans_only(emulated_aws, leftovers):
    lines: list[str] = []
    code = cleanup.main(args(emulated_aws.url, "--older-than", "0s", "--yes"), out=lines.append)
    assert code == 0, lines
    emr = emulated_aws.client("emr")
    assert cluster_state(emr, leftovers["crashed-1"]) in ("TERMINATING", "TERMINATED")
    assert cluster_state(emr, leftovers["crashed-2"]) in ("TERMINATING", "TERMINATED")
    assert cluster_state(emr, leftovers["untagged"]) == "WAITING"
    assert sorted(bucket_names(emulated_aws.client("s3"))) == [
        "someone-elses-bucket", "tagged-not-ours"]
    assert "deleted bucket airflow-emr-smoke-crashed1" in lines


def test_the_default_threshold_spares_young_resources(emulated_aws, leftovers):
    lines: list[str] = []
    assert cleanup.main(args(emulated_aws.url, "--yes"), out=lines.append) == 0  # 2h default
    assert lines[-1] == "nothing to clean up"
    emr = emulated_aws.client("emr")
    assert cluster_state(emr, leftovers["crashed-1"]) == "WAITING"


@pytest.mark.parametrize("text", ["2", "h", "-1h", "2 hours", "1w"])
def test_bad_ages_are_refused_with_the_expected_form(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number and a unit"):
        cleanup.parse_age(text)


def test_ages():
    assert cleanup.parse_age("2h") == timedelta(hours=2)
    assert cleanup.parse_age("90m") == timedelta(minutes=90)
    assert cleanup.parse_age("1.5d") == timedelta(hours=36)
    assert cleanup.parse_age("0s") == timedelta(0)
