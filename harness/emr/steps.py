"""Translate an EMR step (HadoopJarStep + the cluster's Configurations) into a local command.

Pure logic: no I/O. `plan_step()` returns a `StepPlan` with the local argv, the extra
environment and the S3 URIs the staging layer must mirror around the step.

What EMR-only options become locally:
- `spark-submit --master yarn` / `--deploy-mode cluster|client`: dropped; local[2] is used.
- `Configurations` `spark-defaults` -> `--conf key=value` (before the user's own --conf, so a
  step's explicit --conf still wins as on EMR).
- `spark-env` / `export` -> environment; PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON point at the
  local interpreter (the cluster's /usr/bin/python3 does not exist here).
- s3://, s3a://, s3n:// URIs anywhere in an argument -> paths in the local mirror.

The other commands of an EMR node (`run-example`, `spark-sql`, `pyspark`, `hadoop fs`,
`s3-dist-cp`, EMR's absolute paths such as `/usr/lib/spark/bin/spark-submit`) and the ones
that are not emulated are described in `harness.emr.node_commands`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.emr.node_commands import (
    HADOOP_COMMANDS,
    SHIM_NAMES,
    NodeTools,
    UnsupportedStepError,
    command_name,
    hadoop_subcommand_problem,
    resolve_example,
    unsupported_message,
)

__all__ = [
    "S3_URI_RE",
    "StepPlan",
    "UnsupportedStepError",
    "S3Uri",
    "local_path_for",
    "map_s3_args",
    "plain_configurations",
    "plan_step",
    "resolve_example",
    "spark_conf_from_configurations",
    "spark_env_from_configurations",
    "split_spark_submit",
]

#: s3://bucket/key, s3a://..., s3n://...; the key stops at whitespace, quotes, commas, ';'.
S3_URI_RE = re.compile(r"s3[an]?://([a-z0-9][a-z0-9.\-_]{0,62})(/[^\s,;\"'`]*)?")

#: spark-submit options that take a value and mean nothing (or harm) in local mode.
_DROPPED_WITH_VALUE = {"--master", "--deploy-mode", "--queue", "--num-executors", "--archives"}
#: spark-submit options that take a value (so the first positional after them is not the app).
_OPTS_WITH_VALUE = {
    "--master", "--deploy-mode", "--class", "--name", "--jars", "--packages",
    "--exclude-packages", "--repositories", "--py-files", "--files", "--archives", "--conf",
    "-c", "--properties-file", "--driver-memory", "--driver-java-options",
    "--driver-library-path", "--driver-class-path", "--executor-memory", "--proxy-user",
    "--driver-cores", "--total-executor-cores", "--executor-cores", "--queue",
    "--num-executors", "--principal", "--keytab",
}  # fmt: skip

#: Local settings that must win over the cluster's spark-defaults: one machine, loopback.
LOCAL_OVERRIDES = {
    "spark.master": "local[2]",
    "spark.submit.deployMode": "client",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.dynamicAllocation.enabled": "false",
}
#: Defaults for speed on a laptop; the cluster's spark-defaults may override them.
LOCAL_DEFAULTS = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}

_COMMAND_RUNNER = ("command-runner.jar",)
_AWS_CLI_RE = re.compile(r"(^|[\s;&|(])aws\s+s3")
#: A command string that calls a node command which reads S3 itself (through the shims):
#: its S3 URIs are left to that command.
_NODE_CLI_RE = re.compile(
    r"(^|[\s;&|(`])(/\S*/)?(" + "|".join(re.escape(n) for n in sorted(SHIM_NAMES)) + r")(\s|$)"
)


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # no leading slash; may be "" (whole bucket) or end with "/" (a prefix)

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        m = S3_URI_RE.fullmatch(uri)
        if not m:
            raise ValueError(f"not an S3 URI: {uri!r}")
        return cls(m.group(1), (m.group(2) or "/")[1:])

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def prefix(self) -> str:
        """The key as a folder prefix ('out' -> 'out/', '' -> '')."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"


def local_path_for(mirror_root: str | Path, uri: S3Uri) -> Path:
    """Where `uri` lives in the local mirror: <mirror_root>/<bucket>/<key>."""
    return Path(mirror_root, uri.bucket, *[p for p in uri.key.split("/") if p])


def map_s3_args(args: Sequence[str], mirror_root: str | Path) -> tuple[list[str], list[S3Uri]]:
    """Replace every S3 URI inside each argument with its mirror path.

    Returns the new args and the URIs found (in order, without duplicates). A trailing "/"
    is kept, so `s3://b/out/` becomes `<mirror>/b/out/`.
    """
    found: list[S3Uri] = []

    def repl(m: re.Match[str]) -> str:
        uri = S3Uri(m.group(1), (m.group(2) or "/")[1:])
        if uri not in found:
            found.append(uri)
        path = str(local_path_for(mirror_root, uri))
        return path + "/" if uri.key.endswith("/") else path

    return [S3_URI_RE.sub(repl, a) for a in args], found


