"""The Redis server the online-store tests use: Debian's ``redis-server``, started per session.

``$CYCLECAST_TEST_REDIS`` names a running server (``redis://127.0.0.1:6379/0``). When it is unset,
the first test that needs one starts ``redis-server`` on a free loopback port with a temporary
directory and no persistence (installing Debian's package first, as root with apt-get, as in
CI); it is stopped at the end of the session. Each test gets a database emptied for it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.services.debian import apt_install, can_install

URL_ENV = "CYCLECAST_TEST_REDIS"
START_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_server() -> Iterator[str]:
    """The URL of a Redis server: the environment's, or one started now (stopped after)."""
    if os.environ.get(URL_ENV):
        yield os.environ[URL_ENV]
        return
    if not shutil.which("redis-server") and can_install():
        apt_install("redis-server")
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is missing and can't be installed here (needs root and "
                    "apt-get): install Debian's 'redis-server' package, or name a server in "
                    f"${URL_ENV}", pytrace=False)
    port = _free_port()
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
                    output = server.stdout.read().decode(errors="replace") if server.stdout else ""
                    pytest.fail(f"redis-server did not start on port {port}:\n{output[-2000:]}",
                                pytrace=False)
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def empty_database(url: str) -> str:
    """Empty the server's database for a test; return its URL."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
