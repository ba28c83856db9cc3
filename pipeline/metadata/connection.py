"""Where ML Metadata lives: a SQLite file, a MySQL/MariaDB database, or Kubeflow's gRPC service.

One string names the store, the same for every command that reads or writes run state:

- ``PATH`` or ``sqlite:///PATH``: the embedded default, a SQLite file (``.cyclecast/metadata.db``).
- ``mysql://USER@HOST:PORT/DATABASE``: the store Kubeflow Pipelines keeps in MySQL. The password
  comes from ``$CYCLECAST_METADATA_PASSWORD``, never from the address or a file in the repository.
  ``mysql://USER@/DATABASE?socket=/run/mysqld/mysqld.sock`` connects over a unix socket instead.
- ``grpc://HOST:PORT``: Kubeflow's ``metadata-grpc-service`` inside a cluster.

ML Metadata 1.16's MySQL client reports every failure to connect (a wrong password, nothing
listening, an authentication plugin it can't speak) as the same empty ``mysql_real_connect
failed``, and aborts the whole process when both a host and a socket are set. So before ML
Metadata sees a MySQL address, it is checked here, and a first login with PyMySQL says which of
those it is and what to check.

Only the standard library is imported at module level: ``--help`` and argument checks stay instant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

PASSWORD_ENV = "CYCLECAST_METADATA_PASSWORD"
MYSQL_DEFAULT_PORT = 3306
# How long a gRPC call may wait for Kubeflow's metadata service before it fails.
GRPC_TIMEOUT_S = 30


class MetadataAddressError(ValueError):
    """The metadata address is malformed; the message says what the form is."""


class MetadataConnectionError(RuntimeError):
    """The metadata store can't be reached or refuses us; the message says what to check."""


@dataclass(frozen=True)
class MetadataStoreAddress:
    """A parsed metadata address. The password is never part of it (see ``PASSWORD_ENV``)."""

    kind: str  # "sqlite", "mysql" or "grpc"
    path: str | None = None  # sqlite
    host: str | None = None  # mysql (TCP) and grpc
    port: int | None = None
    database: str | None = None  # mysql
    user: str | None = None  # mysql
    socket: str | None = None  # mysql over a unix socket

    def describe(self) -> str:
        """The address as a person reads it (no password)."""
        if self.kind == "sqlite":
            return f"SQLite file {self.path}"
        if self.kind == "grpc":
            return f"ML Metadata gRPC service at {self.host}:{self.port}"
        where = f"socket {self.socket}" if self.socket else f"{self.host}:{self.port}"
        return f"MySQL database {self.database!r} at {where} as {self.user!r}"

    @property
    def is_local_file(self) -> bool:
        """True for the embedded SQLite store (a file beside the work directory)."""
        return self.kind == "sqlite"


def parse_metadata_address(address: str) -> MetadataStoreAddress:
    """Parse a metadata address (see the module docstring); raise ``MetadataAddressError``."""
    if not address:
        raise MetadataAddressError("the metadata address is empty")
    if "://" not in address:
        return MetadataStoreAddress(kind="sqlite", path=address)
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if not path or path == "/":
            raise MetadataAddressError(f"{address!r}: sqlite:///PATH names a file")
        return MetadataStoreAddress(kind="sqlite", path=path)
    if scheme == "grpc":
        if not parts.hostname or parts.port is None:
            raise MetadataAddressError(f"{address!r}: the form is grpc://HOST:PORT")
        return MetadataStoreAddress(kind="grpc", host=parts.hostname, port=parts.port)
    if scheme == "mysql":
        return _parse_mysql(address, parts)
    raise MetadataAddressError(
        f"{address!r}: unknown scheme {parts.scheme!r}; use a SQLite path, "
        "mysql://USER@HOST:PORT/DATABASE or grpc://HOST:PORT"
    )