def plain_configurations(configurations: Sequence[Mapping] | None) -> list[dict]:
    """Configurations as plain dicts with their keys as given. moto keeps them in mappings
    whose iteration yields snake-cased keys (`spark.executor.memoryOverhead` would become
    `spark.executor.memory_overhead`); their `original_dict()` has the real ones."""

    def plain(value: object) -> object:
        original = getattr(value, "original_dict", None)
        if callable(original):
            value = original()
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return [plain(c) for c in configurations or []]  # type: ignore[misc]


def _classification(configurations: Sequence[Mapping], name: str) -> list[Mapping]:
    return [c for c in configurations or () if c.get("Classification") == name]


def spark_conf_from_configurations(configurations: Sequence[Mapping]) -> dict[str, str]:
    """`spark-defaults` Properties (later classifications win, as on EMR)."""
    conf: dict[str, str] = {}
    for c in _classification(configurations, "spark-defaults"):
        conf.update({str(k): str(v) for k, v in (c.get("Properties") or {}).items()})
    return conf


def spark_env_from_configurations(
    configurations: Sequence[Mapping], *, python: str
) -> dict[str, str]:
    """`spark-env` -> `export` Properties, with the Python interpreters mapped to `python`."""
    env: dict[str, str] = {}
    for c in _classification(configurations, "spark-env"):
        for inner in _classification(c.get("Configurations") or [], "export"):
            env.update({str(k): str(v) for k, v in (inner.get("Properties") or {}).items()})
    for key in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        if key in env:
            env[key] = python
    return env


def split_spark_submit(args: Sequence[str]) -> tuple[list[tuple[str, str | None]], str, list[str]]:
    """Split spark-submit arguments (without the `spark-submit` word) into
    ([(option, value-or-None)], application, application_args)."""
    options, rest = _split_options(args)
    if not rest:
        raise UnsupportedStepError("spark-submit without an application (script or jar)")
    return options, rest[0], rest[1:]


def _valued_option(args: Sequence[str], i: int) -> tuple[str, str, int] | None:
    """The spark-submit option that takes a value at `args[i]` (`--opt=value` or `--opt value`):
    (option, value, how many arguments it spans), or None when `args[i]` is not one."""
    a = args[i]
    if a.startswith("--") and "=" in a:
        opt, val = a.split("=", 1)
        return (opt, val, 1) if opt in _OPTS_WITH_VALUE else None
    if a not in _OPTS_WITH_VALUE:
        return None
    if i + 1 >= len(args):
        raise UnsupportedStepError(f"spark-submit option {a} has no value")
    return a, args[i + 1], 2


