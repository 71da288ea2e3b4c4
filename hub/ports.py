"""Free loopback ports, for the hub's own servers started side by side (the federation
scenario, the tests' throwaway services)."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports. The probes stay bound until all are chosen: probing
    one at a time, the OS may hand the same just-released port out twice."""
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            probes.append(sock)
        return [int(sock.getsockname()[1]) for sock in probes]
    finally:
        for sock in probes:
            sock.close()
