"""The LocalStack backend: a real LocalStack for S3, IAM, STS and CloudWatch Logs, and EMR from
LocalStack when it serves EMR (a licensed LocalStack), else from the harness's EMR runtime
running beside it, whose steps stage their inputs, outputs and logs through LocalStack's S3.

Where LocalStack comes from (one of):

- **host** (default): `localstack-core` started on this machine, no Docker, no token, from its
  own virtual environment (`harness.backends.localstack_env`), on 127.0.0.1 and a free port,
  forced onto loopback (`_localstack_launcher.py`, verified through /proc), its state under the
  run's workdir, stopped by PID (process group) and never outliving this process;
- **url**: any LocalStack-compatible endpoint already running (a container, MiniStack ...),
  checked through `/_localstack/health`;
- **docker**: testcontainers' LocalStack module, with a pinned image tag.

    with LocalStackBackend(workdir=tmp_path) as backend:
        backend.client("s3").create_bucket(Bucket="b")     # LocalStack
        backend.client("emr").list_clusters()              # the harness's EMR runtime

Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from harness.backends.base import Backend, BackendUnavailable
from harness.backends.localstack_env import ensure_venv, venv_python
from harness.backends.sockets import off_loopback
from harness.emr.executors import StepExecutor
from harness.guard import DUMMY_CREDENTIALS, EndpointGuard, is_loopback_url
from harness.ports import free_port

__all__ = [
    "DOCKER_IMAGE",
    "image_needs_token",
    "SERVICES",
    "LocalStackBackend",
    "LocalStackServer",
    "read_health",
    "served_services",
]

#: What the backend needs from LocalStack (every tier serves these).
SERVICES = ("s3", "iam", "sts", "logs")
#: The image the docker mode starts: pinned, never `latest`. Images after 4.14.0 need an auth
#: token (LOCALSTACK_AUTH_TOKEN); this one does not.
DOCKER_IMAGE = "localstack/localstack:4.13.1"
LAST_FREE_IMAGE = (4, 14, 0)
#: States `/_localstack/health` gives a service that answers.
SERVING = ("available", "running")
_LAUNCHER = Path(__file__).with_name("_localstack_launcher.py")
_HEALTH = "/_localstack/health"


def read_health(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """LocalStack's `/_localstack/health` at `url`; BackendUnavailable saying what was found."""
    target = url.rstrip("/") + _HEALTH
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 (http only)
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise BackendUnavailable(
            f"{target} answered HTTP {exc.code}: not a LocalStack-compatible endpoint") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendUnavailable(f"no LocalStack at {url}: {target}: {reason}") from exc
    try:
        health = json.loads(body)
    except ValueError as exc:
        raise BackendUnavailable(f"{target} did not answer JSON: {body[:200]!r}") from exc
    if not isinstance(health, dict) or not isinstance(health.get("services"), dict):
        raise BackendUnavailable(f"{target} has no 'services' map: {str(health)[:200]}")
    return health


def served_services(health: dict[str, Any]) -> list[str]:
    """The services a health answer reports as available or running."""
    return sorted(s for s, state in health.get("services", {}).items() if state in SERVING)