def _parse_mysql(address: str, parts) -> MetadataStoreAddress:
    form = "mysql://USER@HOST:PORT/DATABASE (or mysql://USER@/DATABASE?socket=PATH)"
    if parts.password is not None:
        raise MetadataAddressError(
            f"a password in the metadata address is refused (it would end up in shell history "
            f"and logs): put it in ${PASSWORD_ENV}"
        )
    if not parts.username:
        raise MetadataAddressError(f"{address!r}: no user; the form is {form}")
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise MetadataAddressError(f"{address!r}: no database name; the form is {form}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"socket"})
    if unknown:
        raise MetadataAddressError(f"{address!r}: unknown options {unknown}; only socket=PATH")
    socket = query.get("socket", [None])[0]
    try:
        port = parts.port
    except ValueError as e:
        raise MetadataAddressError(f"{address!r}: {e}") from None
    if socket and (parts.hostname or port is not None):
        # ML Metadata aborts the process (a failed CHECK, not an exception) when given both.
        raise MetadataAddressError(
            f"{address!r}: give a host and port or a socket, not both "
            "(ML Metadata would abort the process)"
        )
    if not socket and not parts.hostname:
        raise MetadataAddressError(f"{address!r}: no host; the form is {form}")
    return MetadataStoreAddress(
        kind="mysql",
        host=None if socket else parts.hostname,
        port=None if socket else (port or MYSQL_DEFAULT_PORT),
        database=unquote(database),
        user=unquote(parts.username),
        socket=socket,
    )


def recording_address(address: str) -> MetadataStoreAddress:
    """Parse the address of a store a local run records into: SQLite or MySQL, not gRPC.

    Kubeflow's gRPC metadata service is for reading the runs Kubeflow made; its pipelines record
    through Kubeflow itself.
    """
    parsed = parse_metadata_address(address)
    if parsed.kind == "grpc":
        raise MetadataAddressError(
            f"{address}: a local run records into SQLite or MySQL; grpc:// reads the store of "
            "runs Kubeflow made (runs, models, report)"
        )
    return parsed


def mysql_password(environ: dict[str, str] | None = None) -> str:
    """The MySQL password from ``$CYCLECAST_METADATA_PASSWORD`` (empty when unset)."""
    return (os.environ if environ is None else environ).get(PASSWORD_ENV, "")


def connection_config(address: MetadataStoreAddress, environ: dict[str, str] | None = None):
    """ML Metadata's configuration for the address, as ``MetadataStore`` and TFX's runners take it.

    A ``ConnectionConfig`` for SQLite and MySQL, a ``MetadataStoreClientConfig`` for gRPC.
    """
    from ml_metadata.proto import metadata_store_pb2

    if address.kind == "grpc":
        return metadata_store_pb2.MetadataStoreClientConfig(
            host=address.host, port=address.port, client_timeout_sec=GRPC_TIMEOUT_S
        )
    config = metadata_store_pb2.ConnectionConfig()
    if address.kind == "sqlite":
        config.sqlite.filename_uri = address.path
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        return config
    mysql = config.mysql
    if address.socket:
        mysql.socket = address.socket
    else:
        mysql.host, mysql.port = address.host, address.port
    mysql.database, mysql.user = address.database, address.user
    mysql.password = mysql_password(environ)
    return config


def open_store(address: str, must_exist: bool = True):
    """Open the ML Metadata store at ``address``; raise ``MetadataConnectionError`` if we can't.

    ``must_exist``: a SQLite file must already be there (reading commands); MySQL databases are
    created by ML Metadata when the user may create them.
    """
    from ml_metadata.metadata_store import metadata_store

    parsed = parse_metadata_address(address)
    if parsed.kind == "sqlite" and must_exist and not os.path.exists(parsed.path):
        raise FileNotFoundError(f"no ML Metadata store at {parsed.path}")
    if parsed.kind == "mysql":
        check_mysql_login(parsed)
    config = connection_config(parsed)
    try:
        return metadata_store.MetadataStore(config)
    except RuntimeError as e:  # MLMD's own error: often empty, so say what was tried
        raise MetadataConnectionError(_mlmd_failure(parsed, str(e))) from e


def _mlmd_failure(address: MetadataStoreAddress, error: str) -> str:
    hint = ""
    if address.kind == "mysql" and "mysql_real_connect failed" in error:
        hint = (
            f" PyMySQL logged in as {address.user!r} with the same address and password, so "
            "the server and the credentials are fine: ML Metadata's client speaks only the "
            "mysql_native_password authentication plugin. Check the account with "
            "SHOW CREATE USER, and ALTER USER ... IDENTIFIED WITH mysql_native_password."
        )
    reason = error.strip() or "no reason given"
    return f"ML Metadata could not open the {address.describe()}: {reason}.{hint}"


# PyMySQL / MySQL error codes that tell the connect failures apart.
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_UNKNOWN_DATABASE = 1049
_CANT_CONNECT = (2002, 2003, 2005, 2006, 2013)


def check_mysql_login(address: MetadataStoreAddress, environ: dict[str, str] | None = None) -> None:
    """Log in with PyMySQL first and say precisely what is wrong when that fails.

    A missing database is fine when the user may create it (ML Metadata then creates it).
    """
    mysql_login(address, environ).close()


def mysql_login(address: MetadataStoreAddress, environ: dict[str, str] | None = None):
    """An open PyMySQL session as the address's user, its database checked (see above).

    Raises ``MetadataConnectionError`` naming what failed; the caller closes the session.
    """
    import pymysql

    password = mysql_password(environ)
    where = f"socket {address.socket}" if address.socket else f"{address.host}:{address.port}"
    kwargs = {"unix_socket": address.socket} if address.socket else {
        "host": address.host, "port": address.port
    }
    try:
        conn = pymysql.connect(
            user=address.user, password=password, connect_timeout=10, **kwargs
        )
    except pymysql.err.OperationalError as e:
        code = e.args[0] if e.args else None
        if code == _ACCESS_DENIED:
            given = "with the password in $" + PASSWORD_ENV if password else (
                f"without a password (${PASSWORD_ENV} is not set)"
            )
            raise MetadataConnectionError(
                f"MySQL at {where} refused user {address.user!r} {given}: check the user name "
                f"and ${PASSWORD_ENV}, and that the account may log in from this host"
            ) from None
        if code in _CANT_CONNECT:
            raise MetadataConnectionError(
                f"no MySQL server answers at {where}: check the host and port, that the server "
                "is running and listens there, and any firewall between"
            ) from None
        raise MetadataConnectionError(f"MySQL at {where}: {e.args[-1]}") from None
    except (RuntimeError, NotImplementedError) as e:  # an auth plugin PyMySQL can't do either
        raise MetadataConnectionError(
            f"MySQL at {where}: user {address.user!r} authenticates with a plugin the clients "
            f"here can't speak ({e}); ML Metadata needs mysql_native_password"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (address.database,))
            if cur.fetchone() is None:
                _check_can_create(cur, address, where)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_can_create(cur, address: MetadataStoreAddress, where: str) -> None:
    """The database is missing: ML Metadata will create it, if the user may."""
    import pymysql

    try:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{address.database}`")
    except pymysql.err.OperationalError as e:
        if e.args and e.args[0] in (_DB_ACCESS_DENIED, _ACCESS_DENIED):
            raise MetadataConnectionError(
                f"MySQL at {where} has no database {address.database!r} that user "
                f"{address.user!r} can use or create: check the name, or create it and grant "
                "the user all privileges on it"
            ) from None
        raise
