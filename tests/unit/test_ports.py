"""free_port(): a loopback port nothing listens on, which a server can bind next."""

from __future__ import annotations

import socket

import pytest

from harness.ports import free_port


def test_a_free_port_refuses_connections_and_can_be_bound_on_loopback():
    port = free_port()
    assert 1024 <= port <= 65535
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))  # raises OSError if the port were held
        server.listen()
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