def _split_options(args: Sequence[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """spark-submit options up to the first positional argument, and the rest."""
    options: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        a = args[i]
        valued = _valued_option(args, i)
        if valued is not None:
            opt, val, taken = valued
            options.append((opt, val))
            i += taken
        elif a.startswith("-"):
            options.append((a, None))  # a flag such as --verbose, --supervise
            i += 1
        else:
            return options, list(args[i:])
    return options, []


@dataclass(frozen=True)
class StepPlan:
    """What to run locally for one step."""

    kind: str  # "spark-submit" (any of Spark's commands: SPARK_HOME, JAVA_HOME) or "command"
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    s3_uris: list[S3Uri] = field(default_factory=list)
    #: for spark-submit: the merged --conf the step runs with (for other executors)
    spark_conf: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def plan_step(
    jar: str,
    args: Sequence[str],
    *,
    configurations: Sequence[Mapping] = (),
    mirror_root: str | Path,
    python: str,
    spark_submit: str,
    aws_cli: str = "aws",
    master: str = "local[2]",
    tools: NodeTools | None = None,
) -> StepPlan:
    """Translate one HadoopJarStep into a local `StepPlan`.

    `spark_submit`, `python` and `aws_cli` are the local executables to substitute for the
    cluster's own; `tools` the other node commands (spark-sql, pyspark, run-example's examples,
    the hadoop/hdfs/s3-dist-cp entry point). Without `tools` those commands are rejected.
    """
    jar_name = jar.rsplit("/", 1)[-1]
    if jar_name == "script-runner.jar":
        if not args:
            raise UnsupportedStepError("script-runner.jar step without a script argument")
        if tools is None:
            mapped, uris = map_s3_args(list(args), mirror_root)
            return StepPlan("command", ["bash", *mapped], s3_uris=uris)
        # As on EMR the script gets its arguments unchanged: its own aws, hadoop fs and
        # spark-submit (the node commands) read S3. Only the script itself is staged.
        script, uris = map_s3_args([args[0]], mirror_root)
        return StepPlan("command", ["bash", *script, *args[1:]], s3_uris=uris,
                        notes=["script arguments passed unchanged (as on EMR)"])  # fmt: skip
    if jar_name not in _COMMAND_RUNNER:
        raise UnsupportedStepError(
            f"step JAR {jar!r} cannot run locally: the emulator runs command-runner.jar steps "
            "(spark-submit, bash, aws, python) and script-runner.jar. Wrap custom JARs in a "
            "`spark-submit --class ...` command-runner step."
        )
    if not args:
        raise UnsupportedStepError("command-runner.jar step without a command (Args is empty)")

    word, rest = args[0], list(args[1:])
    command = command_name(word)
    problem = unsupported_message(command) or hadoop_subcommand_problem(command, rest)
    if problem:
        raise UnsupportedStepError(problem)
    env = spark_env_from_configurations(configurations, python=python)

    if command in ("spark-submit", "run-example", "pyspark", "spark-sql"):
        if command != "spark-submit" and tools is None:
            raise UnsupportedStepError(f"`{command}` needs the local node tools (NodeTools)")
        mapped, uris = map_s3_args(rest, mirror_root)
        return _plan_spark(command, mapped, uris, env, configurations, python=python,
                           spark_submit=spark_submit, master=master, tools=tools)  # fmt: skip
    if command in HADOOP_COMMANDS:
        if tools is None:
            raise UnsupportedStepError(f"`{command}` needs the local node tools (NodeTools)")
        # Works on the emulated S3 directly (boto3): nothing to stage.
        return StepPlan("command", [*tools.node_cli, command, *rest], env, [],
                        notes=[f"{command}: S3 paths go straight to the emulated S3"])  # fmt: skip
    if command in ("python", "python3"):
        mapped, uris = map_s3_args(rest, mirror_root)
        return StepPlan("command", [python, *mapped], env, uris)
    if command == "aws" or any(_AWS_CLI_RE.search(a) for a in rest):
        # The AWS CLI talks to the emulated S3 itself (AWS_ENDPOINT_URL): keep its URIs.
        argv = [aws_cli, *rest] if command == "aws" else [command, *rest]
        return StepPlan("command", argv, env, [], notes=["S3 URIs left to the AWS CLI"])
    if tools is not None and any(_NODE_CLI_RE.search(a) for a in rest):
        # e.g. `bash -c "hadoop fs -ls s3://b/"`: the node command reads S3 itself.
        return StepPlan("command", [command, *rest], env, [],
                        notes=["S3 URIs left to the node commands the step calls"])  # fmt: skip
    mapped, uris = map_s3_args(rest, mirror_root)
    return StepPlan("command", [command, *mapped], env, uris)


def _plan_spark(
    command: str,
    mapped: list[str],
    uris: list[S3Uri],
    env: dict[str, str],
    configurations: Sequence[Mapping],
    *,
    python: str,
    spark_submit: str,
    master: str,
    tools: NodeTools | None,
) -> StepPlan:
    """spark-submit, run-example, pyspark and spark-sql: the local Spark in local mode, with
    the cluster's spark-defaults and the step's own --conf."""
    notes: list[str] = []
    executable = spark_submit
    if command == "spark-sql":
        assert tools is not None
        options, tail = _split_spark_sql(mapped)
        executable = str(Path(tools.spark_bin, "spark-sql"))
    else:
        options, tail = _split_options(mapped)
    if command == "run-example":
        assert tools is not None
        if not tail:
            raise UnsupportedStepError("run-example without an example class (e.g. SparkPi)")
        example = resolve_example(tail[0], tools.examples)
        notes.append(f"run-example {tail[0]}: the Python example {example} of the local pyspark")
        tail = [str(Path(tools.examples_root, example)), *tail[1:]]
        # Spark's examples use the RDD API (SparkContext), which Spark Connect has not.
        env["HARNESS_SPARK_CONNECT"] = "0"
    elif command == "spark-submit" and not tail:
        raise UnsupportedStepError("spark-submit without an application (script or jar)")
    elif command == "pyspark":
        assert tools is not None
        executable = str(Path(tools.spark_bin, "pyspark"))
    conf = {**LOCAL_DEFAULTS, **spark_conf_from_configurations(configurations)}
    kept: list[str] = []
    for opt, val in options:
        if opt in _DROPPED_WITH_VALUE:
            notes.append(f"dropped {opt} {val} (local mode)")
        elif opt in ("--conf", "-c"):
            k, _, v = (val or "").partition("=")
            conf[k] = v
        else:
            kept += [opt] if val is None else [opt, val]
    conf.update(LOCAL_OVERRIDES)
    conf["spark.master"] = master
    argv = [executable, "--master", master]
    for k, v in conf.items():
        if k != "spark.master":
            argv += ["--conf", f"{k}={v}"]
    env.setdefault("PYSPARK_PYTHON", python)
    env.setdefault("PYSPARK_DRIVER_PYTHON", python)
    return StepPlan("spark-submit", [*argv, *kept, *tail], env, uris, dict(conf), notes)


def _split_spark_sql(args: Sequence[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """spark-sql's arguments: spark-submit options (anywhere) and the SQL CLI's own (-e, -f,
    -i, --hiveconf, --database, -S ...), which are kept in order."""
    options: list[tuple[str, str | None]] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        valued = None if a == "-c" else _valued_option(args, i)  # -c is not --conf here
        if valued is not None:
            opt, val, taken = valued
            options.append((opt, val))
            i += taken - 1
        elif a in ("-e", "-f", "-i", "--hiveconf", "--hivevar", "-d", "--define", "--database"):
            rest += args[i : i + 2]
            i += 1
        else:
            rest.append(a)
        i += 1
    return options, rest
