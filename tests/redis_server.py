"""The Redis server the online-store tests use: Debian's ``redis-server``, started per session.

``$CYCLECAST_TEST_REDIS`` names a running server (``redis://127.0.0.1:6379/0``). When it is unset,
the first test that needs one starts ``redis-server`` on a free loopback port with a temporary
directory and no persistence (``benchmarks.redis_server.local_redis``; Debian's package is
installed first where possible, as root with apt-get, as in CI); it is stopped at the end of the
session. Each test gets the database emptied for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from benchmarks.redis_server import local_redis, redis_available
from tests.services.debian import apt_install, can_install

URL_ENV = "CYCLECAST_TEST_REDIS"


def redis_server() -> Iterator[str]:
    """The URL of a Redis server: the environment's, or one started now (stopped after)."""
    if os.environ.get(URL_ENV):
        yield os.environ[URL_ENV]
        return
    if not redis_available() and can_install():
        apt_install("redis-server")
    if not redis_available():
        pytest.fail("redis-server is missing and can't be installed here (needs root and "
                    "apt-get): install Debian's 'redis-server' package, or name a server in "
                    f"${URL_ENV}", pytrace=False)
    try:
        with local_redis() as url:
            yield url
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


def empty_database(url: str) -> str:
    """Empty the server's database for a test; return its URL."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
