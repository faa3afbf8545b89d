"""`python -m harness smoke-aws`: the pipeline once on a real AWS account, opt-in and bounded.

Always prints who and where first (account and region from STS, or that no credentials were
found), what the run would create (all named and tagged with the run id) and the cost
ceiling. Without `--yes-this-costs-money` it stops there and exits 2. With it:

1. the cost guard checks the cluster (type, count, worst-case cost) before anything exists;
2. `AwsBackend` creates the bucket `<prefix>-<run id>` and uploads the files of the repository's
   ``[tool.harness]`` table into it (the run's bucket stands in for the table's one bucket:
   ``harness.aws_setup``);
3. the table's DAG runs unmodified through `run_dag`, with the table's Variables and
   ``[tool.harness.aws.variables]`` on top (e.g. the small cluster and the run-id tags, from
   ``{placeholders}``); its input sensors wait at most a minute (or three pokes), the whole run
   at most the run timeout;
4. the table's first ``result`` prefix is read back from the run's bucket; the backend's
   `stop()` terminates the run's clusters and deletes the bucket - on success, failure,
   Ctrl-C, SIGTERM and the run deadline alike (a second signal during cleanup is ignored, so
   cleanup cannot be interrupted half-way).

`--endpoint-url` is for the offline tests only: the same code paths against the emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType, SimpleNamespace
from typing import Any

from harness.aws_setup import AwsRunSetup
from harness.backends.aws_cost import ClusterPlan, CostCeiling, CostGuardError, check_cost
from harness.config import (
    AWS_PLACEHOLDERS,
    ConfigError,
    HarnessConfig,
    load_config,
    parse_uploads,
)

__all__ = ["Interrupted", "add_arguments", "input_sensor_timeout", "main", "run_smoke",
           "signals_raise", "smoke_config"]

CONFIRM_FLAG = "--yes-this-costs-money"
REFUSED = 2  # exit code: refused (no flag, or the cost guard)


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an Exception
    """SIGINT, SIGTERM or the run deadline (SIGALRM) arrived; cleanup follows."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__("the run deadline (SIGALRM)" if signum == signal.SIGALRM else name)
        self.signum = signum


@contextlib.contextmanager
def signals_raise(*, deadline_s: int | None = None) -> Iterator[None]:
    """SIGINT/SIGTERM (and SIGALRM after `deadline_s`) raise `Interrupted` in the main thread,
    so `with` blocks unwind and clean up. Restored on exit."""
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)

    def raise_(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, raise_) for s in signums}
    if deadline_s:
        signal.alarm(deadline_s)
    try:
        yield
    finally:
        signal.alarm(0)
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_ignored(out: Callable[[str], Any]) -> Iterator[None]:
    """During cleanup: a second Ctrl-C or SIGTERM is reported, not obeyed."""
    def note(signum: int, frame: FrameType | None) -> None:
        out(f"{signal.Signals(signum).name} ignored: cleaning up, please wait")

    signal.alarm(0)  # the run deadline no longer applies: cleanup has begun
    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _backend(args: argparse.Namespace) -> Any:
    from harness.backends.aws import AwsBackend

    return AwsBackend(
        region=args.region, profile=args.profile, run_id=args.run_id,
        bucket_prefix=args.bucket_prefix,
        plan=ClusterPlan(instance_type=args.instance_type, core_count=args.core_count,
                         run_timeout_s=args.run_timeout),
        ceiling=CostCeiling(max_usd=args.max_usd),
        endpoint_url=args.endpoint_url,
        terminate_wait_s=args.terminate_wait,
    )  # fmt: skip


def print_plan(backend: Any, out: Callable[[str], Any]) -> bool:
    """Who, where, what and how much; returns whether credentials were found."""
    from harness.backends.base import BackendUnavailable

    try:
        ident = backend.whoami()
        out(f"AWS account {ident.account} ({ident.arn}), region {backend.region}")
        found = True
    except BackendUnavailable as e:
        out(f"AWS account: unknown - {e}")
        found = False
    out("a smoke run would create:")
    for line in backend.plan_lines():
        out(f"  - {line}")
    return found


def input_sensor_timeout(poke_interval: float) -> float:
    """Input sensors' bound on AWS: the input is uploaded before the run, so it is there at
    once; a minute, or three pokes, covers S3's answer."""
    return max(60.0, 3 * poke_interval)


def run_smoke(
    backend: Any, config: HarnessConfig, *, poke_interval: float = 30,
    progress: Callable[[Any], Any] | None = None, out: Callable[[str], Any] = print,
) -> tuple[Any, list[str], list[list[str]]]:  # fmt: skip
    """Provision the config's files, run its DAG, read its first result prefix back:
    (DagRunResult, header, rows); no ``result`` in the config: no rows.

    The backend must be started; stopping it (cleanup) is the caller's `with`. A config that
    cannot run on AWS raises ``ConfigError`` before anything is created."""
    from harness.airflow.dag_runner import run_dag
    from harness.run_report import read_csv_prefix

    setup = AwsRunSetup.from_config(config)
    variables = setup.variables(backend.run_values())  # refused here: nothing created yet
    backend.provision(setup.files, roles=setup.roles)
    out(f"provisioned s3://{backend.bucket_name}; running {setup.dag_id}")
    result = run_dag(
        setup.dag_id, dags_folder=setup.dags_folder, variables=variables,
        connections=dict(config.connections),
        aws=_connection_only(backend), poke_interval=poke_interval,
        # Hard stops, the same rules as `harness run`: every input sensor gets a short bound,
        # and the whole run (job sensors included) the plan's run timeout.
        sensor_timeout=input_sensor_timeout(poke_interval),
        timeout=float(backend.plan.run_timeout_s),
        progress=progress, isolation="subprocess",  # the DAG's own retries (with no delay)
    )  # fmt: skip
    if not setup.result_prefixes:
        return result, [], []
    header, rows = read_csv_prefix(backend.client("s3"), backend.bucket_name,
                                   setup.result_prefixes[0])  # fmt: skip
    return result, header, rows


