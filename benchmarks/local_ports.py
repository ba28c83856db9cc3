"""Loopback ports for the servers benchmarks and tests start on this machine."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port nothing listens on at the moment (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
