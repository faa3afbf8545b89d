"""Endpoint guard: while an offline backend is in use, no AWS call may leave the machine.

Installed (as a context manager) it

- makes every botocore request aimed at a non-loopback host fail loudly with
  `OffLoopbackCallError` *before* anything is sent (sync botocore and, when present,
  aiobotocore, which Airflow's deferrable sensors use);
- replaces real credentials in the environment with dummy ones, removes profiles and
  service-specific endpoints (`AWS_ENDPOINT_URL_<SERVICE>`) and hides the user's `~/.aws`
  config and credentials files, so nothing can sign a request for a real account.

Child processes get the same through `harness.offline_env` (their environment) and
`install_import_hook` (run by the harness's sitecustomize before any user code).

Everything is restored on exit, so it does not leak between tests.

    with EndpointGuard():
        boto3.client("s3", region_name="us-east-1").list_buckets()   # raises OffLoopbackCallError
"""

from __future__ import annotations

import importlib.abc
import ipaddress
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DUMMY_CREDENTIALS",
    "EndpointGuard",
    "OffLoopbackCallError",
    "SCRUBBED_CREDENTIAL_VARS",
    "install_import_hook",
    "is_loopback_url",
]

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

#: Environment variables that could point a client at real credentials.
SCRUBBED_CREDENTIAL_VARS = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


class OffLoopbackCallError(RuntimeError):
    """An AWS client tried to reach a non-loopback endpoint while the offline guard is on."""


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(url: str, what: str) -> None:
    raise OffLoopbackCallError(
        f"offline guard: refused {what} to {url!r} - only loopback endpoints are allowed while "
        "the emulated AWS backend is active. Point the client at the emulator "
        "(AWS_ENDPOINT_URL / endpoint_url=aws.url) or run without the offline guard."
    )


_lock = threading.Lock()
_depth = 0
_restore: list[Callable[[], None]] = []


class EndpointGuard:
    """Context manager installing the guard (re-entrant: nested guards share one install)."""

    def __init__(self, *, scrub_credentials: bool = True) -> None:
        self.scrub_credentials = scrub_credentials
        self._env_backup: dict[str, str | None] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._installed = False

    # -- lifecycle -------------------------------------------------------------------------
    def install(self) -> EndpointGuard:
        global _depth
        with _lock:
            if self._installed:
                raise RuntimeError("this EndpointGuard is already installed")
            if _depth == 0:
                _patch_botocore()
            _depth += 1
            self._installed = True
        if self.scrub_credentials:
            self._scrub_env()
        return self

    def uninstall(self) -> None:
        """Undo this guard's install; a no-op if this instance is not installed (so a failed
        start can always call it without touching another guard's patch)."""
        global _depth
        with _lock:
            if not self._installed:
                return
            self._installed = False
            _depth = max(_depth - 1, 0)
            if _depth == 0:
                while _restore:
                    _restore.pop()()
        self._restore_env()

    def __enter__(self) -> EndpointGuard:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    @property
    def installed(self) -> bool:
        """Whether this instance is installed (and not yet uninstalled)."""
        return self._installed

    @staticmethod
    def active() -> bool:
        """Whether any guard is installed in this process."""
        return _depth > 0

    # -- environment -------------------------------------------------------------------------
    def _scrub_env(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="aws-guard-")
        empty = os.path.join(self._tmp.name, "empty")
        open(empty, "w").close()
        wanted: dict[str, str | None] = {
            **DUMMY_CREDENTIALS,
            **{k: None for k in SCRUBBED_CREDENTIAL_VARS},
            # A service-specific endpoint would win over the emulator's AWS_ENDPOINT_URL.
            **{k: None for k in list(os.environ) if k.startswith("AWS_ENDPOINT_URL_")},
            "AWS_CONFIG_FILE": empty,
            "AWS_SHARED_CREDENTIALS_FILE": empty,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for key, value in wanted.items():
            self._env_backup[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._env_backup.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    original = owner.__dict__[name]
    setattr(owner, name, make(original))
    _restore.append(lambda: setattr(owner, name, original))


def _guarded_sync_send(original: Callable) -> Callable:
    def _send(self: Any, request: Any) -> Any:
        if not is_loopback_url(request.url):
            _refuse(request.url, "a request")
        return original(self, request)

    return _send


def _guarded_async_send(original: Callable) -> Callable:
    async def _send(self: Any, request: Any) -> Any:
        if not is_loopback_url(request.url):
            _refuse(request.url, "an async request")
        return await original(self, request)

    return _send


def _patch_botocore() -> None:
    """Check the URL of every request at the moment it is sent (after endpoint resolution,
    so `endpoint_url=`, AWS_ENDPOINT_URL, config files and virtual-host S3 are all covered)."""
    from botocore.endpoint import Endpoint

    _patch(Endpoint, "_send", _guarded_sync_send)

    import importlib.util

    if importlib.util.find_spec("aiobotocore") is not None:
        from aiobotocore.endpoint import AioEndpoint

        if "_send" in AioEndpoint.__dict__:
            _patch(AioEndpoint, "_send", _guarded_async_send)


# -- child processes ----------------------------------------------------------------------------
#: module name -> (class name, wrapper) patched for good when a child process imports it.
_CHILD_PATCHES: dict[str, tuple[str, Callable[[Callable], Callable]]] = {
    "botocore.endpoint": ("Endpoint", _guarded_sync_send),
    "aiobotocore.endpoint": ("AioEndpoint", _guarded_async_send),
}


def _patch_for_good(module: Any) -> None:
    cls_name, wrap = _CHILD_PATCHES[module.__name__]
    cls = getattr(module, cls_name, None)
    if cls is None or "_send" not in cls.__dict__ or cls.__dict__.get("_harness_guarded"):
        return
    cls._send = wrap(cls.__dict__["_send"])
    cls._harness_guarded = True


class _GuardingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        _patch_for_good(module)


class _GuardingFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of botocore.endpoint / aiobotocore.endpoint: the class is patched
    right after its module runs, before anything can use it."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _CHILD_PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _GuardingLoader(spec.loader)
                return spec
        return None


def install_import_hook() -> None:
    """Install the guard for the rest of this process's life, lazily: botocore and aiobotocore
    are patched when (and if) they are imported, so a child that never uses them pays nothing.
    Used by the harness's sitecustomize in child processes of an offline run; never undone."""
    if any(isinstance(f, _GuardingFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _GuardingFinder())
    for name in _CHILD_PATCHES:  # already imported (e.g. by an earlier sitecustomize)
        module = sys.modules.get(name)
        if module is not None:
            _patch_for_good(module)
