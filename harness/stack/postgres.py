"""A throw-away PostgreSQL server for the stack's metadata DB, on 127.0.0.1 only.

PostgreSQL refuses to run as root, and sessions and CI run as root: then `initdb` and
`postgres` run as the unprivileged `nobody` user (credentials dropped in the child before exec),
with a data directory it owns. The unix socket lives in the server's own folder (never
/var/run/postgresql), TCP listens on 127.0.0.1 only, and logins need a generated password
(scram-sha-256).

    server = PostgresServer(folder=Path(".harness/stack/pg"), port=0)
    proc = server.start(env)          # a ChildProcess (see harness.stack.processes)
    server.url                        # postgresql+psycopg2://airflow:...@127.0.0.1:PORT/airflow
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from harness.ports import free_port
from harness.stack.processes import ChildProcess, StartupError, spawn, wait_until

if TYPE_CHECKING:
    import psycopg2.extensions

__all__ = ["PostgresServer", "find_postgres_bin"]

USER = "airflow"
DATABASE = "airflow"
#: initdb on a loaded two-core machine takes a few seconds; far beyond this it is stuck.
INITDB_TIMEOUT_S = 180
READY_TIMEOUT_S = 60


def find_postgres_bin() -> Path | None:
    """The folder holding `initdb` and `postgres` (the PATH first, then Debian's layout)."""
    for name in ("initdb",):
        found = shutil.which(name)
        if found and shutil.which("postgres"):
            return Path(os.path.realpath(found)).parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return debian[0].parent if debian else None


def _traversable_by(path: Path, uid: int) -> bool:
    # The server's user must reach its data dir: every ancestor needs o+x (we are not its owner).
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            return False
    return True


class _ServerUser(TypedDict, total=False):
    """subprocess.run's keywords that run initdb as the server's user (root cannot)."""

    user: int
    group: int
    extra_groups: list[int]


class PostgresServer:
    def __init__(self, *, folder: Path, port: int = 0) -> None:
        found = find_postgres_bin()
        if found is None:
            raise StartupError("PostgreSQL server binaries (initdb, postgres) are not installed")
        self.bin: Path = found
        self.port = port or free_port()
        self.password = secrets.token_urlsafe(18)
        self.uid: int | None = None
        self.gid: int | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses root: run it as nobody.
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        folder = folder.resolve()
        if self.uid is not None and not _traversable_by(folder.parent, self.uid):
            # The checkout is private to root (e.g. under /root): keep the data in /tmp.
            folder = Path(tempfile.mkdtemp(prefix="harness-stack-pg-"))
        self.folder = folder
        self.data = folder / "data"
        self.socket_dir = folder / "socket"

    @property
    def url(self) -> str:
        return (f"postgresql+psycopg2://{USER}:{self.password}@127.0.0.1:{self.port}/"
                f"{DATABASE}")

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)
        path.chmod(0o700)

    def _as_server_user(self) -> _ServerUser:
        return {} if self.uid is None else {"user": self.uid, "group": self.gid or 0,
                                             "extra_groups": []}

    def initdb(self, env: Mapping[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self._own(self.data)
        self._own(self.socket_dir)
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.uid is not None:
            os.chown(pwfile, self.uid, -1)
        pwfile.chmod(0o600)
        try:
            proc = subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                 "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
                 "--no-instructions"],
                env={**env, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
                cwd=self.folder, capture_output=True, text=True, timeout=INITDB_TIMEOUT_S,
                check=False, **self._as_server_user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise StartupError(f"initdb failed (exit {proc.returncode}):\n{tail}")

    def start(self, env: Mapping[str, str]) -> ChildProcess:
        self.initdb(env)
        child = spawn(
            "postgres",
            [str(self.bin / "postgres"), "-D", str(self.data),
             "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.socket_dir),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "logging_collector=off"],
            env={**env, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            log=self.folder / "postgres.log",
            cwd=self.folder,
            uid=self.uid,
            gid=self.gid,
        )
        try:
            self._wait_ready(child)
            self._create_database()
        except BaseException:
            from harness.stack.processes import stop_group

            stop_group(child.pid, reap=child.popen.poll)
            raise
        return child

    def _connect(self, dbname: str) -> psycopg2.extensions.connection:
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=USER,
                                password=self.password, dbname=dbname, connect_timeout=3)

    def _wait_ready(self, child: ChildProcess) -> None:
        def ready() -> bool:
            if child.popen.poll() is not None:
                raise StartupError(f"postgres exited with {child.popen.returncode}:\n"
                                   f"{child.tail()}")
            try:
                self._connect("postgres").close()
            except Exception:
                return False
            return True

        if not wait_until(ready, timeout=READY_TIMEOUT_S, interval=0.2):
            raise StartupError(f"postgres did not accept connections on 127.0.0.1:{self.port} "
                               f"within {READY_TIMEOUT_S} s:\n{child.tail()}")

    def _create_database(self) -> None:
        conn = self._connect("postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{USER}"')
        finally:
            conn.close()
