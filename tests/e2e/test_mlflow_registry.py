"""Pushed models in the MLflow Model Registry of a real ``mlflow server`` (tests/mlflow_server.py).

One server per backend store for the session: SQLite, and MariaDB (the ``./dev test`` server, a
fresh database) as a team's would be. Each test registers into a copy of the session's ML Metadata
store, so the registration it records does not leak into the other tests that read the original.
"""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

import pytest

from tests.mlflow_server import mlflow_server


@pytest.fixture(scope="session")
def sqlite_mlflow(tmp_path_factory):
    """An ``mlflow server`` on a SQLite backend store; its tracking URI."""
    root = tmp_path_factory.mktemp("mlflow-sqlite")
    with mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root) as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_mlflow(mysql_server, tmp_path_factory):
    """An ``mlflow server`` on a MariaDB backend store (a database of its own); its URI."""
    from tests.mysql import drop_database, new_database

    database = new_database(mysql_server)  # MLflow creates its tables, not the database
    s = mysql_server
    store = f"mysql+pymysql://{s.user}:{quote(s.password, safe='')}@{s.host}:{s.port}/{database}"
    try:
        with mlflow_server(store, tmp_path_factory.mktemp("mlflow-mariadb")) as url:
            yield url
    finally:
        drop_database(mysql_server, database)


@pytest.fixture
def metadata(pipeline_runs, tmp_path) -> str:
    """A copy of the session's ML Metadata store, for a test that records registrations."""
    copy = tmp_path / "metadata.db"
    shutil.copy(pipeline_runs[0].metadata_path, copy)
    return str(copy)


def _figures(r) -> dict[str, float]:
    """The metrics a person reads for run ``r``: TFMA's, and the calendar rule's on its split."""
    from pipeline.runs.summary import metric_label

    numbers = {
        "": r.candidate,
        "calendar.": {k: v for k, v in r.calendar.items() if isinstance(v, int | float)},
    }
    return {
        f"{prefix}{metric_label(k)}": float(v)
        for prefix, values in numbers.items()
        for k, v in values.items()
    }


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite_mlflow", "mariadb_mlflow"])
def test_pushed_models_are_registered_with_lineage_and_the_serving_alias(
    backend, request, pipeline_runs, metadata, capsys
):
    from mlflow import MlflowClient

    from pipeline.cli import main
    from pipeline.runs.mlflow_export import RUN_TAG

    url = request.getfixturevalue(backend)
    _, first, second, worse = pipeline_runs
    assert first.pushed_version < second.pushed_version  # the second run pushed again

    def cli(*args: str) -> str:
        assert main([*args, "--metadata", metadata]) == 0
        return capsys.readouterr().out

    def to_mlflow(*args: str) -> str:
        return cli(*args, "--mlflow-uri", url)

    assert "mlflow registry    not registered in MLflow" in cli("models", "show", "latest")
    out = to_mlflow("runs", "export", worse.run_id)
    assert "not registered in the model registry: the Evaluator did not bless its model" in out
    out = to_mlflow("runs", "export", first.run_id)
    assert (
        f"registered TF Serving version {first.pushed_version} as cyclecast version 1 "
        "(not the newest pushed: no alias serving)" in out
    )
    out = to_mlflow("models", "register", "latest")
    assert (
        f"registered TF Serving version {second.pushed_version} as cyclecast version 2 "
        "(alias serving)" in out
    )
    for run in (first, second, first):  # again, by either command: nothing new
        assert "already registered:" in to_mlflow("runs", "export", run.run_id)
    assert "already registered:" in to_mlflow("models", "register", first.pushed_version)

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.get_experiment_by_name("cyclecast").experiment_id
    mlflow_runs = {r.data.tags[RUN_TAG]: r.info.run_id for r in client.search_runs([experiment])}
    assert set(mlflow_runs) == {first.run_id, second.run_id, worse.run_id}  # worse: tracked only
    versions = {
        v.tags["cyclecast.serving_version"]: v
        for v in client.search_model_versions("name = 'cyclecast'")
    }
    assert sorted(versions) == [first.pushed_version, second.pushed_version]  # no duplicates
    for r in (first, second):
        v = versions[r.pushed_version]
        lineage = {
            RUN_TAG: r.run_id,
            "cyclecast.git_commit": r.code["git_commit"],
            # the same raw data: the second run reused the first's examples from the cache
            "cyclecast.data_fingerprint": first.data["input_fingerprint"],
            "cyclecast.serving_path": r.pushed_path,
            "cyclecast.serving_version": r.pushed_version,
        }
        figures = _figures(r)
        assert set(v.tags) == set(lineage) | set(figures)
        assert {k: v.tags[k] for k in lineage} == lineage
        assert {k: float(v.tags[k]) for k in figures} == pytest.approx(figures)
        assert float(v.tags["sensitivity"]) == pytest.approx(r.candidate["recall"])
        assert float(v.tags["calendar.specificity"]) == pytest.approx(r.calendar["specificity"])
        assert v.run_id == mlflow_runs[r.run_id]  # linked to the run's MLflow run
        # the local SavedModel was uploaded to that run, and is the version's source
        uploaded = {a.path for a in client.list_artifacts(v.run_id, "model")}
        assert "model/saved_model.pb" in uploaded

    serving = client.get_model_version_by_alias("cyclecast", "serving")
    assert serving.version == versions[second.pushed_version].version  # the newest pushed

    out = cli("models", "show", second.pushed_version)
    assert (
        f"mlflow registry    cyclecast version {serving.version} @serving at {url} "
        f"(MLflow run {mlflow_runs[second.run_id]})" in out
    )
    shown = json.loads(cli("models", "show", first.pushed_version, "--json"))
    assert shown["registry"] == {
        "tracking_uri": url,
        "registered_model": "cyclecast",
        "version": versions[first.pushed_version].version,
        "run_id": mlflow_runs[first.run_id],
        "alias": "",
    }


@pytest.mark.e2e
def test_registered_model_name_and_alias_are_options(sqlite_mlflow, metadata, capsys):
    from mlflow import MlflowClient

    from pipeline.cli import main

    args = ["models", "register", "latest", "--mlflow-uri", sqlite_mlflow, "--metadata", metadata,
            "--registered-model", "cyclecast-trial", "--alias", "production"]
    assert main(args) == 0
    assert "as cyclecast-trial version 1 (alias production)" in capsys.readouterr().out
    client = MlflowClient(tracking_uri=sqlite_mlflow, registry_uri=sqlite_mlflow)
    assert client.get_registered_model("cyclecast-trial").aliases == {"production": "1"}
