"""The EMR node commands of a step: `python -m harness.emr.node_cli <command> [args ...]`.

The shims in `node_bin/` (first on every step's PATH, and behind EMR's absolute paths through
`node_bin/bash_env.sh`) run this module, so a script that calls `spark-submit`, `run-example`,
`/usr/lib/spark/bin/spark-submit`, `hadoop fs` or `s3-dist-cp` gets what a top-level step
gets:

- Spark commands: planned by `harness.emr.steps.plan_step` with the cluster's Configurations
  (from the step's environment), their s3:// arguments staged through a private mirror of this
  one call (never the runtime's shared one, which other steps use at the same time), and run
  as a cold local Spark;
- `hadoop fs`, `hdfs dfs`, `s3-dist-cp`: `harness.emr.hadoop_fs`, straight on the emulated S3;
- commands that are not emulated: exit 1 with the message saying what to do instead.

Everything it talks to comes from the step's environment (AWS_ENDPOINT_URL, dummy
credentials, the offline guard installed by sitecustomize).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.emr.node_commands import (
    ENV_CONFIGURATIONS,
    ENV_WORKDIR,
    HADOOP_COMMANDS,
    SPARK_COMMANDS,
    NodeTools,
    UnsupportedStepError,
    command_name,
    hadoop_subcommand_problem,
    unsupported_message,
)

__all__ = ["local_node_tools", "main"]


@functools.cache
def local_node_tools() -> NodeTools:
    """The local stand-ins for a node's tools (pyspark's bin/ and examples, this Python, the
    AWS CLI next to it). Without pyspark, `spark_bin` is "" and there are no examples."""
    spec = importlib.util.find_spec("pyspark")  # no import: pyspark is slow to import
    home = Path(spec.origin).parent if spec and spec.origin else None
    examples_root = home / "examples" / "src" / "main" / "python" if home else Path("")
    examples: tuple[str, ...] = ()
    if home and examples_root.is_dir():
        examples = tuple(sorted(
            p.relative_to(examples_root).as_posix()
            for p in examples_root.rglob("*.py")
            if p.name != "__init__.py"
        ))  # fmt: skip
    aws = Path(sys.executable).parent / "aws"
    return NodeTools(
        spark_bin=str(home / "bin") if home else "",
        examples_root=str(examples_root) if home else "",
        examples=examples,
        python=sys.executable,
        aws_cli=str(aws) if aws.exists() else "aws",
    )


def _spark(command: str, args: list[str]) -> int:
    from harness.emr.staging import Stager
    from harness.emr.steps import plan_step
    from harness.spark import spark_submit_env

    tools = local_node_tools()
    if not tools.spark_bin:
        raise UnsupportedStepError(f"`{command}`: pyspark is not installed here "
                                   "(install the `spark` extra)")  # fmt: skip
    configurations = json.loads(os.environ.get(ENV_CONFIGURATIONS) or "[]")
    workdir = Path(os.environ.get(ENV_WORKDIR) or tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{command}-s3-", dir=workdir))
    try:
        plan = plan_step(
            "command-runner.jar",
            [command, *args],
            configurations=configurations,
            mirror_root=root,
            python=tools.python,
            spark_submit=str(Path(tools.spark_bin, "spark-submit")),
            aws_cli=tools.aws_cli,
            tools=tools,
        )
        stager = Stager(_s3(), root)
        snap = stager.stage_in(plan.s3_uris)
        env = spark_submit_env(dict(os.environ))
        env.update(plan.env)
        sys.stdout.flush()
        rc = subprocess.run(plan.argv, env=env, check=False).returncode
        stager.stage_out(snap)  # as the runtime does: what the command wrote reaches S3
        return rc
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _s3() -> Any:  # boto3's S3 client (types-boto3 has no S3 model installed here)
    import boto3

    return boto3.session.Session().client("s3")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        sys.stderr.write("usage: python -m harness.emr.node_cli <command> [args ...]\n")
        return 2
    command, args = command_name(argv[0]), argv[1:]
    try:
        problem = unsupported_message(command) or hadoop_subcommand_problem(command, args)
        if problem:
            raise UnsupportedStepError(problem)
        if command in ("hadoop", "hdfs"):
            from harness.emr.hadoop_fs import hadoop_main

            return hadoop_main(command, args)
        if command == "s3-dist-cp":
            from harness.emr.hadoop_fs import s3_dist_cp_main

            return s3_dist_cp_main(args)
        if command in SPARK_COMMANDS:
            return _spark(command, args)
        raise UnsupportedStepError(
            f"`{argv[0]}` is not a node command of this emulator (it runs "
            f"{', '.join((*SPARK_COMMANDS, *HADOOP_COMMANDS))})"
        )
    except UnsupportedStepError as exc:
        sys.stderr.write(f"UnsupportedStepError: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
