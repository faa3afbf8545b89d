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
import contextlib
import csv
import io
import json
import resource
import signal
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
    from harness.emr.roles import create_default_roles

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
    p.add_argument("--sensor-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="how long input sensors (validar_entrada) wait for their data; default "
                        "30 (the step sensor keeps the DAG's timeout; bound it with --timeout)")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="bound the whole DAG run: a task still running then fails without "
                        "retry, the teardown still terminates the cluster, exit 1")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="extra Airflow Variable (repeatable)")
    p.add_argument("--echo-logs", action="store_true", help="show Airflow's own console log")
    p.add_argument("--warm-spark", action="store_true",
                   help="run the Spark step on a warm local Spark Connect server (started at "
                        "once, while Airflow starts) instead of a cold spark-submit")
    p.add_argument("--timings", default=None, metavar="PATH",
                   help="write where the time went (phases, tasks, the Spark step) as JSON")
    p.add_argument("--backend", choices=("embedded", "localstack", "localstack-docker"),
                   default="embedded",
                   help="where AWS comes from: the embedded emulator (default), a real LocalStack "
                        "started on this host (S3, IAM, STS, Logs; EMR from the harness's "
                        "runtime beside it unless LocalStack serves EMR), or LocalStack in Docker")
    p.add_argument("--localstack-url", default=None, metavar="URL",
                   help="with --backend localstack: use the LocalStack-compatible endpoint at URL "
                        "(checked through /_localstack/health) instead of starting one")
    p.add_argument("--install-localstack", action="store_true",
                   help="create LocalStack's pinned virtual environment if it is missing")
    from harness.warm.cli import add_run_arguments

    add_run_arguments(p)  # --no-warm, --keep-state, --warm-dir (docs/warm-loop.md)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--var expects NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def main(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    # Warm services started by `python -m harness up` run it, if they are up (docs/warm-loop.md).
    from harness.warm.client import delegate_run

    code = delegate_run(args, out)
    if code is not None:
        return code
    # SIGTERM/SIGHUP behave like Ctrl-C: every `with` below unwinds (the DAG worker and the
    # Spark Connect server are stopped, clusters terminated, throw-away folders removed).
    from harness.processes import interrupt_on_signals

    runtimes: list[Any] = []  # the emulator's runtime, to report its clusters' final state
    try:
        with interrupt_on_signals():
            return _main(args, out, runtimes)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        out(f"interrupted ({signal.Signals(signum).name}): stopped the run and cleaned up")
        for runtime in runtimes:
            for cluster in runtime.clusters():
                out(f"cluster {cluster.id}: {cluster.state.value}")
        return 128 + signum


def _main(args: argparse.Namespace, out: Callable[[str], Any], runtimes: list[Any]) -> int:
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = time.perf_counter() - t0 - sum(phases.values())

    from harness.dag_runner import prepare_dag_run

    layout = PipelineLayout(bucket=args.bucket)
    # Absolute: step commands run in their own working directory.
    workdir = Path(args.workdir or Path(".harness", "runs",
                                        datetime.now().strftime("%Y%m%d-%H%M%S"))).resolve()
    variables: Mapping[str, str] = {**layout.variables(), **_parse_vars(args.var)}
    # Airflow gets ready (import, Execution API, DAG parse: ~8 s) in a worker process while this
    # one starts the emulator and provisions it (~5 s): on two cores they overlap.
    with contextlib.ExitStack() as stack:
        prepared = stack.enter_context(prepare_dag_run(
            args.dag_id, dags_folder=args.dags_folder, variables=variables))
        phase("start_airflow_worker")
        executor = None
        if getattr(args, "warm_spark", False):
            # The server's JVM starts now and warms up while Airflow and the emulator start.
            from harness.emr.connect import ConnectExecutor

            executor = stack.enter_context(
                ConnectExecutor(log_path=workdir / "spark-connect.log"))
            phase("start_spark_connect")
        from harness.endpoint import EmulatedAWS, console_reports

        stack.enter_context(console_reports())  # the version mismatch as one plain line
        if getattr(args, "backend", "embedded") != "embedded":
            return _run_on_backend(args, out, prepared, executor, layout, workdir,
                                   (phase, phases), t0, runtimes)
        with EmulatedAWS(workdir=workdir, executor=executor) as aws:
            runtimes.append(aws.runtime)
            phase("emulator_start")
            provision(aws, layout, data=args.data, script=args.script)
            phase("provision")
            out(f"emulated AWS at {aws.url} (workdir {workdir}); running {args.dag_id} "
                f"from {args.dags_folder}/ under Airflow's dag.test()")
            result = prepared.run(aws=aws, poke_interval=args.poke_interval,
                                  deferrable=args.deferrable, progress=out,
                                  echo_logs=args.echo_logs,
                                  sensor_timeout=getattr(args, "sensor_timeout", None),
                                  timeout=getattr(args, "timeout", None))
            phase("run_dag")
            if args.timings:
                _write_timings(Path(args.timings), aws, result, phases)
            return _report(args, out, aws, layout, workdir, result, t0)


