"""Fixtures shared by the unit tests."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def s3(monkeypatch):
    """moto's in-process S3 (no server) with an empty bucket `bkt`: a client on it."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        yield client


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under pytest-xdist (`--dist loadgroup`, noxfile.py), every test of the session's local
    # SparkSession runs on one worker: a second worker would start a JVM of its own, which on
    # two cores costs more CPU than the parallelism gains.
    for item in items:
        if "harness_spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("local-spark"))
