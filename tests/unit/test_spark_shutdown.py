"""The `spark` fixture leaves nothing that logs after pytest closed its capture streams."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.spark

INNER_TEST = textwrap.dedent(
    """
    import logging
    import sys


    def test_uses_spark(spark):
        # What Airflow's logging config does when a test imports it: a root handler at INFO on
        # the stream pytest captures (closed when the session ends).
        handler = logging.StreamHandler(sys.stderr)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        assert spark.range(3).count() == 3
    """
)


def test_spark_session_fixture_leaves_no_logging_error_at_exit(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    assert "1 passed" in output
    assert "--- Logging error ---" not in output, output
    assert "I/O operation on closed file" not in output, output
