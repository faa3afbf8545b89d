"""A repository's ``[tool.harness]`` table moved onto a real-AWS run's own bucket (pure).

Offline, the table names the bucket the DAG uses (e.g. ``my-bucket``). On real AWS bucket
names are global, so each run gets its own (``<prefix>-<run id>``, ``AwsBackend``): the table
must name exactly one bucket, its uploads and result go to the run's bucket under the same
keys, and the DAG's Variables are ``variables`` with ``[tool.harness.aws.variables]`` on top,
their ``{placeholders}`` filled with the run's values (``harness.config.AWS_PLACEHOLDERS``).
A Variable that would still name the offline bucket is an error: the DAG would read or write a
bucket the run does not own.

    setup = AwsRunSetup.from_config(load_config())
    variables = setup.variables(backend.run_values())
    backend.provision(setup.files, roles=setup.roles)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.config import TABLE, ConfigError, HarnessConfig, fill_placeholders

__all__ = ["AwsRunSetup"]


@dataclass(frozen=True)
class AwsRunSetup:
    config: HarnessConfig
    dag_id: str
    #: The one bucket the table names; the run's bucket stands in for it.
    offline_bucket: str

    @classmethod
    def from_config(cls, config: HarnessConfig) -> AwsRunSetup:
        """Checks the table can run on AWS; ``ConfigError`` naming the key and the file."""
        where = config.where()
        if not config.dag_id:
            raise ConfigError(f"no DAG to run: give --dag-id, or set dag_id in {where}")
        if not config.uploads:
            raise ConfigError(f"{TABLE}.uploads: a real-AWS run uploads the DAG's files into "
                              f"its own bucket, and {where} lists none")
        buckets = list(dict.fromkeys([*config.all_buckets(), *(r.bucket for r in config.result)]))
        if len(buckets) != 1:
            raise ConfigError(
                f"{TABLE}.buckets/uploads/result: a real-AWS run has one bucket of its own, and "
                f"{where} names {len(buckets)} ({', '.join(buckets)}): use one bucket")
        return cls(config, config.dag_id, buckets[0])

    @property
    def dags_folder(self) -> Path:
        return self.config.dags_folder

    @property
    def files(self) -> list[tuple[Path, str]]:
        """(local file, key) pairs: every upload's files, keys as the table has them."""
        return [pair for upload in self.config.uploads for pair in upload.files()]

    @property
    def roles(self) -> tuple[str, ...]:
        """The IAM roles the run checks (``emr_default_roles``: EMR's default roles)."""
        from harness.backends.aws import REQUIRED_ROLES

        return REQUIRED_ROLES if self.config.emr_default_roles else ()

    @property
    def result_prefixes(self) -> list[str]:
        """The result's key prefixes (read back in the run's bucket)."""
        return [r.key for r in self.config.result]

    def variables(self, values: Mapping[str, str]) -> dict[str, str]:
        """The run's Variables: ``variables``, then ``aws.variables`` filled with ``values``."""
        filled = {name: fill_placeholders(value, values)
                  for name, value in self.config.aws_variables.items()}  # fmt: skip
        out = {**self.config.variables, **filled}
        for name, value in out.items():
            if _names(value, self.offline_bucket):
                table = "aws.variables" if name in filled else "variables"
                raise ConfigError(
                    f"{TABLE}.{table}.{name} = {value!r} names the offline bucket "
                    f"{self.offline_bucket}, which a real-AWS run does not own; map it to the "
                    f"run's bucket in [{TABLE}.aws.variables] of {self.config.source} "
                    f'(e.g. {name} = "{{bucket}}")')
        return out


def _names(value: str, bucket: str) -> bool:
    """Whether ``value`` holds ``bucket`` as a whole name (``b``, ``s3://b/k``), not a part."""
    return re.search(rf"(?<![a-z0-9.-]){re.escape(bucket)}(?![a-z0-9.-])", value) is not None
