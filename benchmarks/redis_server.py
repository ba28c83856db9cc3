"""A throw-away ``redis-server`` on a free loopback port, no persistence: benchmarks and tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.local_ports import free_port

START_TIMEOUT_S = 20.0



def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_available() -> bool:
    """Whether a ``redis-server`` executable is on the PATH."""
    return shutil.which("redis-server") is not None


@contextmanager
def local_redis() -> Iterator[str]:
    """Start ``redis-server`` in a temporary directory; yield its URL; stop it afterwards.

    Raises ``RuntimeError`` with the server's output when it does not answer in time.
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (Debian's 'redis-server' package)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory(prefix="cyclecast-redis-") as work:
        server = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", work, "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _ping(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    output = server.stdout.read().decode(errors="replace")
                    raise RuntimeError(f"redis-server did not start on port {port}:\n"
                                       f"{output[-2000:]}")
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)
