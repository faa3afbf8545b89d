"""harness.environ.patched_environ: set and drop for a block, then exactly the old values."""

from __future__ import annotations

import os

import pytest

from harness.environ import patched_environ


def test_values_and_drops_are_undone_after_the_block(monkeypatch):
    monkeypatch.setenv("HARNESS_T_CHANGED", "before")
    monkeypatch.setenv("HARNESS_T_DROPPED", "kept")
    monkeypatch.delenv("HARNESS_T_NEW", raising=False)
    with patched_environ({"HARNESS_T_CHANGED": "during", "HARNESS_T_NEW": "x"},
                         drop=["HARNESS_T_DROPPED"]):  # fmt: skip
        assert os.environ["HARNESS_T_CHANGED"] == "during"
        assert os.environ["HARNESS_T_NEW"] == "x"
        assert "HARNESS_T_DROPPED" not in os.environ
    assert os.environ["HARNESS_T_CHANGED"] == "before"
    assert os.environ["HARNESS_T_DROPPED"] == "kept"
    assert "HARNESS_T_NEW" not in os.environ


def test_an_exception_in_the_block_still_restores(monkeypatch):
    monkeypatch.delenv("HARNESS_T_NEW", raising=False)
    with pytest.raises(RuntimeError), patched_environ({"HARNESS_T_NEW": "x"}):
        raise RuntimeError("boom")
    assert "HARNESS_T_NEW" not in os.environ
