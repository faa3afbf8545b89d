"""`python -m harness run`: the whole pipeline offline, the way README command 1 shows it.

Starts the embedded AWS endpoint, provisions it as the seed lesson's setup does (bucket, input CSV,
job script, the EMR default roles), runs ``dags/pipeline_emr.py`` unmodified through
``run_dag`` with per-task progress, then prints the result table read back from the emulated S3,
the rejects count, and where the outputs and step logs are on disk. Exit 0 on success; on
failure, 1 with the failing task and the tail of the failed step's stderr.

Also the provisioning used by the integration tests and the benchmark (``provision``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "PipelineLayout",
    "provision",
    "create_default_roles",
    "read_csv_prefix",
    "add_arguments",
    "main",
]

DEFAULT_BUCKET = "airflow-emr-local"


@dataclass(frozen=True)
class PipelineLayout:
    """Where the pipeline's objects live in S3 (the DAG's Variables, set explicitly per run)."""

    bucket: str = DEFAULT_BUCKET
    input_key: str = "input/dados_vendas.csv"
    script_key: str = "scripts/processar_vendas.py"
    output_prefix: str = "output/vendas_processadas/"

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


# --------------------------------------------------------------------------- provisioning

_EC2_TRUST = {
    "Version": "2008-10-17",
    "Statement": [{"Sid": "", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
_EMR_TRUST = {
    "Version": "2008-10-17",
    "Statement": [{"Sid": "", "Effect": "Allow",
                   "Principal": {"Service": "elasticmapreduce.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
_POLICY = "arn:aws:iam::aws:policy/service-role/"
#: What `aws emr create-default-roles` creates: role -> (trust policy, managed policy ARN).
DEFAULT_ROLES = {
    "EMR_DefaultRole": (_EMR_TRUST, _POLICY + "AmazonElasticMapReduceRole"),
    "EMR_EC2_DefaultRole": (_EC2_TRUST, _POLICY + "AmazonElasticMapReduceforEC2Role"),
    "EMR_AutoScaling_DefaultRole": (
        _EMR_TRUST, _POLICY + "AmazonElasticMapReduceforAutoScalingRole"
    ),
}


def create_default_roles(iam: Any) -> list[str]:
    """The EMR default roles (and the EC2 instance profile) as the AWS CLI creates them.

    Idempotent. Attaching the AWS-managed policy is best effort: an endpoint that does not know
    the managed policies still gets the roles, which is what RunJobFlow checks.
    """
    created = []
    for name, (trust, policy_arn) in DEFAULT_ROLES.items():
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
            created.append(name)
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        except iam.exceptions.NoSuchEntityException:
            pass
    try:
        iam.create_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole")
        iam.add_role_to_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole",
                                         RoleName="EMR_EC2_DefaultRole")
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    return created


def provision(
    aws: Any,
    layout: PipelineLayout = PipelineLayout(),
    *,
    data: str | Path | None = "data/dados_vendas.csv",
    script: str | Path | None = "spark/processar_vendas.py",
) -> None:
    """Bucket, input CSV, job script and EMR default roles, as the seed's setup steps do.

    ``data=None`` leaves the input out (the "input missing" scenario).
    """
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket=layout.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    if data is not None:
        s3.upload_file(str(data), layout.bucket, layout.input_key)
    if script is not None:
        s3.upload_file(str(script), layout.bucket, layout.script_key)
    create_default_roles(aws.client("iam"))


def read_csv_prefix(s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of every CSV part under ``prefix`` (Spark's part-*.csv files)."""
    header: list[str] = []
    rows: list[list[str]] = []
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for key in sorted(keys):
        name = key.rsplit("/", 1)[-1]
        if not name.endswith(".csv") or name.startswith(("_", ".")):
            continue
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        lines = list(csv.reader(io.StringIO(body)))
        if not lines:
            continue
        header = header or lines[0]
        rows += lines[1:]
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows if i < len(r)]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    return "\n".join(out)


# -------------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dag-id", default="pipeline_emr")
    p.add_argument("--dags-folder", default="dags")
    p.add_argument("--data", default="data/dados_vendas.csv", help="input CSV to upload")
    p.add_argument("--script", default="spark/processar_vendas.py", help="job script to upload")
    p.add_argument("--bucket", default=DEFAULT_BUCKET)
    p.add_argument("--workdir", default=None,
                   help="emulator workdir (S3 mirror, step logs); default .harness/runs/<stamp>")
    p.add_argument("--poke-interval", type=float, default=0.2)
    p.add_argument("--deferrable", action="store_true", help="run the step sensor deferrable")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="extra Airflow Variable (repeatable)")
    p.add_argument("--echo-logs", action="store_true", help="show Airflow's own console log")


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--var expects NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def main(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    from harness.dag_runner import run_dag
    from harness.endpoint import EmulatedAWS

    t0 = time.perf_counter()
    layout = PipelineLayout(bucket=args.bucket)
    # Absolute: step commands run in their own working directory.
    workdir = Path(args.workdir or Path(".harness", "runs",
                                        datetime.now().strftime("%Y%m%d-%H%M%S"))).resolve()
    variables: Mapping[str, str] = {**layout.variables(), **_parse_vars(args.var)}
    with EmulatedAWS(workdir=workdir) as aws:
        provision(aws, layout, data=args.data, script=args.script)
        out(f"emulated AWS at {aws.url} (workdir {workdir}); running {args.dag_id} "
            f"from {args.dags_folder}/ under Airflow's dag.test()")
        result = run_dag(args.dag_id, dags_folder=args.dags_folder, variables=variables, aws=aws,
                         poke_interval=args.poke_interval, deferrable=args.deferrable,
                         progress=out, echo_logs=args.echo_logs)
        out("")
        out(result.summary())
        if not result.ok:
            out("")
            out(result.failure_report())
            _write_task_logs(result, workdir, out)
            return 1
        s3 = aws.client("s3")
        header, rows = read_csv_prefix(s3, layout.bucket, layout.output_prefix)
        out("")
        out(f"result (s3://{layout.bucket}/{layout.output_prefix}):")
        out(format_table(header, rows) if header else "  (no CSV part found)")
        _, rejects = read_csv_prefix(s3, layout.bucket, layout.rejects_prefix)
        out(f"rejects: {len(rejects)} row(s) (s3://{layout.bucket}/{layout.rejects_prefix})")
        out("")
        out(f"outputs on disk: {aws.workdir / 's3' / layout.bucket / layout.output_prefix}")
        for step_id in result.xcoms.get("adicionar_steps_spark") or []:
            cluster_id = result.xcoms.get("criar_cluster_emr")
            out(f"step logs:       {aws.step_dir(cluster_id, step_id)}")
        _write_task_logs(result, workdir, out)
        out(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _write_task_logs(result: Any, workdir: Path, out: Callable[[str], Any]) -> None:
    folder = workdir / "airflow-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for task_id, text in result.logs.items():
        (folder / f"{task_id or '_run'}.log").write_text(text + "\n")
    out(f"task logs:       {folder}")


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
