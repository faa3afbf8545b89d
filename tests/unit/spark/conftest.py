"""The job lives in spark/ (a script deployed to S3, not a package): load it as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]
JOB_PATH = REPO / "spark" / "processar_vendas.py"
SAMPLE = REPO / "data" / "dados_vendas.csv"


@pytest.fixture(scope="session")
def job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("processar_vendas", JOB_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write CSV text to a file under tmp_path and return its path as a string."""

    def write(text: str, name: str = "vendas.csv") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def read_output(path: str) -> list[str]:
    """The lines of the single CSV part a job output directory must hold."""
    parts = sorted(Path(path).glob("part-*.csv"))
    assert len(parts) == 1, f"expected exactly one CSV part in {path}, found {parts}"
    return parts[0].read_text(encoding="utf-8").splitlines()
