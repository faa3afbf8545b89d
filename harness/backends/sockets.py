"""Which addresses a process (and its descendants) listens on, read from Linux's /proc.

Used to prove that a server the harness started binds loopback only, whatever the server's own
configuration claims (LocalStack ignores the host part of GATEWAY_LISTEN).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

__all__ = ["listening_addresses", "off_loopback"]

_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces and ")"
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            names = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for name in names:
            try:
                target = os.readlink(fd_dir / name)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _address(hex_addr: str) -> tuple[str, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    # /proc/net prints the address as host-order 32-bit words.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port, 16)


def listening_addresses(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP socket and bound UDP socket of `pid`
    and its descendants."""
    inodes = _socket_inodes(_descendants(pid))
    found = []
    for proto, state in (("tcp", _TCP_LISTEN), ("tcp6", _TCP_LISTEN),
                         ("udp", _UDP_UNCONNECTED), ("udp6", _UDP_UNCONNECTED)):
        try:
            lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state and fields[9] in inodes:
                host, port = _address(fields[1])
                found.append((proto, host, port))
    return sorted(set(found))


def off_loopback(pid: int) -> list[tuple[str, str, int]]:
    """The listening sockets of `pid` (and descendants) not bound to a loopback address."""
    return [(p, h, port) for p, h, port in listening_addresses(pid)
            if not ipaddress.ip_address(h).is_loopback]
