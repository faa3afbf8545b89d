"""pyproject's [tool.mypy] (run by `nox -s lint` on harness/) is strict where it says so: a planted
unannotated function and a needless `type: ignore` are reported. The planted module sits in a
throw-away copy of the config, so the checkout is never touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLANTED = '''\
def untyped(value):
    return value


def typed(value: int) -> int:
    return value + 1  # type: ignore[operator]
'''


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "__init__.py").write_text("")
    (tmp_path / "harness" / "planted.py").write_text(PLANTED)
    return tmp_path


def test_mypy_config_reports_untyped_defs_and_unused_ignores(tree: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],  # the config's files = ["harness"]
        cwd=tree, capture_output=True, text=True, check=False, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert ("harness/planted.py:1: error: Function is missing a type annotation  "
            "[no-untyped-def]") in out
    assert 'harness/planted.py:6: error: Unused "type: ignore" comment  [unused-ignore]' in out
    assert "Found 2 errors in 1 file (checked 2 source files)" in out
