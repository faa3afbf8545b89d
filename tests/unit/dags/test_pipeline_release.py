"""The DAG's EMR release is vetted, and its Spark minor is one `nox -s spark_compat` tests."""

from __future__ import annotations

import ast

from harness.airflow.dag_testing import render_task
from harness.releases import RELEASES, get_release

from .conftest import REPO


def spark_compat_minors() -> tuple[str, ...]:
    """SPARK_COMPAT_MINORS from noxfile.py, read with ast (nox need not be installed)."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SPARK_COMPAT_MINORS" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py defines no SPARK_COMPAT_MINORS")


def test_default_release_label_is_in_the_release_table(dag):
    label = render_task(dag, "criar_cluster_emr").job_flow_overrides["ReleaseLabel"]
    assert label in RELEASES, f"{label} is not in harness/releases.py"


def test_default_release_spark_minor_is_tested_by_spark_compat(dag, pipeline):
    label = render_task(dag, "criar_cluster_emr").job_flow_overrides["ReleaseLabel"]
    assert label == pipeline.EmrSettings().release_label
    release = get_release(label)
    assert release.spark_minor in spark_compat_minors(), (
        f"{label} runs Spark {release.spark}; spark_compat tests {spark_compat_minors()}"
    )
    # The cluster's Python is the one spark/ is linted for (ruff/vermin target 3.7).
    assert release.python == "3.7"
