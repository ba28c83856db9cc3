"""``cyclecast runs export RUN --mlflow-uri``: runs logged to a local MLflow store (no server).

A local ``sqlite:///`` store, not ``file://``: MLflow 3 refuses file stores unless the person opts
in with ``MLFLOW_ALLOW_FILE_STORE=true`` (it is retiring them), and cyclecast leaves that choice to
the person rather than setting it behind their back; the refusal reaches them as a bad input. The
model registry against a real ``mlflow server`` is tests/e2e/test_mlflow_registry.py.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_runs_are_exported_to_a_local_mlflow_store(pipeline_runs, tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.runs.mlflow_export import RUN_TAG
    from pipeline.runs.summary import metric_label

    cfg, first, _, worse = pipeline_runs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for run in (first, worse, first):  # the second export of a run updates it
        assert (
            main(
                ["runs", "export", run.run_id, "--mlflow-uri", uri, "--no-register",
                 "--metadata", cfg.metadata_path]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert f"exported {run.run_id} to {uri}" in out
        assert "not registered in the model registry" in out

    from mlflow.tracking import MlflowClient  # imported by the export, which guards the import

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("cyclecast")
    # the store's artifacts sit beside its database, not in ./mlruns of wherever it ran
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    runs = {r.data.tags[RUN_TAG]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {first.run_id, worse.run_id}  # no duplicate from re-exporting

    one = runs[first.run_id]
    assert one.info.status == "FINISHED"
    assert one.data.params["training.train_args.num_steps"] == "300"
    assert one.data.params["data.input_base"] == cfg.data_root
    for k, v in first.candidate.items():
        assert one.data.metrics[metric_label(k)] == pytest.approx(v)
    assert one.data.metrics["sensitivity"] == pytest.approx(first.candidate["recall"])
    assert "recall" not in one.data.metrics  # people read sensitivity (README, report)
    assert one.data.metrics["calendar.sensitivity"] == pytest.approx(first.calendar["sensitivity"])
    assert one.data.metrics["examples.eval"] == first.examples["eval"]
    assert one.data.tags["cyclecast.model_path"] == first.pushed_path
    assert one.data.tags["cyclecast.model_version"] == first.pushed_version
    assert one.data.tags["mlflow.source.git.commit"] == first.code["git_commit"]
    assert one.data.tags["cyclecast.blessed"] == "true"

    bad = runs[worse.run_id]
    assert bad.data.params["training.train_args.num_steps"] == "1"
    assert bad.data.params["training.custom_config.hparams.learning_rate"] == "1e-09"
    assert bad.data.metrics["baseline.auc"] == pytest.approx(worse.baseline["auc"])
    assert bad.data.tags["cyclecast.blessed"] == "false"
    assert "cyclecast.model_path" not in bad.data.tags
    assert client.search_registered_models() == []  # --no-register: tracking only


def test_a_file_store_is_refused_with_mlflow_s_reason(pipeline_runs, tmp_path, capsys, monkeypatch):
    from pipeline.cli import main

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # a person's own opt-in
    cfg, first, _, _ = pipeline_runs
    uri = (tmp_path / "mlruns").as_uri()
    args = ["runs", "export", first.run_id, "--mlflow-uri", uri, "--metadata", cfg.metadata_path]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"MLflow at {uri}" in err and "MLFLOW_ALLOW_FILE_STORE=true" in err
    assert not (tmp_path / "mlruns").exists()


def test_export_needs_a_tracking_uri(pipeline_runs, capsys):
    from pipeline.cli import main

    cfg = pipeline_runs[0]
    assert main(["runs", "export", "latest", "--metadata", cfg.metadata_path]) == 2
    assert "needs --mlflow-uri" in capsys.readouterr().err
