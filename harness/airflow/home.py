"""A throw-away Airflow home for local DAG runs: SQLite, migrated once per Airflow version.

Nothing here touches the user's own Airflow home (``~/airflow`` or ``$AIRFLOW_HOME``): every run
gets a fresh directory, and the environment that points Airflow at it is built here as a plain
dict, so the caller decides where it goes (``os.environ`` before Airflow is imported, or a
subprocess's environment).

Migrating the metadata DB (``airflow db migrate``) costs ~6 s (3 s of it importing Airflow), so
it is done once, in a subprocess, into a cache keyed on the Airflow version
(``.harness/cache/airflow-<version>.db`` under the current directory, or ``$HARNESS_CACHE_DIR``),
and each home gets a copy of that file (a few milliseconds).

Airflow is never imported by this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path

__all__ = [
    "AirflowDbError",
    "airflow_version",
    "cache_dir",
    "migrated_db",
    "new_home",
    "airflow_env",
    "connection_env",
    "variables_env",
    "connections_env",
]

DEFAULT_CONN_ID = "aws_default"


#: A migration takes ~6 s on two cores; far beyond that, something is stuck.
MIGRATE_TIMEOUT_S = 300


class AirflowDbError(RuntimeError):
    """`airflow db migrate` failed while building the cached metadata DB (carries its output)."""


def airflow_version() -> str:
    """The installed apache-airflow version, read from package metadata (no import)."""
    return metadata.version("apache-airflow")


def cache_dir() -> Path:
    """Where the migrated DB is cached: ``$HARNESS_CACHE_DIR`` or ``./.harness/cache``."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or Path.cwd() / ".harness" / "cache")


def airflow_env(
    home: str | os.PathLike[str], dags_folder: str | os.PathLike[str]
) -> dict[str, str]:
    """The environment that makes Airflow use ``home`` (SQLite) and ``dags_folder``.

    Airflow reads most of these once, when it is imported: they must be in ``os.environ`` before
    the first ``import airflow`` of the process.
    """
    home = Path(home).resolve()
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).resolve()),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        # Local runs take `deferrable` from the harness (run_dag(deferrable=...)), not from here.
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "False",
        "AIRFLOW__SECRETS__USE_CACHE": "False",
    }


def connection_env(
    endpoint_url: str | None, *, region: str = "us-east-1", conn_id: str = DEFAULT_CONN_ID,
    extra: Mapping[str, object] | None = None, dummy_keys: bool = True,
    login: str = "testing", password: str = "testing",
) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` for an AWS connection aimed at ``endpoint_url`` with dummy keys.

    ``extra`` replaces the connection's extra (a backend's ``connection_extra()``: region,
    ``endpoint_url`` and per-service ``service_config``); ``login``/``password`` replace the
    dummy keys (an emulated IAM user's access key id and secret); ``dummy_keys=False`` leaves
    the keys out (real AWS: the default credential chain)."""
    conn: dict[str, object] = {"conn_type": "aws"}
    if dummy_keys:
        conn.update(login=login, password=password)
    conn["extra"] = dict(extra) if extra is not None else {
        "endpoint_url": endpoint_url, "region_name": region}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)}


def variables_env(variables: Mapping[str, object] | None) -> dict[str, str]:
    """``AIRFLOW_VAR_<NAME>`` for each Variable (dicts/lists as JSON, the rest as text)."""
    env = {}
    for name, value in (variables or {}).items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        env[f"AIRFLOW_VAR_{name.upper()}"] = text
    return env


def connections_env(connections: Mapping[str, str] | None) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` for each connection (a URI or a JSON object, as Airflow reads both)."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value
            for conn_id, value in (connections or {}).items()}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def migrated_db(cache: str | os.PathLike[str] | None = None) -> Path:
    """Path of a freshly migrated SQLite metadata DB for this Airflow version (built once).

    Safe across concurrent processes (file lock + atomic rename). The migration runs
    ``python -m airflow db migrate`` in a subprocess so this process's Airflow config (if any)
    is untouched.
    """
    root = Path(cache) if cache is not None else cache_dir()
    target = root / f"airflow-{airflow_version()}.db"
    if target.exists():
        return target
    with _locked(root / f"airflow-{airflow_version()}.lock"):
        if target.exists():  # another process built it while we waited
            return target
        with tempfile.TemporaryDirectory(prefix="harness-migrate-") as tmp:
            env = {**os.environ, **airflow_env(tmp, tmp)}
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "airflow", "db", "migrate"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=MIGRATE_TIMEOUT_S,  # we hold the cache lock: never wait forever
                )
            except subprocess.TimeoutExpired as exc:
                out = (exc.stdout or b"") + (exc.stderr or b"")
                tail = "\n".join(out.decode(errors="replace").splitlines()[-20:])
                raise AirflowDbError(
                    f"`airflow db migrate` did not finish in {MIGRATE_TIMEOUT_S} s while "
                    f"building the cached metadata DB {target}:\n{tail}"
                ) from None
            db = Path(tmp, "airflow.db")
            if proc.returncode != 0 or not db.exists():
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise AirflowDbError(
                    f"`airflow db migrate` failed (exit {proc.returncode}) while building the "
                    f"cached metadata DB {target}:\n{tail}"
                )
            partial = target.with_suffix(".db.partial")
            shutil.copyfile(db, partial)
            os.replace(partial, target)
    return target


def new_home(
    parent: str | os.PathLike[str] | None = None, *, cache: str | os.PathLike[str] | None = None
) -> Path:
    """A new throw-away AIRFLOW_HOME holding a copy of the migrated DB."""
    db = migrated_db(cache)
    home = Path(tempfile.mkdtemp(prefix="airflow-home-", dir=parent))
    shutil.copyfile(db, home / "airflow.db")
    (home / "logs").mkdir()
    return home
