"""The embedded AWS endpoint: moto's server on 127.0.0.1 plus an EMR runtime that runs steps.

    from harness.endpoint import EmulatedAWS

    with EmulatedAWS() as aws:                       # 127.0.0.1, a free port, a temp workdir
        emr = aws.client("emr")
        cluster_id = emr.run_job_flow(...)["JobFlowId"]
        emr.get_waiter("cluster_running").wait(ClusterId=cluster_id)

One process holds one EmulatedAWS at a time (moto's state is process-global). This module
does not import Airflow; moto and boto3 are imported when the endpoint starts.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from harness.emr.executors import StepExecutor
from harness.emr.faults import Faults, ThrottleMiddleware
from harness.emr.logs import tail
from harness.emr.runtime import EmrRuntime, LifecycleDelays
from harness.guard import DUMMY_CREDENTIALS, EndpointGuard

NO_DELAYS = LifecycleDelays()

__all__ = ["ENV_UNSET", "EmulatedAWS", "LifecycleDelays"]

#: Variables to remove from a child's environment next to `EmulatedAWS.env()`: they would
#: point clients at real credentials or profiles.
ENV_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class EmulatedAWS:
    """An offline AWS endpoint (S3, IAM, STS, EC2, CloudWatch Logs, EMR ...) whose EMR
    clusters run their steps locally.

    Args (keyword-only):
        region: the region clients are configured for.
        port: TCP port on 127.0.0.1; 0 picks a free one (read it back from `url`).
        workdir: where the S3 staging mirror (`s3/`) and step logs (`logs/`) live; a temporary
            directory (removed on stop) when None.
        strict_versions: a cluster whose ReleaseLabel runs another Spark minor than the local
            pyspark fails to start (VALIDATION_ERROR) instead of only warning.
        executor: how step commands run (default: local subprocesses).
        guard: install the endpoint guard (no off-loopback AWS calls, dummy credentials)
            while running.
        delays: seconds spent in STARTING / BOOTSTRAPPING / TERMINATING (default 0).
        load_managed_policies: load AWS-managed IAM policies into the emulated IAM (needed to
            attach the EMR default roles' policies as the AWS CLI does).
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        port: int = 0,
        workdir: str | Path | None = None,
        strict_versions: bool = False,
        executor: StepExecutor | None = None,
        guard: bool = True,
        delays: LifecycleDelays = NO_DELAYS,
        load_managed_policies: bool = True,
    ) -> None:
        self.region = region
        self._port = port
        # Absolute: every step runs in its own working directory.
        self._workdir_arg = Path(workdir).resolve() if workdir is not None else None
        self.strict_versions = strict_versions
        self.executor = executor
        self.faults = Faults()
        self.delays = delays
        self.load_managed_policies = load_managed_policies
        self._guard = EndpointGuard() if guard else None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._runtime: EmrRuntime | None = None
        self._workdir: Path | None = None
        self._own_workdir = False
        self._settings_backup: Any = None
        self._session: Any = None
        self._session_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EmulatedAWS:
        if self._server is not None:
            raise RuntimeError("EmulatedAWS already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._workdir_arg is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="emulated-aws-"))
            self._own_workdir = True
        else:
            self._workdir = self._workdir_arg
            self._workdir.mkdir(parents=True, exist_ok=True)
        if self._guard is not None:
            self._guard.install()

        from moto import settings
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines
        iam_conf = settings.default_user_config.setdefault("iam", {})
        self._settings_backup = iam_conf.get("load_aws_managed_policies")
        iam_conf["load_aws_managed_policies"] = self.load_managed_policies

        app = ThrottleMiddleware(DomainDispatcherApplication(create_backend_app), self.faults)
        self._server = make_server(
            "127.0.0.1", self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._runtime = EmrRuntime(
            endpoint_url=self.url,
            region=self.region,
            workdir=self._workdir,
            faults=self.faults,
            executor=self.executor,
            strict_versions=self.strict_versions,
            delays=self.delays,
            env=self.env(),
        )
        self._runtime.install()
        self._reset_moto()  # a fresh account: nothing left from an earlier EmulatedAWS
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="emulated-aws", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.uninstall()  # terminates live clusters, kills running steps
            self._runtime = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5)
            self._server = None
            self._thread = None
        if self._settings_backup is not None or self._workdir is not None:
            from moto import settings

            settings.default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = bool(
                self._settings_backup
            )
        if self._guard is not None and self._guard.active():
            try:
                self._guard.uninstall()
            except Exception:  # not installed (start failed early)
                pass
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._own_workdir = False

    def __enter__(self) -> EmulatedAWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to an empty account: clusters terminated and forgotten, S3/IAM/... emptied,
        faults cleared, staging mirror and step logs deleted."""
        rt = self._require()
        rt.forget()
        self.faults.clear()
        self._reset_moto()
        for sub in ("s3", "logs"):
            shutil.rmtree(self.workdir / sub, ignore_errors=True)

    @staticmethod
    def _reset_moto() -> None:
        """moto's full reset, except that EC2 (whose init costs about a second: default VPCs,
        AMIs, instance types) is kept; EMR's instances left in it do not affect anything."""
        from moto.core.base_backend import BackendDict, backend_lock
        from moto.core.model_instances import reset_model_data

        with backend_lock:
            kept = []
            for backend in BackendDict._instances:
                if getattr(backend, "service_name", None) == "ec2":
                    kept.append(backend)
                    continue
                for account_specific in backend.values():
                    account_specific.reset()
                backend.clear()
            BackendDict._instances[:] = kept
        reset_model_data()

    # -- reading -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("EmulatedAWS is not started: use `with EmulatedAWS() as aws:`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("EmulatedAWS is not started")
        return self._workdir

    @property
    def runtime(self) -> EmrRuntime:
        """The EMR runtime (cluster/step records, `wait_cluster`, `wait_step`, history)."""
        return self._require()

    def _require(self) -> EmrRuntime:
        if self._runtime is None:
            raise RuntimeError("EmulatedAWS is not started: use `with EmulatedAWS() as aws:`")
        return self._runtime

    def env(self) -> dict[str, str]:
        """Environment for clients and child processes (also remove `ENV_UNSET`)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for `service` aimed at this endpoint."""
        params = {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            **kwargs,
        }
        with self._session_lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()  # one model cache for all clients
            return self._session.client(service, **params)

    def step_dir(self, cluster_id: str, step_id: str) -> Path:
        """Local folder with the step's stdout, stderr and controller logs."""
        return self._require().step_dir(cluster_id, step_id)

    def step_stderr_tail(self, cluster_id: str, step_id: str, lines: int = 20) -> str:
        """The last `lines` lines of a step's stderr ('' if the step never ran).

        PySpark's driver prints a Python traceback to stdout, not stderr: when stdout holds a
        traceback that stderr lacks, that traceback is appended (after a marker line)."""
        step_dir = self.step_dir(cluster_id, step_id)
        text = tail(step_dir / "stderr", lines)
        marker = "Traceback (most recent call last):"
        out = tail(step_dir / "stdout", 400)
        if marker in out and marker not in text:
            tb = out[out.rindex(marker) :].splitlines()[:lines]
            text += "--- Python traceback (from the step's stdout) ---\n" + "\n".join(tb) + "\n"
        return text

    @property
    def version_warnings(self) -> list[str]:
        return list(self._require().version_warnings)

    def active_clusters(self) -> list[str]:
        """Ids of clusters not yet TERMINATED / TERMINATED_WITH_ERRORS."""
        return [r.id for r in self._require().clusters() if r.state.is_active]
