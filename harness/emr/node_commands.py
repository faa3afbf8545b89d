"""The commands an EMR node has, and what each becomes locally (pure logic: no I/O).

On EMR a step (and every script it starts) finds Spark's, Hadoop's and the AWS CLI's commands
on the node, by bare name or at their absolute paths (`/usr/lib/spark/bin/spark-submit`,
`/usr/bin/hadoop` ...). Locally:

- bare names resolve through a folder of shims put first on the step's PATH
  (`harness/emr/node_bin/`), each one running `python -m harness.emr.node_cli <name>`;
- EMR's absolute paths resolve, inside every bash the step starts, through bash functions of
  those names (`node_bin/bash_env.sh`, loaded through `BASH_ENV`); nothing is written to /usr;
- as the first word of a command-runner step, both forms are recognised by `command_name`.

What each command becomes is decided here and in `harness.emr.steps.plan_step`; what cannot run
raises `UnsupportedStepError` with a message that names the command and what to do instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ABSOLUTE_PATHS",
    "HADOOP_COMMANDS",
    "NODE_BIN",
    "SHIM_NAMES",
    "SPARK_COMMANDS",
    "NodeTools",
    "UnsupportedStepError",
    "command_name",
    "hadoop_subcommand_problem",
    "node_env",
    "resolve_example",
    "unsupported_message",
]


class UnsupportedStepError(ValueError):
    """A step (or a command inside it) this emulator cannot run locally."""


#: Spark's commands: they run the local Spark (local[2], loopback, the step's Configurations).
SPARK_COMMANDS = ("spark-submit", "spark-sql", "pyspark", "run-example")
#: Hadoop's file commands: they work on s3:// paths of the emulated S3 (harness.emr.hadoop_fs).
HADOOP_COMMANDS = ("hadoop", "hdfs", "s3-dist-cp")

#: What to do instead, per command of an EMR node that is not emulated.
_UNSUPPORTED = {
    "hive": "run the HiveQL with `spark-sql -e '...'` or `spark-sql -f s3://.../query.sql` "
    "(Spark SQL reads HiveQL), or as a PySpark step",
    "beeline": "run the query with `spark-sql -e '...'` (there is no HiveServer2 here)",
    "pig": "rewrite the Pig script as a PySpark step (`spark-submit s3://.../job.py`)",
    "yarn": "steps run in Spark's local mode, there is no YARN: leave `yarn` commands out of "
    "the step (drop `--master yarn`, it is ignored anyway)",
    "mapred": "MapReduce jobs need YARN: port the job to a PySpark step",
    "hbase": "HBase is not emulated: keep HBase access out of the steps you test offline",
    "flink": "Flink is not emulated: test the Flink job outside this harness",
    "flink-yarn-session": "Flink is not emulated: test the Flink job outside this harness",
    "sqoop": "Sqoop is not emulated: copy the data with `aws s3 cp` or a PySpark step",
    "presto-cli": "Presto is not emulated: run the query with `spark-sql -e '...'`",
    "trino-cli": "Trino is not emulated: run the query with `spark-sql -e '...'`",
    "oozie": "Oozie is not emulated: let Airflow run the steps",
    "zeppelin-daemon.sh": "Zeppelin is not emulated",
    "hue": "Hue is not emulated",
}

#: Every shim in node_bin/ (bare names on the step's PATH).
SHIM_NAMES = (*SPARK_COMMANDS, *HADOOP_COMMANDS, *_UNSUPPORTED)

#: Absolute paths of node commands on EMR (Amazon Linux) -> the command they are.
ABSOLUTE_PATHS = {
    **{f"/usr/bin/{name}": name for name in SHIM_NAMES},
    **{f"/usr/lib/spark/bin/{name}": name for name in SPARK_COMMANDS},
    "/usr/lib/spark/bin/beeline": "beeline",
    "/usr/lib/hadoop/bin/hadoop": "hadoop",
    "/usr/lib/hadoop/bin/hdfs": "hdfs",
    "/usr/lib/hadoop-hdfs/bin/hdfs": "hdfs",
    "/usr/lib/hadoop/bin/mapred": "mapred",
    "/usr/lib/hadoop-mapreduce/bin/mapred": "mapred",
    "/usr/lib/hadoop-yarn/bin/yarn": "yarn",
    "/usr/lib/hive/bin/hive": "hive",
    "/usr/lib/hive/bin/beeline": "beeline",
    "/usr/lib/pig/bin/pig": "pig",
    "/usr/lib/hbase/bin/hbase": "hbase",
    "/usr/lib/flink/bin/flink": "flink",
    "/usr/lib/sqoop/bin/sqoop": "sqoop",
    "/usr/lib/presto/bin/presto-cli": "presto-cli",
    "/usr/lib/trino/bin/trino-cli": "trino-cli",
    "/usr/share/aws/emr/s3-dist-cp/bin/s3-dist-cp": "s3-dist-cp",
    # The node's Python and AWS CLI are the local ones.
    "/usr/bin/python3": "python3",
    "/usr/bin/python": "python3",
    "/usr/bin/aws": "aws",
    "/usr/local/bin/aws": "aws",
}

#: The shims folder (executables named as SHIM_NAMES) and the BASH_ENV file next to them.
NODE_BIN = Path(__file__).resolve().parent / "node_bin"
BASH_ENV_FILE = NODE_BIN / "bash_env.sh"


def command_name(word: str) -> str:
    """The node command a step's first word names (`/usr/lib/spark/bin/spark-submit` ->
    `spark-submit`); other words are returned unchanged."""
    return ABSOLUTE_PATHS.get(word, word)


def unsupported_message(command: str) -> str | None:
    """Why `command` cannot run here and what to do instead, or None if it can."""
    hint = _UNSUPPORTED.get(command)
    if hint is None:
        return None
    return (
        f"`{command}` is not emulated (this emulator runs steps without a Hadoop cluster): {hint}"
    )


#: hadoop/hdfs subcommands that work here, and what the others should be instead.
_HADOOP_SUBCOMMANDS = {"hadoop": ("fs", "dfs", "version"), "hdfs": ("dfs", "version")}
_HADOOP_HINTS = {
    "jar": "`hadoop jar` runs a JVM main class on YARN, which is not emulated: if it is a Spark "
    "application run it as `spark-submit --class <MainClass> s3://.../app.jar`, otherwise port it "
    "to a PySpark step",
    "distcp": "use `s3-dist-cp --src s3://... --dest s3://...` or `hadoop fs -cp`",
}


def hadoop_subcommand_problem(command: str, args: Sequence[str]) -> str | None:
    """A message if `hadoop|hdfs <args>` is not something this emulator runs, else None."""
    if command not in _HADOOP_SUBCOMMANDS:
        return None
    supported = _HADOOP_SUBCOMMANDS[command]
    sub = args[0] if args else ""
    if sub in supported:
        return None
    listing = ", ".join(f"{command} {s}" for s in supported)
    hint = _HADOOP_HINTS.get(sub, f"supported here: {listing} on s3:// paths")
    named = f"{command} {sub}" if sub else command
    return f"`{named}` is not emulated: {hint}"


# ----------------------------------------------------------------------------------------------
# run-example: Spark's examples, as the Python versions the pyspark wheel ships
# ----------------------------------------------------------------------------------------------
_EXAMPLES_PACKAGE = "org.apache.spark.examples."
#: Scala/Java example classes whose Python counterpart has another name.
_EXAMPLE_ALIASES = {
    "SparkPi": "pi.py",
    "JavaSparkPi": "pi.py",
    "JavaWordCount": "wordcount.py",
    "SparkKMeans": "kmeans.py",
    "JavaKMeans": "kmeans.py",
    "SparkLR": "logistic_regression.py",
    "JavaLogisticRegression": "logistic_regression.py",
    "SparkPageRank": "pagerank.py",
    "JavaPageRank": "pagerank.py",
    "SparkTC": "transitive_closure.py",
    "JavaTC": "transitive_closure.py",
    "SparkALS": "als.py",
    "JavaStatusTrackerDemo": "status_api_demo.py",
    "sql.SparkSQLExample": "sql/basic.py",
    "sql.JavaSparkSQLExample": "sql/basic.py",
    "sql.SQLDataSourceExample": "sql/datasource.py",
    "sql.hive.SparkHiveExample": "sql/hive.py",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def resolve_example(name: str, available: Sequence[str]) -> str:
    """The Python example (a path relative to the examples folder, e.g. `pi.py`) that stands
    for `run-example <name>`: a Scala/Java class name (`SparkPi`,
    `org.apache.spark.examples.ml.ALSExample`, `ml.JavaALSExample`) or a Python example's own
    name (`pi`, `ml/als_example.py`). Raises UnsupportedStepError naming what exists."""
    have = set(available)
    short = name[len(_EXAMPLES_PACKAGE) :] if name.startswith(_EXAMPLES_PACKAGE) else name
    candidates = []
    if short in _EXAMPLE_ALIASES:
        candidates.append(_EXAMPLE_ALIASES[short])
    *package, cls = short.split(".")
    folder = "/".join(package)
    for base in {cls, cls.removeprefix("Java"), cls.removeprefix("Spark")}:
        snake = _snake(base)
        for stem in (snake, f"{snake}_example", snake.removesuffix("_example")):
            candidates.append(f"{folder}/{stem}.py" if folder else f"{stem}.py")
    plain = name.removesuffix(".py")
    candidates += [f"{plain}.py"]
    for candidate in candidates:
        if candidate in have:
            return candidate
    listing = ", ".join(sorted(p.removesuffix(".py") for p in have if "/" not in p))
    folders = sorted({p.split("/", 1)[0] for p in have if "/" in p})
    raise UnsupportedStepError(
        f"run-example {name}: no Python version of this example ships with the local pyspark "
        "(the wheel has Spark's Python examples, not the examples JAR). Available: "
        f"{listing}; and under {', '.join(f'{f}/' for f in folders)} (e.g. ml.ALSExample -> "
        "ml/als_example.py). Or submit your own script with spark-submit."
    )


# ----------------------------------------------------------------------------------------------
# the step's environment
# ----------------------------------------------------------------------------------------------
def _plain(obj: object) -> object:
    """JSON for mapping types that are not dicts (moto keeps Configurations in its own)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot pass {type(obj).__name__} to the node commands")


