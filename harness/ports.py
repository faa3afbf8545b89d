"""Loopback ports for the servers the harness starts (they listen on 127.0.0.1 only)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the OS picks it; closed again at
    once, so a server can bind it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
