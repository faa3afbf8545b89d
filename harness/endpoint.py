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

import contextlib
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from harness.emr.executors import StepExecutor
from harness.emr.faults import Faults, ThrottleMiddleware, error_response
from harness.emr.logs import tail
from harness.emr.runtime import EmrRuntime, LifecycleDelays
from harness.guard import DUMMY_CREDENTIALS, EndpointGuard
from harness.offline_env import OfflineFiles, offline_env, snapshot_environ

log = logging.getLogger("harness.emr")

NO_DELAYS = LifecycleDelays()
_MISSING = object()
_MANAGED_POLICIES: Final = "load_aws_managed_policies"

__all__ = ["ENV_UNSET", "EmulatedAWS", "LifecycleDelays", "console_reports"]

#: Variables to remove from an environment next to `EmulatedAWS.env()`: they would point
#: clients at real credentials, profiles or other endpoints. Child processes the harness starts
#: get `harness.offline_env.offline_env`, which removes every other `AWS_*` variable as well.
ENV_UNSET = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


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
        executor: how step commands run (default: local subprocesses; with
            HARNESS_SPARK_CONNECT_URL set, PySpark steps on that Spark Connect server).
        guard: install the endpoint guard (no off-loopback AWS calls, dummy credentials)
            while running.
        delays: seconds spent in STARTING / BOOTSTRAPPING / TERMINATING (default 0).
        load_managed_policies: load AWS-managed IAM policies into the emulated IAM (needed to
            attach the EMR default roles' policies as the AWS CLI does).
        s3_endpoint_url: the S3 that step inputs, outputs and logs go through (default: this
            endpoint's own); e.g. LocalStack's, with this endpoint serving only EMR.
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
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.region = region
        self.s3_endpoint_url = s3_endpoint_url
        self._port = port
        # Absolute: every step runs in its own working directory.
        self._workdir_arg = Path(workdir).resolve() if workdir is not None else None
        self.strict_versions = strict_versions
        if executor is None:
            from harness.emr.connect import executor_from_env

            executor = executor_from_env()
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
        self._settings_backup: tuple[bool, Any] | None = None  # (had "iam", old value)
        self._session: Any = None
        self._session_lock = threading.Lock()
        self._offline_files: OfflineFiles | None = None

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
        self._offline_files = OfflineFiles()
        # Taken before anything else runs in this endpoint (and before the guard edits the
        # environment): steps start from it, never from os.environ read in a cluster thread.
        base_env = snapshot_environ()
        if self._guard is not None:
            self._guard.install()

        from moto import settings
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from harness import boto_models, moto_tuning, s3_streaming

        boto_models.install()  # every later botocore session reuses the parsed service models
        moto_tuning.install()  # a fresh account's first request no longer costs seconds
        s3_streaming.install()  # large objects: GETs and multipart joins stream from disk
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines
        conf = settings.default_user_config
        had_iam = "iam" in conf
        iam_conf = conf.setdefault("iam", {})
        self._settings_backup = (had_iam, iam_conf.get(_MANAGED_POLICIES, _MISSING))
        iam_conf[_MANAGED_POLICIES] = self.load_managed_policies

        # Each backend's app frees a request's body when it ends (s3_streaming: a cycle).
        backend_app = s3_streaming.releasing_request_bodies(create_backend_app)
        app = _WarningGuard(
            ThrottleMiddleware(
                DomainDispatcherApplication(_warning_guarded(backend_app)), self.faults
            )
        )
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
            base_env=offline_env(base_env, endpoints=self.env(), files=self._offline_files,
                                 guard=self._guard is not None),
            s3_endpoint_url=self.s3_endpoint_url,
        )
        self._runtime.install()
        self._reset_moto()  # a fresh account: nothing left from an earlier EmulatedAWS
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="emulated-aws", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop what was started. Every part is cleaned up even if an earlier one fails; the
        first error is raised afterwards."""
        with contextlib.ExitStack() as cleanup:  # callbacks run last-registered first
            cleanup.callback(self._remove_workdir)
            cleanup.callback(self._remove_offline_files)
            if self._guard is not None:
                cleanup.callback(self._guard.uninstall)  # no-op unless this guard installed
            cleanup.callback(self._restore_moto_settings)
            cleanup.callback(self._stop_server)
            cleanup.callback(self._stop_runtime)

    def _stop_runtime(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.uninstall()  # terminates live clusters, kills running steps

    def _stop_server(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        try:
            if thread is not None and thread.is_alive():  # shutdown() blocks if never served
                server.shutdown()
        finally:
            server.server_close()
            if thread is not None and thread.is_alive():
                thread.join(5)

    def _restore_moto_settings(self) -> None:
        backup, self._settings_backup = self._settings_backup, None
        if backup is None:
            return
        from moto import settings

        had_iam, value = backup
        conf = settings.default_user_config
        iam_conf = conf.setdefault("iam", {})
        if value is _MISSING:
            iam_conf.pop(_MANAGED_POLICIES, None)
        else:
            iam_conf[_MANAGED_POLICIES] = value
        if not had_iam and not iam_conf:
            del conf["iam"]

    def _remove_offline_files(self) -> None:
        files, self._offline_files = self._offline_files, None
        if files is not None:
            files.cleanup()

    def _remove_workdir(self) -> None:
        if self._own_workdir and self._workdir is not None:
            workdir, self._workdir, self._own_workdir = self._workdir, None, False
            shutil.rmtree(workdir, ignore_errors=True)

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

    def use_workdir(self, workdir: str | Path) -> None:
        """Put later steps' staging mirror and logs under ``workdir`` (one folder per run on a
        long-lived endpoint, as the warm loop does). Steps already running keep their folders."""
        rt = self._require()
        path = Path(workdir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._own_workdir = False
        self._workdir = path
        rt.use_workdir(path)

    @staticmethod
    def _reset_moto() -> None:
        """moto's full reset, except that EC2 (whose init costs about a second: default VPCs,
        AMIs, instance types) is kept; EMR's instances left in it do not affect anything."""
        from moto.core.base_backend import BackendDict, backend_lock
        from moto.core.model_instances import reset_model_data

        with backend_lock:
            kept = []
            # `_instances` is a class-level registry (typed as a generic instance variable).
            instances: list[Any] = vars(BackendDict)["_instances"]
            for backend in instances:
                if getattr(backend, "service_name", None) == "ec2":
                    kept.append(backend)
                    continue
                for account_specific in backend.values():
                    account_specific.reset()
                backend.clear()
            instances[:] = kept
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
        """Where this endpoint is, for clients and child processes (also remove `ENV_UNSET`
        and other `AWS_ENDPOINT_URL_<SERVICE>`; `harness.offline_env.offline_env` does all that)."""
        env = {
            "AWS_ENDPOINT_URL": self.url,
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self.s3_endpoint_url:
            env["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint_url
        return env

    def put_file(self, path: str | Path, bucket: str, key: str) -> bool:
        """Put a local file into this emulator's S3 as ``s3://bucket/key`` by a kernel copy (no
        HTTP upload, no part buffers; `harness.provisioning` uses it). False when this
        emulator's S3 is elsewhere (``s3_endpoint_url``) or the bucket is not in it: upload
        through ``client("s3")`` then."""
        if self.s3_endpoint_url or self._server is None:
            return False
        from harness.s3_streaming import put_file_as_object

        return put_file_as_object(Path(path), bucket, key)

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
        return self._require().version_warnings  # a copy, taken under the runtime's lock

    def active_clusters(self) -> list[str]:
        """Ids of clusters not yet TERMINATED / TERMINATED_WITH_ERRORS."""
        return [r.id for r in self._require().clusters() if r.state.is_active]


#: The error a request gets when a Python warning was raised as an exception in its handler.
WARNING_ERROR_CODE = "EmulatorWarningRaisedAsError"


def _warning_guarded(create_backend_app: Any) -> Any:
    """moto's per-service Flask app factory, with a handler for `Warning` exceptions.

    Under `-W error` (or pytest's `filterwarnings = error`) any `warnings.warn` in a request
    handler raises. Flask would answer 500, botocore retries a 500 and a non-idempotent call
    (RunJobFlow) runs again. Our own code never warns inside a handler; this guard answers a
    warning from anywhere else (moto, botocore ...) with a 400 that botocore does not retry
    and that names the warning.
    """

    def factory(service: Any) -> Any:
        app = create_backend_app(service)
        app.register_error_handler(Warning, _warning_response)
        return app

    return factory


def _warning_message(exc: Warning) -> str:
    message = (
        f"A Python warning was raised as an error inside the emulated endpoint while handling "
        f"this request ({type(exc).__name__}: {exc}); the request may be partly applied. "
        "Warnings are escalated by `-W error` or `filterwarnings = error`: add an ignore "
        "filter for this warning."
    )
    log.warning("%s", message)
    return message


def _warning_response(exc: Warning) -> Any:
    from flask import Response, request

    body, headers = error_response(request.environ, WARNING_ERROR_CODE, _warning_message(exc))
    return Response(body, status=400, headers=headers)


class _WarningGuard:
    """The same answer for a warning raised outside moto's Flask apps (the middleware, the
    dispatcher creating a service's app), where werkzeug would answer 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.app(environ, start_response)
        except Warning as exc:
            body, headers = error_response(environ, WARNING_ERROR_CODE, _warning_message(exc))
            start_response("400 Bad Request", headers)
            return [body]


@contextlib.contextmanager
def console_reports(stream: IO[str] | None = None) -> Iterator[None]:
    """While active, the emulator's reports (logger `harness.emr`, WARNING and up: a Spark
    version mismatch, a log upload that failed ...) print as one plain line each on `stream`
    (default stderr), instead of going to the root logger. For command-line tools."""
    logger = logging.getLogger("harness.emr")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate
        handler.flush()
