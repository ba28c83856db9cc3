"""The MLflow Model Registry without a server: the tracking URI asked for, why a run is not
registered, and what ML Metadata records of a registration (the registry itself is
tests/e2e/test_mlflow_registry.py).
"""

from __future__ import annotations


def test_models_register_needs_a_tracking_uri(capsys):
    from pipeline.cli import main

    assert main(["models", "register", "latest"]) == 2
    assert "needs --mlflow-uri" in capsys.readouterr().err


def test_why_a_run_is_not_registered():
    from pipeline.runs.mlflow_registry import unregistered_reason
    from pipeline.runs.summary import RunSummary

    assert "not evaluated" in unregistered_reason(RunSummary("r"))
    assert "did not bless" in unregistered_reason(RunSummary("r", blessed=False))
    assert "not pushed" in unregistered_reason(RunSummary("r", blessed=True))
    assert unregistered_reason(RunSummary("r", blessed=True, pushed_path="/m/cyclecast/7")) is None


def test_ml_metadata_records_the_registration_and_where_the_alias_moved(tmp_path):
    from dataclasses import replace

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.runs import catalog
    from pipeline.runs.mlflow_registry import Registration, record_registration

    path = str(tmp_path / "metadata.db")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    store = metadata_store.MetadataStore(config)
    pushed_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="PushedModel"))
    ids = store.put_artifacts(
        [metadata_store_pb2.Artifact(type_id=pushed_type, uri=f"/m/{v}") for v in (1, 2)]
    )

    def versions() -> list[catalog.ModelVersion]:
        return [
            catalog.ModelVersion(
                a.uri[-1], a.uri, artifact_id=a.id, registry=catalog.registry_of(a)
            )
            for a in store.get_artifacts_by_id(ids)
        ]

    older = Registration("http://mlflow:5000", "cyclecast", "1", "run1", "serving", created=True)
    record_registration(path, versions(), versions()[0], older)
    assert catalog.registry_of(store.get_artifacts_by_id(ids[:1])[0]) == {
        "tracking_uri": "http://mlflow:5000", "registered_model": "cyclecast", "version": "1",
        "run_id": "run1", "alias": "serving",
    }
    # a newer pushed version takes the alias: the older one's record no longer claims it
    record_registration(path, versions(), versions()[1], replace(older, version="2", run_id="run2"))
    assert [m.registry["alias"] for m in versions()] == ["", "serving"]
    assert catalog.format_model(versions()[0]).endswith(
        "mlflow registry    cyclecast version 1 at http://mlflow:5000 (MLflow run run1)"
    )