def _connection_only(backend: Any) -> Any:
    """What run_dag takes as `aws=` for a backend without one URL: no URL (so no dummy
    credentials and no emulator inspection), and an environment holding the backend's own
    Airflow connection (profile, region, endpoint) and client settings."""
    conn = {"conn_type": "aws", "extra": backend.connection_extra()}
    env = {**backend.env(), "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn)}
    return SimpleNamespace(url=None, region=backend.region, env=lambda: env)


# -------------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(CONFIRM_FLAG, dest="confirmed", action="store_true",
                   help="really create the resources (without it: print the plan and refuse)")
    p.add_argument("--profile", default=None, help="AWS profile (default: AWS_PROFILE / chain)")
    p.add_argument("--region", default=None, help="region (default: the profile's)")
    p.add_argument("--run-id", default=None, help="run id (default: a fresh one)")
    p.add_argument("--bucket-prefix", default="airflow-emr-smoke")
    p.add_argument("--instance-type", default="m5.xlarge")
    p.add_argument("--core-count", type=int, default=1)
    p.add_argument("--run-timeout", type=int, default=45 * 60, metavar="SECONDS",
                   help="hard stop for the run (the DAG run's budget and the harness deadline)")
    p.add_argument("--max-usd", type=float, default=CostCeiling().max_usd,
                   help="cost ceiling for the worst case")
    p.add_argument("--poke-interval", type=float, default=30.0)
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML file with a [tool.harness] table (the DAG, its uploads, its "
                        "Variables; [tool.harness.aws.variables] for this run); default "
                        "./pyproject.toml")
    p.add_argument("--dag-id", default=None, help="the DAG to run; default the table's dag_id")
    p.add_argument("--dags-folder", default=None,
                   help="default the table's dags_folder")
    p.add_argument("--upload", action="append", default=[], metavar="LOCAL=s3://BUCKET/KEY",
                   help="upload a file or folder (repeatable; replaces the table's upload with "
                        "the same destination; BUCKET is the table's, the run's bucket takes "
                        "its place)")
    p.add_argument("--terminate-wait", type=float, default=20 * 60, metavar="SECONDS",
                   help="how long cleanup waits for the clusters to be TERMINATED")
    # Tests only: the same code paths against an emulated endpoint.
    p.add_argument("--endpoint-url", default=None, help=argparse.SUPPRESS)


def smoke_config(args: argparse.Namespace) -> HarnessConfig:
    """The table with the command line on top, checked for a real-AWS run (``ConfigError``)."""
    config = load_config(args.config).with_overrides(
        dags_folder=args.dags_folder, dag_id=args.dag_id, uploads=parse_uploads(args.upload))
    # Fail before any AWS call: the table's shape, and Variables still naming its bucket.
    AwsRunSetup.from_config(config).variables({name: f"<{name}>" for name in AWS_PLACEHOLDERS})
    return config


def main(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    from harness.backends.aws import RequiredRolesMissing
    from harness.backends.base import BackendUnavailable

    def say(line: str) -> None:
        out(line)
        sys.stdout.flush()

    try:
        config = smoke_config(args)
    except ConfigError as e:
        say(f"harness smoke-aws: {e}")
        return REFUSED
    try:
        backend = _backend(args)
    except ValueError as e:
        say(f"refused: {e}")
        return REFUSED
    print_plan(backend, say)
    try:
        usd = check_cost(backend.plan, backend.ceiling)
    except CostGuardError as e:
        say(f"refused: {e}")
        return REFUSED
    if not args.confirmed:
        say(f"refused: this creates billed resources (worst case ${usd:.2f}); re-run with "
            f"{CONFIRM_FLAG} to go ahead")  # fmt: skip
        return REFUSED
    code = 1
    interrupted: Interrupted | None = None
    # The harness deadline is a last resort behind the DAG run's own budget (run_dag's timeout;
    # its worker is killed a minute after that), so a slow run normally ends as a failed task,
    # not a signal.
    deadline = args.run_timeout + int(args.poke_interval) + 120
    try:
        with signals_raise(deadline_s=deadline):
            backend.start()
            try:
                result, header, rows = run_smoke(
                    backend, config, poke_interval=args.poke_interval, out=say,
                    progress=lambda e: say(f"  {e.task_id}: {e.state}"),
                )  # fmt: skip
                say(result.summary())
                if result.ok and (rows or not config.result):
                    if config.result:
                        say(f"output: {len(rows)} rows ({', '.join(header)})")
                    code = 0
                else:
                    say(result.failure_report() if not result.ok else "no output rows")
            finally:
                with signals_ignored(say):
                    say(f"cleaning up run {backend.run_id} ...")
                    backend.stop()
                    for line in backend.cleanup_log:
                        say(f"  {line}")
                    say("cleanup done")
    except Interrupted as e:
        interrupted = e
    except (BackendUnavailable, RequiredRolesMissing, ConfigError) as e:
        say(f"failed: {e}")
        return 1
    if interrupted is not None:
        say(f"interrupted by {interrupted}; the run's resources were cleaned up")
        return 128 + interrupted.signum
    return code
