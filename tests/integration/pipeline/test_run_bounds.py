"""Runs that cannot succeed end quickly and say why (issue 8): a bad setting fails at once, a
missing input is waited for within a local bound and the wait is visible, a whole-run timeout
stops a stuck run. None of these scenarios reaches Spark."""

from __future__ import annotations

import pytest

from .conftest import LAYOUT, assert_nothing_running


def test_bad_setting_fails_once_without_retry(run_pipeline, pipeline_aws):
    events = []
    result = run_pipeline(variables={"emr_instance_count": "abc"}, progress=events.append)

    assert not result.ok
    assert result.task_states["validar_entrada"] == "failed"
    # Rendering fails before Airflow announces the task running: the one event is its end.
    mine = [(e.state, e.try_number) for e in events
            if e.task_id == "validar_entrada" and e.state != "running"]
    assert mine == [("failed", 1)], mine  # one try, no up_for_retry
    assert "emr_instance_count='abc'" in result.errors["validar_entrada"]
    assert "emr_instance_count" in result.failure_report()
    assert result.task_states["criar_cluster_emr"] == "upstream_failed"
    assert_nothing_running(pipeline_aws, result)
