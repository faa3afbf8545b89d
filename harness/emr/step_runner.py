"""One step, end to end: plan, stage in, run, stage out, logs, and what it amounts to.

No locks and no state changes: `StepRunner.run()` does the I/O of one step and returns a
`StepOutcome`; the runtime turns that into the step's state under its own lock.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.emr.executors import StepExecutor
from harness.emr.faults import Faults
from harness.emr.logs import error_line, tail, upload_step_logs
from harness.emr.node_cli import local_node_tools
from harness.emr.node_commands import node_env
from harness.emr.records import ClusterRun, StepRun, utcnow
from harness.emr.staging import SharedMirror, Stager
from harness.emr.steps import plain_configurations, plan_step

__all__ = ["StepOutcome", "StepRunner", "Workspace", "failure_details"]

log = logging.getLogger("harness.emr")


@dataclass(frozen=True)
class StepOutcome:
    exit_code: int | None
    cancelled: bool
    #: FailureDetails when the step failed (exit code != 0 and not cancelled)
    failure: dict[str, str] | None = None


@dataclass(frozen=True)
class Workspace:
    """Where one step stages and logs (taken when it starts: `use_workdir` may move later
    steps elsewhere while it runs)."""

    step_dir: Path
    mirror_root: Path
    mirror: SharedMirror
    #: scratch space for node commands run inside the step (their private mirrors)
    node_dir: Path


class StepRunner:
    def __init__(
        self,
        *,
        executor: StepExecutor,
        faults: Faults,
        s3client: Callable[[], Any],
        base_env: dict[str, str],
        step_env: dict[str, str],
        copy_object: Callable[..., bool] | None = None,
        put_object: Callable[[Path, str, str], bool] | None = None,
    ) -> None:
        self.executor = executor
        self.copy_object = copy_object  # see Stager
        self.put_object = put_object
        self.faults = faults
        self._s3client = s3client
        self.base_env = base_env
        self.step_env = step_env

    def run(self, run: ClusterRun, step: StepRun, ws: Workspace) -> StepOutcome:
        step_dir = ws.step_dir
        stdout, stderr, controller = (step_dir / n for n in ("stdout", "stderr", "controller"))
        ctl: Any = None

        def note(msg: str) -> None:
            if ctl is not None:
                ctl.write(f"{utcnow().isoformat(timespec='milliseconds')} INFO {msg}\n")
                ctl.flush()

        rc: int | None = None
        cancelled = False
        setup_error: str | None = None
        try:
            step_dir.mkdir(parents=True, exist_ok=True)
            for p in (stdout, stderr):
                p.touch()
            ctl = controller.open("a", encoding="utf-8")
            note(f"Step {step.id} ({step.name!r}) on cluster {run.id}")
            rc, cancelled = self._execute(run, step, ws, stdout, stderr, note)
            note(f"Step {'cancelled' if cancelled else f'finished with exit code {rc}'}")
        except Exception as exc:  # setup, staging or planning trouble: the step fails, visibly
            rc = 1
            setup_error = f"{type(exc).__name__}: {exc}"
            try:
                with stderr.open("a", encoding="utf-8") as err:
                    err.write(f"{type(exc).__name__}: {exc}\n")
                note(f"Step failed before or after running: {exc!r}\n{traceback.format_exc()}")
            except OSError:  # the step folder itself is unusable: FailureDetails still tell
                log.warning("cannot write the logs of step %s", step.id, exc_info=True)
        finally:
            ws.mirror.release(step.id)  # a step that never staged out holds no claim
            if ctl is not None:
                ctl.close()
        log_file = str(stderr)
        if run.moto.log_uri:
            try:
                prefix = upload_step_logs(self._s3client(), run.moto.log_uri, run.id, step.id,
                                          step_dir)  # fmt: skip
                log_file = f"s3://{prefix.bucket}/{prefix.key}stderr.gz"
            except Exception as exc:  # a missing log bucket must not hide the step's result
                log.warning("could not upload logs of %s to %s: %s", step.id, run.moto.log_uri,
                            exc)  # fmt: skip
        if cancelled or step.cancel_event.is_set() or rc == 0:
            return StepOutcome(rc, cancelled)
        return StepOutcome(rc, False, failure_details(step_dir, rc, log_file, setup_error))

    def _execute(self, run: ClusterRun, step: StepRun, ws: Workspace, stdout: Path,
                 stderr: Path, note: Callable[[str], None]) -> tuple[int, bool]:  # fmt: skip
        fault = self.faults.step_fault(step.name, step.index)
        if fault is not None and fault.kind == "fail":
            note(f"Injected fault: step fails ({fault.message})")
            with stderr.open("a", encoding="utf-8") as err:
                err.write(f"{fault.message}\n")
            return fault.exit_code, False
        if fault is not None and fault.kind == "hang":
            note("Injected fault: step hangs until cancelled")
            step.cancel_event.wait()
            return 130, True

        from harness import spark as local_spark

        args = [str(a) for a in step.moto.args]
        tools = local_node_tools()  # the node's commands: spark-sql, run-example, hadoop fs ...
        configurations = plain_configurations(run.moto.configurations)
        plan = plan_step(
            step.moto.jar,
            args,
            configurations=configurations,
            mirror_root=ws.mirror_root,
            python=sys.executable,
            spark_submit=str(Path(tools.spark_bin, "spark-submit"))
            if tools.spark_bin
            else "spark-submit",
            aws_cli=tools.aws_cli,
            tools=tools,
        )
        note(f"Command: {' '.join(args)}")
        for n in plan.notes:
            note(n)
        stager = Stager(self._s3client(), ws.mirror_root, shared=ws.mirror, owner=step.id,
                        copy_object=self.copy_object, put_object=self.put_object)  # fmt: skip
        snap = stager.stage_in(plan.s3_uris)
        note(f"Staged in {len(plan.s3_uris)} S3 location(s), {snap.downloaded} object(s) copied")

        env = dict(self.base_env)
        if plan.kind == "spark-submit":
            why = ""
            if local_spark.JAVA_OPTIONS_ENV not in env:  # set (even empty): the user's choice
                staged = sum(size for size, _ in snap.files.values())
                env[local_spark.JAVA_OPTIONS_ENV] = local_spark.step_java_options(staged)
                why = f" ({staged / 2**20:.1f} MiB of staged data)"
            env = local_spark.spark_submit_env(env)
            note(f"JVM options from the harness{why}: "
                 f"{env.get(local_spark.ADDED_OPTIONS_ENV) or 'none (the JVM defaults)'}")
        env.update(self.step_env)
        env.update(plan.env)
        env = node_env(env, tools, configurations=configurations, workdir=ws.node_dir)
        note(f"Local command: {' '.join(plan.argv)}")
        if step.cancel_event.is_set():
            return 130, True
        rc = self.executor.run(plan.argv, env, ws.step_dir, stdout, stderr, step.cancel_event)
        if step.cancel_event.is_set():
            return rc, True
        report = stager.stage_out(snap)
        note(f"Synced out: {len(report.uploaded)} uploaded, {len(report.deleted)} deleted")
        for uri in report.uploaded:
            note(f"Uploaded {uri}")
        for uri in report.deleted:
            note(f"Deleted {uri}")
        return rc, False


def failure_details(step_dir: Path, rc: int | None, log_file: str,
                    setup_error: str | None = None) -> dict[str, str]:  # fmt: skip
    """FailureDetails of a failed step, from its logs."""
    # PySpark's driver prints the Python traceback to stdout: look at both.
    err_text, out_text = tail(step_dir / "stderr", 200), tail(step_dir / "stdout", 200)
    has_tb = "Traceback (most recent call last):"
    source = out_text if has_tb in out_text and has_tb not in err_text else err_text
    message = error_line(source) or error_line(out_text) or setup_error or f"exit code {rc}"
    return {"Reason": f"Step failed with exitCode {rc}", "Message": message, "LogFile": log_file}
