"""Stack components on their own: PostgreSQL as an unprivileged user on loopback only, and a
failed start-up that cleans up everything it started."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from harness.stack.postgres import PostgresServer, find_postgres_bin
from harness.stack.processes import marked_processes, stop_group

from .conftest import _cli

pytestmark = pytest.mark.stack


def _listening(pid_port: int) -> list[str]:
    """Local addresses listening on `pid_port` (IPv4 and IPv6)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == pid_port:
                out.append(addr)
    return out


@pytest.mark.skipif(find_postgres_bin() is None, reason="no PostgreSQL server binaries")
def test_postgres_runs_unprivileged_on_loopback(tmp_path: Path) -> None:
    server = PostgresServer(folder=tmp_path / "pg")
    child = server.start(dict(os.environ))
    try:
        status = Path(f"/proc/{child.pid}/status").read_text()
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        if os.geteuid() == 0:
            assert uid != 0, "postgres runs as root"
        assert _listening(server.port) == ["0100007F"]  # 127.0.0.1 only
        import psycopg2

        with psycopg2.connect(server.url.replace("postgresql+psycopg2", "postgresql")) as conn:
            with conn.cursor() as cur:
                cur.execute("select current_database()")
                assert cur.fetchone()[0] == "airflow"
    finally:
        assert stop_group(child.pid, reap=child.popen.poll)


def test_failed_start_up_leaves_nothing_running(tmp_path: Path) -> None:
    # The UI port is taken: the api-server cannot bind, start-up fails with its log's tail.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state_dir = tmp_path / "state"
        up = _cli(state_dir, "up", "--port", str(port), timeout=1200)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "api-server" in up.stderr, up.stderr
    state = json.loads((state_dir / "state.json").read_text())
    assert state["status"] == "failed"
    roots = [state["supervisor_pid"]] + [p["pid"] for p in state["processes"]]
    assert marked_processes(state["stack_id"], roots) == []
