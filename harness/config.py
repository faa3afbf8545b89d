"""What a repository's offline run needs, as data: the ``[tool.harness]`` table of its pyproject.

    [tool.harness]
    dags_folder = "dags"
    dag_id = "my_dag"
    buckets = ["my-bucket"]                       # created empty (upload buckets are created too)
    emr_default_roles = true                      # EMR_DefaultRole, EMR_EC2_DefaultRole ...
    result = "s3://my-bucket/output/"             # CSV parts printed as a table after the run
    sensor_timeout = 30                           # optional, seconds (input sensors' wait)
    timeout = 600                                 # optional, seconds (the whole DAG run)

    [tool.harness.uploads]                        # local file or folder -> s3 URI
    "data/input.csv" = "s3://my-bucket/input/input.csv"
    "jobs/" = "s3://my-bucket/jobs/"              # a folder uploads recursively under the prefix

    [tool.harness.variables]                      # Airflow Variables for the run
    bucket = "my-bucket"

    [tool.harness.connections]                    # Airflow connections: URI or JSON object
    my_http = "http://127.0.0.1:8080"

    [tool.harness.aws.variables]                  # a real-AWS run (smoke-aws): on top of
    bucket = "{bucket}"                           # variables, placeholders filled per run
    tags = "{tags}"

Relative local paths (``uploads``, ``dags_folder``) are relative to the file's folder.
``python -m harness run`` reads ``./pyproject.toml`` (or ``--config FILE``); its flags override
the table (``--upload`` replaces an upload with the same destination). ``python -m harness
stack up`` and ``python -m harness smoke-aws`` read the same table. A real-AWS run has one
bucket of its own per run: the config's one bucket is replaced by it (uploads, result), and
``[tool.harness.aws.variables]`` says which Variables change there (``AWS_PLACEHOLDERS``;
docs/real-aws.md). Errors name the key and the file. Pure data and parsing:
nothing here touches AWS or imports Airflow. See docs/running-dags.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "AWS_PLACEHOLDERS",
    "ConfigError",
    "HarnessConfig",
    "S3Uri",
    "Upload",
    "load_config",
    "parse_connections",
    "parse_s3_uri",
    "parse_uploads",
    "parse_vars",
    "fill_placeholders",
]

TABLE = "tool.harness"
#: Every key of ``[tool.harness]`` and what it holds (unknown keys are an error: a typo must
#: not be silently ignored).
KEYS: dict[str, str] = {
    "dags_folder": "a folder path",
    "dag_id": "a DAG id",
    "buckets": "a list of bucket names",
    "uploads": 'a table of "local path" = "s3://bucket/key"',
    "variables": "a table of Airflow Variables (name = value)",
    "connections": 'a table of Airflow connections (conn_id = "URI" or a JSON object)',
    "result": 'an s3 prefix ("s3://bucket/prefix/") or a list of them',
    "emr_default_roles": "true or false",
    "sensor_timeout": "seconds (a positive number)",
    "timeout": "seconds (a positive number)",
    "aws": "a table with one key, variables: the Variables of a real-AWS run",
}
#: What ``{name}`` in a ``[tool.harness.aws.variables]`` value is replaced with on a real-AWS
#: run (``python -m harness smoke-aws``).
AWS_PLACEHOLDERS: dict[str, str] = {
    "bucket": "the run's bucket (<prefix>-<run id>)",
    "run_id": "the run id",
    "region": "the run's region",
    "tags": "the run's tags as a JSON object",
    "instance_type": "the cluster plan's instance type",
    "core_count": "the cluster plan's core node count",
}
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A missing or invalid ``[tool.harness]`` table, or a bad ``--upload``/``--var``/``--conn``;
    the message names the key (or the flag) and what was expected."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # "" for a whole bucket

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(text: str, *, what: str) -> S3Uri:
    """``s3://bucket/key`` -> S3Uri; ``what`` names the key or flag in the error."""
    if not isinstance(text, str) or not text.startswith("s3://"):
        raise ConfigError(f"{what}: expected s3://bucket/key, got {text!r}")
    bucket, _, key = text[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigError(f"{what}: no bucket in {text!r} (expected s3://bucket/key)")
    return S3Uri(bucket, key)


@dataclass(frozen=True)
class Upload:
    """A local file, or a folder uploaded recursively, to an s3 key (prefix, for a folder)."""

    local: Path
    dest: S3Uri

    def files(self) -> list[tuple[Path, str]]:
        """(local file, key) pairs; a folder's files keep their relative paths under the key."""
        if self.local.is_file():
            key = self.dest.key
            if not key or key.endswith("/"):  # "s3://b/prefix/": keep the file's name
                key += self.local.name
            return [(self.local, key)]
        if self.local.is_dir():
            prefix = self.dest.key
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            return [(p, prefix + p.relative_to(self.local).as_posix())
                    for p in sorted(self.local.rglob("*")) if p.is_file()]  # fmt: skip
        raise ConfigError(f"upload {self.local} -> {self.dest}: {self.local} does not exist")


@dataclass(frozen=True)
class HarnessConfig:
    """One offline run's setup (see the module docstring for the table it comes from)."""

    dags_folder: Path = Path("dags")
    dag_id: str | None = None
    buckets: tuple[str, ...] = ()
    uploads: tuple[Upload, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    connections: Mapping[str, str] = field(default_factory=dict)
    result: tuple[S3Uri, ...] = ()
    emr_default_roles: bool = False
    sensor_timeout: float | None = None
    timeout: float | None = None
    #: ``[tool.harness.aws.variables]``: a real-AWS run's Variables on top of ``variables``,
    #: with ``{placeholder}`` values (``AWS_PLACEHOLDERS``) still unfilled.
    aws_variables: Mapping[str, str] = field(default_factory=dict)
    #: The file the table was read from (None: defaults, no table).
    source: Path | None = None

    def where(self) -> str:
        """The table's name and file, for messages: ``[tool.harness] of /x/pyproject.toml``."""
        return f"[{TABLE}] of {self.source or './pyproject.toml (none found)'}"

    def all_buckets(self) -> list[str]:
        """The buckets to create: the listed ones, then every upload's, in order, once each."""
        names = [*self.buckets, *(u.dest.bucket for u in self.uploads)]
        return list(dict.fromkeys(names))

    def with_overrides(self, *, dags_folder: str | os.PathLike[str] | None = None,
                       dag_id: str | None = None,
                       uploads: Iterable[Upload] = (), variables: Mapping[str, str] | None = None,
                       connections: Mapping[str, str] | None = None,
                       sensor_timeout: float | None = None,
                       timeout: float | None = None) -> HarnessConfig:  # fmt: skip
        """The config with command-line values on top: an upload replaces the one with the same
        destination, variables and connections are merged, the rest replaces when given."""
        merged = {str(u.dest): u for u in self.uploads}
        merged.update({str(u.dest): u for u in uploads})
        return replace(
            self,
            dags_folder=Path(dags_folder) if dags_folder is not None else self.dags_folder,
            dag_id=dag_id or self.dag_id,
            uploads=tuple(merged.values()),
            variables={**self.variables, **(variables or {})},
            connections={**self.connections, **(connections or {})},
            sensor_timeout=sensor_timeout if sensor_timeout is not None else self.sensor_timeout,
            timeout=timeout if timeout is not None else self.timeout,
        )


# ----------------------------------------------------------------------------- the table


def load_config(path: str | Path | None = None, *, cwd: str | Path | None = None
                ) -> HarnessConfig:  # fmt: skip
    """``[tool.harness]`` of ``path`` (a pyproject.toml or any TOML file holding that table),
    or of ``<cwd>/pyproject.toml`` when ``path`` is None. No file, or a pyproject without the
    table, with ``path`` None: the defaults (``<cwd>/dags``; flags must then say what to run).
    A ``path`` that does not exist or has no table, invalid TOML, or an invalid key:
    ``ConfigError``."""
    explicit = path is not None
    file = Path(path) if path is not None else Path(cwd or Path.cwd(), "pyproject.toml")
    if not file.is_file():
        if explicit:
            raise ConfigError(f"--config {file}: no such file")
        return HarnessConfig(dags_folder=file.parent / "dags")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("harness") if isinstance(data.get("tool"), dict) else None
    if table is None:
        if explicit:
            raise ConfigError(f"{file}: no [{TABLE}] table")
        return HarnessConfig(dags_folder=file.parent / "dags")
    try:
        return config_from_table(table, base=file.resolve().parent, source=file.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def config_from_table(table: Any, *, base: Path, source: Path | None = None) -> HarnessConfig:
    """A validated ``HarnessConfig`` from the parsed table; relative paths against ``base``."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{TABLE}] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"[{TABLE}]: unknown key(s) {', '.join(unknown)}; known: "
                          f"{', '.join(KEYS)}")

    def key(name: str) -> str:
        return f"{TABLE}.{name}"

    def expect(name: str, ok: bool) -> None:
        if not ok:
            raise ConfigError(f"{key(name)}: expected {KEYS[name]}, got {table[name]!r}")

    def string_table(name: str) -> dict[str, str]:
        value = table.get(name, {})
        expect(name, isinstance(value, dict))
        out = {}
        for k, v in value.items():
            if isinstance(v, dict) and name == "connections":
                v = json.dumps(v)  # a connection given as an inline TOML table
            if not isinstance(v, (str, int, float, bool)):
                raise ConfigError(f"{key(name)}.{k}: expected a string, got {v!r}")
            out[k] = v if isinstance(v, str) else json.dumps(v)
        return out

    fields_: dict[str, Any] = {"source": source}
    if "dags_folder" in table:
        expect("dags_folder", isinstance(table["dags_folder"], str) and table["dags_folder"] != "")
        fields_["dags_folder"] = base / table["dags_folder"]
    else:
        fields_["dags_folder"] = base / "dags"
    if "dag_id" in table:
        expect("dag_id", isinstance(table["dag_id"], str) and table["dag_id"] != "")
        fields_["dag_id"] = table["dag_id"]
    if "buckets" in table:
        buckets = table["buckets"]
        expect("buckets", isinstance(buckets, list)
               and all(isinstance(b, str) and b and "/" not in b for b in buckets))
        fields_["buckets"] = tuple(buckets)
    uploads = table.get("uploads", {})
    expect("uploads", isinstance(uploads, dict))
    fields_["uploads"] = tuple(
        Upload(base / local, parse_s3_uri(dest, what=f"{key('uploads')}.{local!r}"))
        for local, dest in uploads.items())
    fields_["variables"] = string_table("variables")
    connections = string_table("connections")
    for conn_id, value in connections.items():
        check_connection(conn_id, value, what=f"{key('connections')}.{conn_id}")
    fields_["connections"] = connections
    if "result" in table:
        result = table["result"]
        prefixes = [result] if isinstance(result, str) else result
        expect("result", isinstance(prefixes, list))
        fields_["result"] = tuple(parse_s3_uri(p, what=key("result")) for p in prefixes)
    if "emr_default_roles" in table:
        expect("emr_default_roles", isinstance(table["emr_default_roles"], bool))
        fields_["emr_default_roles"] = table["emr_default_roles"]
    for name in ("sensor_timeout", "timeout"):
        if name in table:
            value = table[name]
            expect(name, isinstance(value, (int, float)) and not isinstance(value, bool)
                   and 0 < value < math.inf)
            fields_[name] = float(value)
    if "aws" in table:
        aws = table["aws"]
        expect("aws", isinstance(aws, dict) and set(aws) <= {"variables"})
        fields_["aws_variables"] = _string_values(aws.get("variables", {}),
                                                  what=key("aws.variables"))
        for name, value in fields_["aws_variables"].items():
            unknown = [p for p in _PLACEHOLDER_RE.findall(value) if p not in AWS_PLACEHOLDERS]
            if unknown:
                raise ConfigError(
                    f"{key('aws.variables')}.{name}: unknown placeholder "
                    f"{', '.join('{' + p + '}' for p in unknown)}; known: "
                    f"{', '.join('{' + p + '}' for p in AWS_PLACEHOLDERS)}")
    return HarnessConfig(**fields_)


def _string_values(value: Any, *, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{what}: expected a table of Airflow Variables (name = value), "
                          f"got {value!r}")
    out = {}
    for k, v in value.items():
        if not isinstance(v, (str, int, float, bool)):
            raise ConfigError(f"{what}.{k}: expected a string, got {v!r}")
        out[k] = v if isinstance(v, str) else json.dumps(v)
    return out


def fill_placeholders(value: str, values: Mapping[str, str]) -> str:
    """``{name}`` (a name of ``AWS_PLACEHOLDERS``) replaced by ``values[name]``; other braces
    (a JSON value's) are left as they are."""
    return _PLACEHOLDER_RE.sub(
        lambda m: values[m.group(1)] if m.group(1) in AWS_PLACEHOLDERS else m.group(0), value)


# ------------------------------------------------------------------------ command-line values


def _pairs(values: Iterable[str], flag: str, shape: str) -> list[tuple[str, str]]:
    out = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag} expects {shape}, got {text!r}")
        out.append((name, value))
    return out


def parse_vars(values: Iterable[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` (repeatable) -> {NAME: VALUE}."""
    return dict(_pairs(values, "--var", "NAME=VALUE"))


def parse_uploads(values: Iterable[str], *, cwd: str | Path | None = None) -> list[Upload]:
    """``--upload LOCAL=s3://bucket/key`` (repeatable); LOCAL relative to ``cwd``, and it must
    exist (a file, or a folder uploaded recursively)."""
    uploads = []
    for local, dest in _pairs(values, "--upload", "LOCAL=s3://bucket/key"):
        uri = parse_s3_uri(dest, what=f"--upload {local}={dest}")
        path = Path(cwd or Path.cwd(), local)
        if not path.exists():
            raise ConfigError(f"--upload {local}={dest}: {local} does not exist")
        uploads.append(Upload(path, uri))
    return uploads


def check_connection(conn_id: str, value: str, *, what: str) -> None:
    """A connection is an Airflow URI (``scheme://...``) or a JSON object with ``conn_type``."""
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{what}: not valid JSON: {exc}") from None
        if not isinstance(parsed, dict) or "conn_type" not in parsed:
            raise ConfigError(f"{what}: a JSON connection needs a \"conn_type\", got {text!r}")
    elif "://" not in text:
        raise ConfigError(f"{what}: expected a connection URI (e.g. aws://?region_name=...) or "
                          f"a JSON object, got {value!r}")


def parse_connections(values: Iterable[str]) -> dict[str, str]:
    """``--conn CONN_ID=URI-or-JSON`` (repeatable) -> {CONN_ID: value}, each checked."""
    out = {}
    for conn_id, value in _pairs(values, "--conn", "CONN_ID=URI-or-JSON"):
        check_connection(conn_id, value, what=f"--conn {conn_id}")
        out[conn_id] = value
    return out
