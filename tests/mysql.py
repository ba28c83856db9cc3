"""The MariaDB server ``./dev test`` starts (tests/services/start_mariadb.sh), for the MySQL tests.

``$CYCLECAST_TEST_MYSQL`` is ``mysql://cyclecast@127.0.0.1:3306`` and the password is in
``$CYCLECAST_TEST_MYSQL_PASSWORD``. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

URL_ENV = "CYCLECAST_TEST_MYSQL"
PASSWORD_ENV = "CYCLECAST_TEST_MYSQL_PASSWORD"


@dataclass(frozen=True)
class MysqlServer:
    """Where the test server listens and who the tests connect as."""

    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        """``mysql://user@host:port/database``, the form cyclecast's ``--metadata`` takes."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None):
        """A PyMySQL connection (autocommit) as the test user."""
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=database, autocommit=True,
        )


def server_from_environment() -> MysqlServer:
    """The server ``./dev test`` started; a failure that says how to get one when it is missing."""
    url, password = os.environ.get(URL_ENV), os.environ.get(PASSWORD_ENV)
    if not url or not password:
        pytest.fail(
            f"${URL_ENV} and ${PASSWORD_ENV} are not set: run the tests with ./dev test, which "
            "starts MariaDB (tests/services/start_mariadb.sh, as root)"
        )
    parts = urlsplit(url)
    return MysqlServer(parts.hostname or "127.0.0.1", parts.port or 3306,
                       parts.username or "cyclecast", password)


def new_database(server: MysqlServer) -> str:
    """Create an empty database the test user owns and return its name."""
    name = f"cyclecast_{uuid.uuid4().hex[:12]}"
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    return name


def drop_database(server: MysqlServer, name: str) -> None:
    """Drop a database ``new_database`` made."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
