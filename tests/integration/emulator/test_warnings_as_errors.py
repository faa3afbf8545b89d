"""Python warnings escalated to errors (`-W error`, `filterwarnings = error`) must never turn an
API call into a server error: botocore retries a 500, so one RunJobFlow made five clusters."""

from __future__ import annotations

import logging
import warnings

import botocore.exceptions
import pytest

from .conftest import ok_step, run_cluster


def test_run_job_flow_under_warnings_as_errors_makes_one_cluster(emulated_aws, emr, caplog):
    caplog.set_level(logging.WARNING, logger="harness.emr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the server threads share the process's filters
        cid = run_cluster(emr, steps=[ok_step()])  # emr-6.15.0 (Spark 3.4) vs local pyspark
        clusters = emr.list_clusters()["Clusters"]
    assert [c["Id"] for c in clusters] == [cid]
    # the version problem is still reported: recorded, and logged once for the cluster
    assert len(emulated_aws.version_warnings) == 1
    assert "emr-6.15.0" in emulated_aws.version_warnings[0]
    logged = [r for r in caplog.records if r.name == "harness.emr" and "emr-6.15.0" in r.message]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING


def test_a_warning_raised_in_any_handler_is_a_clear_error_not_a_retried_500(
    emulated_aws, emr, monkeypatch
):
    from moto.emr.responses import ElasticMapReduceResponse

    calls = []
    original = ElasticMapReduceResponse.list_clusters

    def noisy(self):
        calls.append(1)
        warnings.warn("something deprecated inside moto", DeprecationWarning, stacklevel=1)
        return original(self)

    monkeypatch.setattr(ElasticMapReduceResponse, "list_clusters", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            emr.list_clusters()
    error = exc.value.response["Error"]
    assert error["Code"] == "EmulatorWarningRaisedAsError"
    assert "DeprecationWarning: something deprecated inside moto" in error["Message"]
    assert len(calls) == 1  # not retried
    monkeypatch.undo()
    assert emr.list_clusters()["Clusters"] == []  # the endpoint is fine afterwards


def test_a_warning_raised_outside_moto_is_the_same_clear_error(emulated_aws, emr, monkeypatch):
    from harness.emr import faults

    calls = []

    def noisy(environ):
        calls.append(1)
        warnings.warn("something deprecated in the middleware", DeprecationWarning, stacklevel=1)

    monkeypatch.setattr(faults, "operation_of", noisy)
    emulated_aws.faults.throttle("ListClusters", times=1)  # makes the middleware look
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            emr.list_clusters()
    assert exc.value.response["Error"]["Code"] == "EmulatorWarningRaisedAsError"
    assert len(calls) == 1  # not retried