def _run_on_backend(args: argparse.Namespace, out: Callable[[str], Any], prepared: Any,
                    executor: Any, layout: PipelineLayout, workdir: Path,
                    timing: tuple[Callable[[str], None], dict[str, float]],
                    t0: float, runtimes: list[Any]) -> int:  # fmt: skip
    """The same run against another backend (LocalStack): the DAG reaches it through the
    connection's per-service endpoints."""
    from harness.backends import BackendUnavailable, create_backend

    phase, phases = timing
    try:
        backend = create_backend(args.backend, workdir=workdir, executor=executor,
                                 localstack_url=args.localstack_url,
                                 install_localstack=args.install_localstack)
    except ValueError as exc:  # a bad option value (an off-loopback --localstack-url ...)
        out(f"{args.backend} backend: {exc}")
        return 2
    try:
        backend.start()
    except BackendUnavailable as exc:
        out(f"{args.backend} backend unavailable: {exc}")
        return 2
    try:
        phase("backend_start")
        emulator = getattr(backend, "emulator", None)
        if emulator is not None:  # interruption reports its clusters' final state
            runtimes.append(emulator.runtime)
        out(backend.describe())
        provision(backend, layout, data=args.data, script=args.script)
        phase("provision")
        out(f"running {args.dag_id} from {args.dags_folder}/ under Airflow's dag.test() "
            f"(workdir {workdir})")
        result = prepared.run(backend=backend, poke_interval=args.poke_interval,
                              deferrable=args.deferrable, progress=out,
                              echo_logs=args.echo_logs,
                              sensor_timeout=getattr(args, "sensor_timeout", None),
                              timeout=getattr(args, "timeout", None))
        phase("run_dag")
        if args.timings:
            _write_timings(Path(args.timings), backend, result, phases)
        return _report(args, out, backend, layout, workdir, result, t0)
    finally:
        backend.stop()


def _report(args: argparse.Namespace, out: Callable[[str], Any], aws: Any,
            layout: PipelineLayout, workdir: Path, result: Any, t0: float) -> int:  # fmt: skip
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
    emulator = getattr(aws, "emulator", aws)  # a LocalStack backend's EMR runtime, if any
    if emulator is not None and hasattr(emulator, "step_dir"):
        out(f"outputs on disk: {emulator.workdir / 's3' / layout.bucket / layout.output_prefix}")
        cluster_id = result.xcoms.get("criar_cluster_emr")
        for step_id in result.xcoms.get("adicionar_steps_spark") or []:
            out(f"step logs:       {emulator.step_dir(cluster_id, step_id)}")
    _write_task_logs(result, workdir, out)
    out(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _write_timings(path: Path, aws: Any, result: Any, phases: dict[str, float]) -> None:
    """Phases of this command, run_dag's own phases, task durations and each step's run time."""
    steps = {}
    cluster_id = result.xcoms.get("criar_cluster_emr")
    emr = aws.client("emr")
    for step_id in result.xcoms.get("adicionar_steps_spark") or []:
        timeline = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"][
            "Timeline"]
        if timeline.get("StartDateTime") and timeline.get("EndDateTime"):
            steps[step_id] = (timeline["EndDateTime"] - timeline["StartDateTime"]).total_seconds()
    path.write_text(json.dumps({
        "phases": phases,
        "run_dag": result.timings,
        "tasks": result.durations,
        "steps": steps,
        # CPU seconds of this process (Airflow, the emulator) vs its children (Spark).
        "cpu_self": _cpu(resource.RUSAGE_SELF),
        "cpu_children": _cpu(resource.RUSAGE_CHILDREN),
        "ok": result.ok,
    }, indent=2))


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
