"""The environment of every process the harness starts while offline (DAG worker, steps, the
Spark Connect server): one pure function, so what a child can see is decided in one place.

    files = OfflineFiles()                      # empty throw-away AWS config/credentials files
    env = offline_env(snapshot_environ(), endpoints=aws.env(), files=files)
    subprocess.Popen(argv, env=env)             # no real key, no profile, guard pre-installed
    files.cleanup()

What `offline_env` guarantees about the child's environment:

- AWS credentials are the dummy ones; every other ``AWS_*`` variable of the base environment
  (session tokens, profiles, role/web-identity/container credential settings, config file
  paths, ``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` ...) is
  removed; only the ``AWS_*`` variables in ``endpoints`` (the emulator's URL and region) are set.
- ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` point at empty throw-away files, so
  ``~/.aws`` is never read; the instance metadata service is disabled.
- ``PYTHONPATH`` starts with the folder holding the harness's ``sitecustomize.py`` and
  ``HARNESS_OFFLINE_GUARD=1`` is set: a Python child installs the off-loopback guard (botocore
  and aiobotocore) at interpreter start, before any user code (DAG file, task, step script).

Nothing here imports Airflow or botocore.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness.guard import DUMMY_CREDENTIALS, SCRUBBED_CREDENTIAL_VARS

__all__ = [
    "GUARD_FLAG",
    "SITECUSTOMIZE_DIR",
    "OfflineFiles",
    "offline_env",
    "snapshot_environ",
    "unsafe_offline_keys",
]

#: Set to "1" in a child's environment: its sitecustomize installs the off-loopback guard.
GUARD_FLAG = "HARNESS_OFFLINE_GUARD"
#: The folder prepended to a child's PYTHONPATH (holds only `sitecustomize.py`).
SITECUSTOMIZE_DIR = str(Path(__file__).resolve().parent / "_sitecustomize")

#: Non-secret AWS settings a child may keep from the base environment (retry behaviour).
_KEPT_AWS = frozenset({"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"})
#: Other variables that point an AWS SDK at credentials or configuration.
_DROPPED = frozenset({"BOTO_CONFIG", "BOTO_PATH", "AWS_CREDENTIAL_FILE"})


class OfflineFiles:
    """Empty AWS config and credentials files in a throw-away folder (removed by `cleanup`)."""

    def __init__(self, *, parent: str | os.PathLike[str] | None = None) -> None:
        self._dir: str | None = tempfile.mkdtemp(prefix="harness-aws-empty-", dir=parent)
        self.config = os.path.join(self._dir, "config")
        self.credentials = os.path.join(self._dir, "credentials")
        for path in (self.config, self.credentials):
            open(path, "w").close()

    def cleanup(self) -> None:
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> OfflineFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def offline_env(
    base: Mapping[str, str],
    *,
    endpoints: Mapping[str, str],
    files: OfflineFiles,
    guard: bool = True,
) -> dict[str, str]:
    """The environment for a child process of an offline run (pure; see the module docstring).

    Args:
        base: the environment to start from (a snapshot, never the live ``os.environ``).
        endpoints: what the child should use: ``AWS_ENDPOINT_URL``,
            ``AWS_ENDPOINT_URL_<SERVICE>``, region variables (anything non-``AWS_*`` is set too).
            Credentials in it are ignored: the child always gets the dummy ones.
        files: the empty config/credentials files the child's SDKs read instead of ``~/.aws``.
        guard: install the off-loopback guard in Python children (sitecustomize).
    """
    env = {
        k: v
        for k, v in base.items()
        if not (k.startswith("AWS_") and k not in _KEPT_AWS) and k not in _DROPPED
    }
    for key, value in endpoints.items():
        if key in DUMMY_CREDENTIALS or key == "AWS_SESSION_TOKEN":
            continue
        if key.startswith("AWS_") and not (
            key.startswith("AWS_ENDPOINT_URL") or key in ("AWS_DEFAULT_REGION", "AWS_REGION")
        ):
            continue  # e.g. a profile or a config file path: never from the caller
        env[key] = value
    env.update(DUMMY_CREDENTIALS)
    env["AWS_CONFIG_FILE"] = files.config
    env["AWS_SHARED_CREDENTIALS_FILE"] = files.credentials
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if guard:
        env[GUARD_FLAG] = "1"
        paths = [SITECUSTOMIZE_DIR, *(p for p in paths if p != SITECUSTOMIZE_DIR)]
    else:
        env.pop(GUARD_FLAG, None)
        paths = [p for p in paths if p != SITECUSTOMIZE_DIR]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    return env


def unsafe_offline_keys(environ: Mapping[str, str]) -> list[str]:
    """Variables of a live ``environ`` to drop before an offline run in this process: session
    tokens, profiles, role/container credential settings and service-specific endpoints (the
    config-file variables are the in-process guard's business: it points them at empty files)."""
    return [
        k
        for k in list(environ)
        if k in SCRUBBED_CREDENTIAL_VARS or k.startswith("AWS_ENDPOINT_URL_")
    ]


def snapshot_environ(attempts: int = 100) -> dict[str, str]:
    """A copy of ``os.environ`` that is never torn by a concurrent change.

    ``dict(os.environ)`` iterates the keys and then looks each one up: a thread adding or
    deleting a variable meanwhile (Airflow's in-process supervisor does, around every task)
    makes it raise ``KeyError`` or ``RuntimeError``. Take the snapshot once, when nothing else
    runs; the retries only make a rare collision harmless.
    """
    for _ in range(attempts - 1):
        try:
            return dict(os.environ)
        except (KeyError, RuntimeError):
            continue
    return dict(os.environ)
