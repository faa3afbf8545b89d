"""The import boundaries (pyproject's [tool.importlinter] contracts, run by `nox -s lint`) hold on
the real tree and catch a planted violation of each kind.

A copy of the repository's Python folders is linted, so planting never touches the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in ("harness", "dags", "spark"):
        shutil.copytree(REPO / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    # cwd first on sys.path: the copies shadow any installed `harness`.
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import "
                           "lint_imports_command; sys.exit(lint_imports_command())",
                           "--no-cache"],
                          cwd=root, capture_output=True, text=True, check=False, timeout=300,
                          env={"PYTHONPATH": str(root), "NO_COLOR": "1", "PATH": ""})


def test_contracts_hold_on_the_real_tree(tree: Path) -> None:
    proc = _lint(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("path", "line", "contract"),
    [
        ("dags/pipeline_emr.py", "import harness", "never imports the harness"),
        ("spark/processar_vendas.py", "import boto3", "only pyspark and the standard library"),
        ("harness/emr/logs.py", "import airflow", "never import Airflow"),
        ("harness/guard.py", "from harness.airflow import dag_runner", "never import Airflow"),
        ("harness/cli/run.py", "import airflow", "Only harness.airflow"),
        ("harness/config.py", "from airflow.sdk import Variable", "Only harness.airflow"),
    ],
)
def test_a_planted_violation_breaks_its_contract(tree: Path, path: str, line: str,
                                                 contract: str) -> None:
    target = tree / path
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # planted\n",
                      encoding="utf-8")
    proc = _lint(tree)
    assert proc.returncode != 0, proc.stdout
    broken = [ln for ln in proc.stdout.splitlines() if "BROKEN" in ln]
    assert any(contract in ln for ln in broken), proc.stdout
