"""The seed lesson's layout for the tests: read from this repository's own ``[tool.harness]``.

The harness package knows nothing about the lesson; its setup is data (pyproject.toml). The
tests that need it in another bucket, or without its input, derive it from that table here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.config import HarnessConfig, S3Uri, Upload, load_config
from harness.provisioning import provision as provision_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG: HarnessConfig = load_config(ROOT / "pyproject.toml")
_VARS = CONFIG.variables
DATA = ROOT / "data" / "dados_vendas.csv"
SCRIPT = ROOT / "spark" / "processar_vendas.py"


@dataclass(frozen=True)
class PipelineLayout:
    """Where the pipeline's objects live in S3 (the DAG's Variables, set explicitly per run)."""

    bucket: str = _VARS["emr_bucket_name"]
    input_key: str = _VARS["emr_input_key"]
    script_key: str = _VARS["emr_script_key"]
    output_prefix: str = _VARS["emr_output_prefix"]

    @property
    def rejects_prefix(self) -> str:
        # processar_vendas.py's default: the output prefix with the suffix "_rejeitados".
        return self.output_prefix.rstrip("/") + "_rejeitados/"

    def variables(self) -> dict[str, str]:
        return {
            "emr_bucket_name": self.bucket,
            "emr_input_key": self.input_key,
            "emr_script_key": self.script_key,
            "emr_output_prefix": self.output_prefix,
        }

    def config(self, *, data: str | Path | None = DATA,
               script: str | Path | None = SCRIPT) -> HarnessConfig:  # fmt: skip
        """The project's [tool.harness] table moved to this layout (``None``: no such upload)."""
        uploads = []
        if data is not None:
            uploads.append(Upload(Path(data), S3Uri(self.bucket, self.input_key)))
        if script is not None:
            uploads.append(Upload(Path(script), S3Uri(self.bucket, self.script_key)))
        return replace(CONFIG, buckets=(self.bucket,), uploads=tuple(uploads),
                       variables={**CONFIG.variables, **self.variables()},
                       result=(S3Uri(self.bucket, self.output_prefix),
                               S3Uri(self.bucket, self.rejects_prefix)))


def provision(aws: Any, layout: PipelineLayout = PipelineLayout(), *,
              data: str | Path | None = DATA, script: str | Path | None = SCRIPT) -> None:
    """Bucket, input CSV, job script and EMR default roles, as the seed's setup steps do."""
    provision_config(aws, layout.config(data=data, script=script))