def image_needs_token(image: str) -> bool:
    """Whether a LocalStack image needs LOCALSTACK_AUTH_TOKEN (every tag after 4.14.0, and tags
    that name no version, such as `latest`)."""
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else "latest"
    parts = tag.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return True
    return tuple(int(p) for p in parts) > LAST_FREE_IMAGE


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LocalStackServer:
    """`localstack-core` on this host: a child process on 127.0.0.1 and a free port.

    Args (keyword-only):
        workdir: its state (`filesystem/`, `s3-storage/`) and `localstack.log` go here.
        services: LocalStack's SERVICES.
        python: the interpreter of LocalStack's environment (default: the pinned venv).
        install: create that venv when it is missing (else BackendUnavailable says how).
        start_timeout: seconds to wait for `/_localstack/health`.
        stop_timeout: seconds SIGTERM gets before SIGKILL.

    It dies with the *thread* that started it (Linux's PR_SET_PDEATHSIG follows the forking
    thread): start it from a thread that lives as long as you use it (the main thread does).
    """

    def __init__(self, *, workdir: str | Path, services: tuple[str, ...] = SERVICES,
                 python: str | Path | None = None, install: bool = False,
                 start_timeout: float = 120.0, stop_timeout: float = 5.0) -> None:  # fmt: skip
        self.workdir = Path(workdir).resolve()
        self.services = tuple(services)
        self._python = Path(python) if python else None
        self.install = install
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.health: dict[str, Any] = {}
        self.start_seconds: float | None = None  # spawn -> healthy
        self._bind_host = "127.0.0.1"  # a test sets 0.0.0.0 to prove the check below works

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalStackServer is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "localstack.log"

    def python(self) -> Path:
        if self._python is not None:
            return self._python
        found = venv_python()
        if found is None and self.install:
            found = ensure_venv()
        if found is None:
            raise BackendUnavailable(
                "LocalStack's virtual environment is not created: run `python -m "
                "harness.backends.localstack_env` (or `nox -s localstack`), or pass "
                "--install-localstack")
        return found

    def start(self) -> Self:
        if self.proc is not None:
            raise RuntimeError("LocalStackServer already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        python = self.python()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # Its own environment: no credentials, no PYTHONPATH of ours, no AWS_* settings.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV", "LOCALSTACK_"))}
        env.update({
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "SERVICES": ",".join(self.services),
            "OVERRIDE_IN_DOCKER": "0",  # this sandbox looks like a container to it
            "FILESYSTEM_ROOT": str(self.workdir / "filesystem"),
            "HARNESS_S3_STORAGE": str(self.workdir / "s3-storage"),
            "HARNESS_BIND_HOST": self._bind_host,
            "HARNESS_PARENT_PID": str(os.getpid()),
            "DISABLE_EVENTS": "1",  # no analytics
            "SKIP_SSL_CERT_DOWNLOAD": "1",  # no call to api.localstack.cloud
            "DNS_ADDRESS": "0",  # no DNS server (it would bind port 53)
            "GATEWAY_SERVER": "twisted",  # the server the launcher keeps on loopback
        })
        t0 = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(python), str(_LAUNCHER)], cwd=self.workdir, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        self.health = self._wait_healthy(t0 + self.start_timeout)
        self.start_seconds = time.perf_counter() - t0
        exposed = off_loopback(self.proc.pid)
        if exposed:
            raise RuntimeError(f"LocalStack (pid {self.proc.pid}) listens off loopback: "
                               f"{exposed}; refusing to use it")

    def _wait_healthy(self, deadline: float) -> dict[str, Any]:
        assert self.proc is not None
        delay = 0.05
        last = "no answer yet"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"LocalStack exited with code {self.proc.returncode} before it was healthy "
                    f"(log {self.log_path}):\n{_tail(self.log_path)}")
            try:
                return read_health(self.url, timeout=2.0)
            except BackendUnavailable as exc:
                last = str(exc)
            if time.perf_counter() >= deadline:
                raise TimeoutError(
                    f"LocalStack did not become healthy within {self.start_timeout:.0f} s "
                    f"(expected {_HEALTH} to answer 200; last: {last}). Log tail "
                    f"({self.log_path}):\n{_tail(self.log_path)}\nHint: a slow first start "
                    "compiles LocalStack's modules; raise start_timeout.")
            time.sleep(delay)  # polling with a bound: no event to wait on across processes
            delay = min(delay * 1.5, 0.25)

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after `stop_timeout` (its state is thrown away,
        and its own shutdown can take 15 s); idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # anything it left in its group

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _DockerLocalStack:
    """testcontainers' LocalStack module, image pinned, published on 127.0.0.1 only."""

    def __init__(self, *, image: str = DOCKER_IMAGE, services: tuple[str, ...] = SERVICES,
                 region: str = "us-east-1") -> None:  # fmt: skip
        self.image = image
        self.services = services
        self.region = region
        self.container: Any = None

    def start(self) -> str:
        token = os.environ.get("LOCALSTACK_AUTH_TOKEN")
        if image_needs_token(self.image) and not token:
            raise BackendUnavailable(f"{self.image} needs LOCALSTACK_AUTH_TOKEN, which is not set "
                                     "(LocalStack images after 4.14.0 require a token)")
        try:
            from testcontainers.community.localstack import LocalStackContainer
        except ImportError as exc:
            raise BackendUnavailable(f"testcontainers is not installed: {exc}") from exc
        try:
            container = LocalStackContainer(image=self.image, region_name=self.region)
        except Exception as exc:  # docker.errors.DockerException: no engine to talk to
            raise BackendUnavailable(f"no Docker engine: {exc}") from exc
        container.with_services(*self.services)
        # Loopback only: docker-py takes (host_ip, port); testcontainers' hint omits the tuple.
        container.with_bind_ports(container.edge_port, ("127.0.0.1", None))  # type: ignore[arg-type]
        if token:
            container.with_env("LOCALSTACK_AUTH_TOKEN", token)
        self.container = container
        container.start()
        return str(container.get_url())

    def stop(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            container.stop()


class LocalStackBackend(Backend):
    """S3/IAM/STS/Logs from LocalStack; EMR from LocalStack if it serves EMR, else from the
    harness's EMR runtime beside it (then `faults` can be injected, as with the embedded one).

    Args (keyword-only):
        workdir: LocalStack's state, the EMR runtime's staging mirror and step logs (a temporary
            directory, removed on stop, when None).
        url: use the LocalStack-compatible endpoint at this URL instead of starting one.
        docker: start LocalStack in Docker (testcontainers, pinned image) instead of on the host.
        install: create LocalStack's virtual environment if it is missing (host mode).
        executor: how the EMR runtime runs step commands (default: local subprocesses).
        emr: "auto" (LocalStack's when its health says so), "localstack" or "harness".
        start_timeout: seconds LocalStack gets to become healthy (host mode).
        emulator_options: more `EmulatedAWS` options for the EMR runtime (delays ...).
    """

    name = "localstack"

    def __init__(self, *, region: str = "us-east-1", run_id: str | None = None,
                 workdir: str | Path | None = None, url: str | None = None,
                 docker: bool = False, install: bool = False,
                 executor: StepExecutor | None = None, emr: str = "auto",
                 start_timeout: float = 120.0, **emulator_options: Any) -> None:  # fmt: skip
        super().__init__(region=region, run_id=run_id)
        if emr not in ("auto", "localstack", "harness"):
            raise ValueError(f"emr must be 'auto', 'localstack' or 'harness', not {emr!r}")
        if url and docker:
            raise ValueError("give either url= or docker=True, not both")
        if url and not is_loopback_url(url):
            raise ValueError(f"the LocalStack URL must be a loopback address, not {url!r}: "
                             "offline runs only talk to loopback endpoints")
        self.mode = "url" if url else "docker" if docker else "host"
        self._url_arg = url.rstrip("/") if url else None
        self._workdir_arg = Path(workdir).resolve() if workdir is not None else None
        self.install = install
        self.executor = executor
        self.emr_source = emr
        self.start_timeout = start_timeout
        self._emulator_options = emulator_options
        self.workdir: Path | None = None
        self._own_workdir = False
        self.server: LocalStackServer | None = None
        self._docker: _DockerLocalStack | None = None
        self.emulator: Any = None  # EmulatedAWS serving EMR, when LocalStack does not
        self._guard: EndpointGuard | None = None
        self._session: Any = None
        self._session_lock = threading.Lock()  # clients are made from several threads
        self.url: str | None = None  # LocalStack's
        self.health: dict[str, Any] = {}
        self.start_seconds: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        if self.url is not None:
            raise RuntimeError("LocalStackBackend already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._workdir_arg is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"localstack-{self.run_id}-"))
            self._own_workdir = True
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        if self.mode == "url":
            assert self._url_arg is not None
            self.url = self._url_arg
            self.health = read_health(self.url)
        elif self.mode == "docker":
            self._docker = _DockerLocalStack(region=self.region)
            self.url = self._docker.start()
            self.health = read_health(self.url)
        else:
            self.server = LocalStackServer(workdir=self.workdir / "localstack",
                                           install=self.install,
                                           start_timeout=self.start_timeout)
            self.server.start()
            self.url, self.health = self.server.url, self.server.health
            self.start_seconds = self.server.start_seconds
        missing = [s for s in SERVICES if s not in served_services(self.health)]
        if missing:
            raise BackendUnavailable(f"LocalStack at {self.url} does not serve {missing}: "
                                     f"health says {self.health['services']}")
        self._guard = EndpointGuard().install()
        if self._emr_from_localstack():
            return
        from harness.endpoint import EmulatedAWS

        self.emulator = EmulatedAWS(
            region=self.region, workdir=self.workdir / "emr", executor=self.executor,
            guard=False, s3_endpoint_url=self.url, **self._emulator_options,
        ).start()
        self.faults = self.emulator.faults

    def _emr_from_localstack(self) -> bool:
        serves = "emr" in served_services(self.health)
        if self.emr_source == "localstack" and not serves:
            raise BackendUnavailable(
                f"LocalStack at {self.url} does not serve EMR (health: "
                f"{self.health['services'].get('emr', 'not listed')}); EMR is in LocalStack's "
                "paid tier")
        return self.emr_source == "localstack" or (self.emr_source == "auto" and serves)

    def stop(self) -> None:
        """Stop the EMR runtime, LocalStack (if started here), the guard; remove a temp workdir."""
        errors: list[BaseException] = []
        for part in (self._stop_emulator, self._stop_localstack, self._uninstall_guard,
                     self._remove_workdir):
            try:
                part()
            except Exception as exc:  # every part runs; the first error is raised after
                errors.append(exc)
        self.url = None
        self.faults = None
        if errors:
            raise errors[0]

    def _stop_emulator(self) -> None:
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()

    def _stop_localstack(self) -> None:
        server, docker = self.server, self._docker
        self.server = self._docker = None
        if server is not None:
            server.stop()
        if docker is not None:
            docker.stop()

    def _uninstall_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.uninstall()

    def _remove_workdir(self) -> None:
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir, self._own_workdir = None, False

    # -- where AWS is ----------------------------------------------------------------------
    def _started_url(self) -> str:
        if self.url is None:
            raise RuntimeError("LocalStackBackend is not started: use `with LocalStackBackend():`")
        return self.url

    def endpoints(self) -> dict[str, str]:
        url = self._started_url()
        services = dict.fromkeys(SERVICES, url)
        if self.emulator is not None:
            services["emr"] = self.emulator.url
        return services

    def default_endpoint(self) -> str | None:
        return self._started_url()

    def client(self, service: str, **kwargs: Any) -> Any:
        params = {
            "endpoint_url": self.endpoint_for(service),
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

    # -- optional abilities ----------------------------------------------------------------
    def step_stderr_tail(self, cluster_id: str, step_id: str, lines: int = 20) -> str | None:
        if self.emulator is None:
            return None
        return self.emulator.step_stderr_tail(cluster_id, step_id, lines)

    def step_dir(self, cluster_id: str, step_id: str) -> Path:
        """Local folder with the step's logs (the harness's EMR runtime only)."""
        if self.emulator is None:
            raise RuntimeError("EMR is LocalStack's: its step logs are in its own S3 log URI")
        return self.emulator.step_dir(cluster_id, step_id)

    def version(self) -> str:
        return str(self.health.get("version", "unknown"))

    def describe(self) -> str:
        emr = (f"EMR from the harness's runtime at {self.emulator.url}"
               if self.emulator is not None else "EMR from LocalStack")
        how = {"host": "started on this host", "url": "given by URL",
               "docker": "in Docker"}[self.mode]
        took = f", healthy in {self.start_seconds:.1f} s" if self.start_seconds else ""
        return (f"LocalStack {self.version()} at {self.url} ({how}{took}; serves "
                f"{', '.join(served_services(self.health)) or 'nothing yet'}); {emr}")
