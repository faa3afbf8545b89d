"""Integrity of dags/: parses cleanly, no cycles, tags/owner/retries/doc, nothing at import."""

from __future__ import annotations

import socket

import pytest

from harness.airflow.dag_testing import dag_problems

from .conftest import load_dag_module


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "pipeline_emr" in dagbag.dag_ids


def test_every_dag_passes_the_integrity_checks(dagbag):
    problems = [p for dag in dagbag.dags.values() for p in dag_problems(dag)]
    assert problems == []


def test_pipeline_doc_owner_and_tags(dag):
    assert dag.doc_md and "teardown" in dag.doc_md
    assert set(dag.tags) == {"emr", "spark", "aws"}
    assert {t.owner for t in dag.tasks} == {"data-engineering"}
    assert dag.schedule is None and dag.catchup is False
    assert dag.max_active_runs == 1


def test_parsing_the_dag_touches_neither_network_nor_variables(monkeypatch):
    """The seed called Variable.get at parse time (a DB query per parse); this file must not."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network or Variable access at parse time: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from airflow.sdk import Variable

    monkeypatch.setattr(Variable, "get", refuse)
    module = load_dag_module("pipeline_emr_guarded_parse")
    assert module.dag.dag_id == "pipeline_emr"


def test_the_guard_above_can_fail(monkeypatch):
    """The parse-time guard is real: a Variable.get under it raises."""
    from airflow.sdk import Variable

    monkeypatch.setattr(Variable, "get", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
    with pytest.raises(AssertionError):
        Variable.get("emr_bucket_name")
