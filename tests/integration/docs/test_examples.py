"""The slow examples of README.md and docs/*.md (marked `<!-- run-in: integration -->`: a DAG
end to end with Spark, the warm loop) run here; tests/unit/docs runs the rest and checks that
every block is classified."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.emr.connect import SERVER_URL_ENV
from tests import docs_examples as docs
from tests.docs_examples import ROOT, Block

BLOCKS = docs.runnable(docs.INTEGRATION)


def test_there_are_slow_examples() -> None:
    assert len(BLOCKS) >= 3, [b.location for b in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.location for b in BLOCKS])
def test_example_runs(block: Block, request: pytest.FixtureRequest,
                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    # Their emulators (and `harness up`) run PySpark steps on the session's warm server (the
    # documented HARNESS_SPARK_CONNECT_URL), not on a JVM of their own: the cold spark-submit
    # path is the pipeline's *_on_cold_spark_submit test, `up`'s own server tests/integration/warm.
    url = request.getfixturevalue("spark_connect_server").wait_ready()
    if block.kind in ("python", "python-test"):
        monkeypatch.setenv(SERVER_URL_ENV, url)
        docs.run_python(block, request.getfixturevalue)
        return
    assert block.kind == "shell", block
    # Warm services of the example go to a folder of the test's, never a developer's own
    # .harness/warm, and are stopped even when the example fails half-way.
    warm_dir = tmp_path / "warm"
    env = docs.shell_env(HARNESS_WARM_DIR=str(warm_dir), **{SERVER_URL_ENV: url})
    try:
        out = docs.run_shell(block, env=env, timeout=1500)
    finally:
        if (warm_dir / "state.json").exists():
            subprocess.run([sys.executable, "-m", "harness", "down", "--warm-dir",
                            str(warm_dir)], cwd=ROOT, env=env, timeout=300, check=False)
    assert not (warm_dir / "state.json").exists(), "the example left warm services running"
    if any(shlex.split(c, comments=True)[:4] == ["python", "-m", "harness", "up"]
           for c in block.commands()):
        # what the example says `run` prints once `up` has run: the runs were warm, not cold
        assert out.count("using warm services started by `harness up`") == 2, out[-3000:]