@dataclass(frozen=True)
class NodeTools:
    """The local stand-ins for a node's tools (paths; found by `harness.emr.node_cli`)."""

    spark_bin: str  # folder holding the local spark-submit, spark-sql, pyspark
    examples_root: str  # folder of Spark's Python examples (may not exist)
    examples: tuple[str, ...]  # the examples there, relative ("pi.py", "ml/als_example.py")
    python: str  # the interpreter standing in for the node's python3
    aws_cli: str  # the AWS CLI standing in for the node's aws
    node_bin: str = str(NODE_BIN)
    bash_env: str = str(BASH_ENV_FILE)

    @property
    def node_cli(self) -> list[str]:
        return [self.python, "-m", "harness.emr.node_cli"]


#: Variables through which the shims learn the step's context.
ENV_CONFIGURATIONS = "HARNESS_EMR_CONFIGURATIONS"
ENV_WORKDIR = "HARNESS_NODE_WORKDIR"
ENV_USER_BASH_ENV = "HARNESS_USER_BASH_ENV"


def node_env(
    env: Mapping[str, str],
    tools: NodeTools,
    *,
    configurations: Sequence[Mapping] = (),
    workdir: str | os.PathLike[str],
) -> dict[str, str]:
    """`env` plus what makes a node's commands resolve inside the step: the shims first on
    PATH, then the local Python's folder; EMR's absolute paths as bash functions (BASH_ENV, a
    BASH_ENV of the base environment is still loaded after ours); the cluster's
    Configurations and a work folder for the shims."""
    out = dict(env)
    paths = [tools.node_bin, str(Path(tools.python).parent)]
    rest = [p for p in out.get("PATH", "").split(os.pathsep) if p and p not in paths]
    out["PATH"] = os.pathsep.join([*paths, *rest])
    previous = out.get("BASH_ENV")
    if previous and previous != tools.bash_env:
        out[ENV_USER_BASH_ENV] = previous
    out["BASH_ENV"] = tools.bash_env
    out["HARNESS_NODE_BIN"] = tools.node_bin
    out["HARNESS_NODE_PYTHON"] = tools.python
    out["HARNESS_NODE_AWS"] = tools.aws_cli
    out[ENV_CONFIGURATIONS] = json.dumps(list(configurations or []), default=_plain)
    out[ENV_WORKDIR] = str(workdir)
    return out
