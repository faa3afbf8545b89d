"""The stack's embedded AWS backend: the emulator in a child process, with a fault channel.

The Airflow processes of the stack reach the emulator over HTTP, so it runs as a process of its
own (`python -m harness.stack.emulator`), like `python -m harness serve`, plus a small admin
HTTP server on another 127.0.0.1 port through which tests arm faults (a failing or hanging step
...) in the running emulator and list its active clusters. It writes one JSON ready line to its
ready file: {"url", "admin_url", "workdir"}.

`EmulatorProcess` is the parent's side: a `harness.backends.base.Backend` whose endpoint is that
child, so the stack takes its Airflow connection from a backend as it would from LocalStack's.
Imports no Airflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from harness.backends.base import Backend

__all__ = ["EmulatorFaults", "EmulatorProcess"]

DUMMY_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# ----------------------------------------------------------------------------- child side


def _admin_handler(aws: Any) -> type[BaseHTTPRequestHandler]:
    faults = aws.faults

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/clusters/active":
                self._reply(200, aws.active_clusters())
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/faults/fail_step":
                    faults.fail_step(body["step"], message=body.get("message",
                                                                    "Injected step failure"))
                elif self.path == "/faults/hang_step":
                    faults.hang_step(body["step"])
                elif self.path == "/faults/clear":
                    faults.clear()
                else:
                    self._reply(404, {"error": f"no route {self.path}"})
                    return
            except (KeyError, ValueError, TypeError) as e:
                self._reply(400, {"error": f"bad request for {self.path}: {e}"})
                return
            self._reply(200, {"ok": True})

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


def _relay(listen_port: int, target_port: int, stop: threading.Event) -> None:
    """Inside a container only: accept on every interface of the container and pipe each
    connection to the emulator on 127.0.0.1 (which never binds anything else)."""
    server = socket.create_server(("0.0.0.0", listen_port), reuse_port=False)
    server.settimeout(0.5)

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept_loop() -> None:
        with server:
            while not stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(("127.0.0.1", target_port))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=accept_loop, name="relay", daemon=True).start()


def _serve(args: argparse.Namespace) -> int:
    from harness.endpoint import EmulatedAWS

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    options: dict[str, Any] = {}
    if args.s3_endpoint_url:
        # Steps read and write S3 elsewhere (LocalStack in the compose overlay): that endpoint is
        # another container, so the loopback-only guard cannot apply in this process.
        options = {"s3_endpoint_url": args.s3_endpoint_url, "guard": False}
    with EmulatedAWS(region=args.region, port=args.port, workdir=args.workdir, **options) as aws:
        if args.container_port:
            _relay(args.container_port, aws.port, stop)
        admin = ThreadingHTTPServer(("127.0.0.1", 0), _admin_handler(aws))
        thread = threading.Thread(target=admin.serve_forever, name="admin", daemon=True)
        thread.start()
        try:
            ready = {"url": aws.url, "admin_url": f"http://127.0.0.1:{admin.server_port}",
                     "workdir": str(aws.workdir)}
            partial = Path(args.ready_file + ".partial")
            partial.write_text(json.dumps(ready))
            os.replace(partial, args.ready_file)
            print(f"emulated AWS ready: {json.dumps(ready)}", flush=True)
            from harness.processes import wait_for

            wait_for(stop)  # not stop.wait(): a signal may land in another thread
        finally:
            admin.shutdown()
            admin.server_close()
    print("emulated AWS stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.stack.emulator")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--s3-endpoint-url", default=None,
                   help="S3 the steps use (default: the emulator's own)")
    p.add_argument("--container-port", type=int, default=None,
                   help="in a container only: also accept on this port on every interface")
    return _serve(p.parse_args(argv))


# ---------------------------------------------------------------------------- parent side


class EmulatorFaults:
    """Arms faults in the emulator child through its admin route (same names as `Faults`)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _post(self, route: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(
            self.admin_url + route, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def fail_step(self, step: str | int, *, message: str = "Injected step failure") -> Self:
        self._post("/faults/fail_step", {"step": step, "message": message})
        return self

    def hang_step(self, step: str | int) -> Self:
        self._post("/faults/hang_step", {"step": step})
        return self

    def clear(self) -> None:
        self._post("/faults/clear", {})


class EmulatorProcess(Backend):
    """The embedded backend as seen from the stack: a child emulator it reaches over HTTP.

    It is started by the stack's supervisor (which owns the process); this class only reads the
    ready file and offers endpoints, clients, the connection extra and the fault channel.
    """

    name = "embedded"

    def __init__(self, *, ready: dict[str, str], region: str = "us-east-1") -> None:
        super().__init__(region=region)
        self.url = ready["url"]
        self.admin_url = ready["admin_url"]
        self.workdir = Path(ready["workdir"])
        self.faults = EmulatorFaults(self.admin_url)

    def start(self) -> Self:
        return self

    def stop(self) -> None:
        pass

    def endpoints(self) -> dict[str, str]:
        return {}

    def default_endpoint(self) -> str | None:
        return self.url

    def client(self, service: str, **kwargs: Any) -> Any:
        import boto3

        # types-boto3 types client() for literal service names only; this one is any name.
        return boto3.client(service, endpoint_url=self.url,  # type: ignore[call-overload]
                            region_name=self.region, **{**DUMMY_KEYS, **kwargs})

    def active_clusters(self) -> list[str]:
        with urllib.request.urlopen(self.admin_url + "/clusters/active", timeout=10) as resp:
            return list(json.loads(resp.read()))

    def step_stderr_tail(self, cluster_id: str, step_id: str, lines: int = 20) -> str | None:
        path = self.workdir / "logs" / cluster_id / "steps" / step_id / "stderr"
        if not path.exists():
            return None
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def describe(self) -> str:
        return f"embedded emulator at {self.url} ({self.region})"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
