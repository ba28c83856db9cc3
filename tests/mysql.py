"""The MariaDB server the MySQL tests use (tests/services/start_mariadb.sh), started on first use.

``$CYCLECAST_TEST_MYSQL`` names a running server (``mysql://cyclecast@127.0.0.1:3306``) and
``$CYCLECAST_TEST_MYSQL_PASSWORD`` its password. When they are unset, the first test that needs
the server starts it with the script (as root with apt-get, as in CI) and sets both for the rest
of the session and its subprocesses. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.services.debian import can_install

URL_ENV = "CYCLECAST_TEST_MYSQL"
PASSWORD_ENV = "CYCLECAST_TEST_MYSQL_PASSWORD"
PORT_ENV = "CYCLECAST_TEST_MYSQL_PORT"
START_SCRIPT = Path(__file__).parent / "services" / "start_mariadb.sh"


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


def running_server() -> MysqlServer:
    """The server the environment names, else one started now; a failure saying how to get one."""
    if not (os.environ.get(URL_ENV) and os.environ.get(PASSWORD_ENV)) and can_install():
        start_server()
    return server_from_environment()


def start_server() -> None:
    """Start MariaDB with tests/services/start_mariadb.sh and name it in the environment."""
    done = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        pytest.fail(f"starting MariaDB ({START_SCRIPT}) failed:\n{done.stderr[-2000:]}",
                    pytrace=False)
    os.environ[URL_ENV] = f"mysql://cyclecast@127.0.0.1:{os.environ.get(PORT_ENV, '3306')}"
    os.environ[PASSWORD_ENV] = done.stdout.strip().splitlines()[-1]


def server_from_environment() -> MysqlServer:
    """The server the environment names; a failure that says how to get one when it is missing."""
    url, password = os.environ.get(URL_ENV), os.environ.get(PASSWORD_ENV)
    if not url or not password:
        pytest.fail(
            f"${URL_ENV} and ${PASSWORD_ENV} are not set and MariaDB can't be installed here "
            "(needs root and apt-get): run tests/services/start_mariadb.sh as root and export "
            "both (the script prints the password)", pytrace=False,
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
