"""The DAG worker's start-up: fewer garbage collections while Airflow is imported, its objects
frozen afterwards, CPython's thresholds back for the run (``_dag_worker.start_up_collections``)."""

from __future__ import annotations

import gc

import pytest

from harness.airflow._dag_worker import STARTUP_GC_THRESHOLD, start_up_collections


@pytest.fixture
def restore_gc():
    saved = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_thresholds_are_raised_inside_and_put_back_with_the_start_up_objects_frozen(restore_gc):
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    with start_up_collections():
        assert gc.get_threshold() == (STARTUP_GC_THRESHOLD, 10, 10)
        assert gc.isenabled()
        kept = [object() for _ in range(10)]  # noqa: F841  (lives past the start-up)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() > 0


def test_thresholds_are_put_back_when_the_start_up_fails(restore_gc):
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError, match="parse failed"), start_up_collections():
        raise RuntimeError("parse failed")
    assert gc.get_threshold() == (700, 10, 10)
