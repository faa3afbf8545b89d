"""spark/ runs on the cluster's Python 3.7 (emr-6.15.0): the lint session must catch 3.8+ code.

Runs the same two checks as `nox -s lint` (keep the flags in sync with noxfile.py) on the real
spark/ folder (must pass) and on a copy with a 3.8+ construct planted (must fail).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUFF = [str(BIN / "ruff"), "check", "--no-cache", "--config", str(REPO / "spark" / "ruff.toml")]
VERMIN = [str(BIN / "vermin"), "--target=3.7-", "--violations", "--no-tips",
          "--eval-annotations", "--backport", "typing"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def planted(tmp_path: Path):
    def plant(code: str) -> Path:
        job = tmp_path / "processar_vendas.py"
        shutil.copy(REPO / "spark" / "processar_vendas.py", job)
        job.write_text(job.read_text(encoding="utf-8") + "\n\n" + code, encoding="utf-8")
        return job

    return plant


def test_spark_folder_passes_the_py37_checks():
    for argv in (RUFF + [str(REPO / "spark")], VERMIN + [str(REPO / "spark")]):
        proc = _run(argv)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_rejects_walrus_in_the_job(planted):
    job = planted("def _n(xs):\n    if (n := len(xs)) > 1:\n        return n\n")
    proc = _run(RUFF + [str(job)])
    assert proc.returncode != 0
    assert "named assignment expression" in proc.stdout and "Python 3.7" in proc.stdout


def test_vermin_rejects_a_3_8_stdlib_call_ruff_cannot_see(planted):
    job = planted("def _p(xs):\n    import math\n\n    return math.prod(xs)\n")
    assert _run(RUFF + [str(job)]).returncode == 0  # syntax is fine: only vermin sees this
    proc = _run(VERMIN + [str(job)])
    assert proc.returncode != 0
    assert "'math.prod' member requires !2, 3.8" in proc.stdout
