"""Start LocalStack's runtime bound to loopback only; run by LocalStack's own python as a script.

    <localstack-venv>/bin/python _localstack_launcher.py

LocalStack 4.13 ignores the host part of GATEWAY_LISTEN (its twisted server listens on every
interface). Before the runtime starts, every TCP listen of twisted's reactor in this process is
forced onto HARNESS_BIND_HOST (default 127.0.0.1). The harness checks the result anyway
(`harness.backends.sockets`). Also, before anything else:

- the process dies with its parent (PR_SET_PDEATHSIG, HARNESS_PARENT_PID checked after): a
  LocalStack started by the harness never outlives it;
- S3 object storage goes to HARNESS_S3_STORAGE instead of /tmp/localstack-s3-storage.

Standard library, twisted and localstack only: this file runs in LocalStack's environment,
where `harness` is not installed.
"""

import ctypes
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
# This file's folder holds the harness's own `localstack.py`: it must not shadow the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _die_with_parent() -> None:
    parent = os.environ.get("HARNESS_PARENT_PID")
    if not parent:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit("harness: the process that started LocalStack is gone")


def _force_bind_host(host: str) -> None:
    from twisted.internet import reactor

    listen_tcp = reactor.listenTCP

    def listen_on_host(port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        if interface in ("", "0.0.0.0", "::"):
            interface = host
        return listen_tcp(port, factory, backlog=backlog, interface=interface)

    reactor.listenTCP = listen_on_host


def _redirect_s3_storage(path: str) -> None:
    from localstack.services.s3 import provider

    provider.DEFAULT_S3_TMP_DIR = path  # read when the S3 provider is created, on first use


def main() -> None:
    _die_with_parent()
    _force_bind_host(os.environ.get("HARNESS_BIND_HOST", "127.0.0.1"))
    storage = os.environ.get("HARNESS_S3_STORAGE")
    if storage:
        _redirect_s3_storage(storage)
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
