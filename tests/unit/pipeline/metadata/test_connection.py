"""Metadata addresses: parsed and checked before ML Metadata sees them; a real MariaDB behind them.

The MySQL tests use the MariaDB server ``./dev test`` starts (tests/services/start_mariadb.sh).
"""

from __future__ import annotations

import pytest

from pipeline.metadata.connection import (
    PASSWORD_ENV,
    MetadataAddressError,
    MetadataConnectionError,
    connection_config,
    open_store,
    parse_metadata_address,
)


def test_a_plain_path_and_sqlite_urls_are_sqlite(tmp_path):
    assert parse_metadata_address("state/metadata.db").path == "state/metadata.db"
    parsed = parse_metadata_address(f"sqlite://{tmp_path}/m.db")
    assert (parsed.kind, parsed.path) == ("sqlite", f"{tmp_path}/m.db")
    assert connection_config(parsed).sqlite.filename_uri == f"{tmp_path}/m.db"


def test_a_mysql_address_and_its_config():
    parsed = parse_metadata_address("mysql://ml@db.internal:3307/kubeflow_mlmd")
    assert (parsed.host, parsed.port, parsed.user, parsed.database, parsed.socket) == (
        "db.internal", 3307, "ml", "kubeflow_mlmd", None
    )
    config = connection_config(parsed, environ={PASSWORD_ENV: "s3cret"})
    assert (config.mysql.host, config.mysql.port, config.mysql.database) == (
        "db.internal", 3307, "kubeflow_mlmd"
    )
    assert (config.mysql.user, config.mysql.password) == ("ml", "s3cret")
    assert not config.mysql.socket
    assert "s3cret" not in parsed.describe()
    assert parse_metadata_address("mysql://ml@db/x").port == 3306


def test_a_socket_address_sets_no_host():
    parsed = parse_metadata_address("mysql://ml@/mlmd?socket=/run/mysqld/mysqld.sock")
    config = connection_config(parsed, environ={})
    assert config.mysql.socket == "/run/mysqld/mysqld.sock"
    assert not config.mysql.host and not config.mysql.port


@pytest.mark.parametrize(
    ("address", "message"),
    [
        # ML Metadata aborts the whole process on this one: it must never reach it
        ("mysql://ml@db:3306/mlmd?socket=/run/mysqld/mysqld.sock", "not both"),
        ("mysql://ml:hunter2@db:3306/mlmd", "CYCLECAST_METADATA_PASSWORD"),
        ("mysql://db:3306/mlmd", "no user"),
        ("mysql://ml@db:3306/", "no database name"),
        ("mysql://ml@db:3306/mlmd?ssl=1", "unknown options ['ssl']"),
        ("mysql://ml@db:port/mlmd", "Port could not be cast"),
        ("grpc://metadata-grpc-service", "grpc://HOST:PORT"),
        ("postgres://ml@db/mlmd", "unknown scheme 'postgres'"),
        ("", "empty"),
    ],
)
def test_malformed_addresses_say_what_the_form_is(address, message):
    with pytest.raises(MetadataAddressError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_metadata_address(address)


def test_kubeflows_grpc_service_gets_a_client_config():
    from ml_metadata.proto import metadata_store_pb2

    parsed = parse_metadata_address("grpc://metadata-grpc-service.kubeflow:8080")
    config = connection_config(parsed)
    assert isinstance(config, metadata_store_pb2.MetadataStoreClientConfig)
    assert (config.host, config.port) == ("metadata-grpc-service.kubeflow", 8080)
    assert config.client_timeout_sec > 0


def test_a_local_run_refuses_to_record_into_the_grpc_service():
    from pipeline.pipeline import run_metadata_config

    with pytest.raises(MetadataAddressError, match="reads the store of runs Kubeflow made"):
        run_metadata_config("grpc://metadata-grpc-service.kubeflow:8080")


def test_a_missing_sqlite_store_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ML Metadata store at"):
        open_store(str(tmp_path / "none.db"))


# --- against the real MariaDB server ---------------------------------------------------------


def test_ml_metadata_records_and_reads_in_mariadb(mysql_server, mysql_database, monkeypatch):
    from ml_metadata.proto import metadata_store_pb2

    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    store = open_store(mysql_server.url(mysql_database))
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Probe"))
    [artifact_id] = store.put_artifacts([metadata_store_pb2.Artifact(type_id=type_id, uri="/x")])
    again = open_store(mysql_server.url(mysql_database))  # a second session sees it
    assert [a.uri for a in again.get_artifacts_by_id([artifact_id])] == ["/x"]


def test_a_wrong_password_is_named_as_such(mysql_server, mysql_database, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with pytest.raises(MetadataConnectionError) as e:
        open_store(mysql_server.url(mysql_database))
    message = str(e.value)
    assert f"refused user 'cyclecast' with the password in ${PASSWORD_ENV}" in message
    assert "not-the-password" not in message


def test_an_unreachable_server_is_named_as_such(mysql_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    with pytest.raises(MetadataConnectionError, match="no MySQL server answers at 127.0.0.1:1:"):
        open_store("mysql://cyclecast@127.0.0.1:1/cyclecast_x")


def test_an_unknown_database_the_user_cant_create_is_named(mysql_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    address = f"mysql://cyclecast@{mysql_server.host}:{mysql_server.port}/not_ours"
    with pytest.raises(MetadataConnectionError, match="has no database 'not_ours' that user"):
        open_store(address)


def test_a_missing_database_the_user_may_create_is_created(mysql_server, monkeypatch):
    from tests.mysql import drop_database

    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    name = "cyclecast_created_by_mlmd"
    drop_database(mysql_server, name)
    try:
        store = open_store(mysql_server.url(name))
        assert store.get_artifact_types() == []
    finally:
        drop_database(mysql_server, name)


def test_runs_commands_give_a_clear_error_not_a_crash(mysql_server, capsys, monkeypatch):
    from pipeline.cli import main

    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    url = mysql_server.url("cyclecast_whatever")
    for argv in (["runs", "list"], ["models", "list"], ["report"]):
        assert main([*argv, "--metadata", url]) == 2
        err = capsys.readouterr().err
        assert f"cyclecast {argv[0]}: MySQL at" in err and "refused user 'cyclecast'" in err


def test_the_mysql_run_lock_refuses_a_second_run(mysql_server, mysql_database, monkeypatch):
    from pipeline.orchestration.run_lock import RunRefused, exclusive_run

    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    url = mysql_server.url(mysql_database)
    with exclusive_run(url, "first"):
        with pytest.raises(RunRefused, match="holds the lock 'cyclecast-run:cyclecast_"):
            with exclusive_run(url, "second"):
                pass
    with exclusive_run(url, "third"):  # released when the first ended
        pass


def test_run_refuses_the_grpc_service_before_doing_anything(tmp_path, capsys):
    from pipeline.cli import main

    workdir = tmp_path / "state"
    assert main(["run", "--metadata", "grpc://metadata-grpc-service:8080",
                 "--workdir", str(workdir)]) == 2
    assert "a local run records into SQLite or MySQL" in capsys.readouterr().err
    assert not workdir.exists()  # no default data generated, no salt written
