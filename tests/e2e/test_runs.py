"""Runs and models from ML Metadata: list, show, compare, lineage, predict by version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.e2e
def test_runs_are_listed_in_order_with_their_configuration(pipeline_runs, capsys):
    from pipeline.cli import main
    from pipeline.runs.catalog import list_runs

    cfg, first, second, worse = pipeline_runs
    runs = list_runs(cfg.metadata_path, cfg.pipeline_name)
    assert [r.run_id for r in runs] == [first.run_id, second.run_id, worse.run_id]
    assert [r.training["train_args"]["num_steps"] for r in runs] == [300, 300, 1]
    assert all(r.duration_s > 0 and r.data["input_base"] == cfg.data_root for r in runs)
    # the second run took its examples from the cache: they still say which raw data they are
    assert runs[1].executions["NightlyFeatureGen"] == "CACHED"
    assert runs[1].data["input_fingerprint"] == runs[0].data["input_fingerprint"]
    assert "split:cycles" in runs[1].data["input_fingerprint"]
    assert runs[0].code["feature_code"] and runs[0].code["trainer_code"]
    assert runs[0].code.get("git_commit")  # the checkout the run was made from
    assert main(["runs", "list", "--metadata", cfg.metadata_path]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4 and table[1].startswith(first.run_id) and "yes" in table[1]


@pytest.mark.e2e
def test_runs_show_and_compare(pipeline_runs, capsys):
    from pipeline.cli import main

    cfg, first, _, worse = pipeline_runs
    assert main(["runs", "show", worse.run_id[:19], "--json", "--metadata",
                 cfg.metadata_path]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == worse.run_id and shown["blessed"] is False
    assert shown["pushed_version"] is None and json.loads(shown["code"]["config"])
    assert main(["runs", "compare", first.run_id, worse.run_id, "--json", "--metadata",
                 cfg.metadata_path]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["changed"]["training.train_args.num_steps"] == [300, 1]
    assert c["changed"]["training.custom_config.hparams.learning_rate"] == [None, 1e-9]
    auc_a, auc_b, delta = c["metrics"]["auc"]
    assert delta == pytest.approx(auc_b - auc_a) and delta < 0
    assert c["blessed"] == [True, False] and c["pushed"][1] is None
    assert main(["runs", "show", "no-such-run", "--metadata", cfg.metadata_path]) == 2
    assert "no run matching 'no-such-run'" in capsys.readouterr().err


@pytest.mark.e2e
def test_models_have_lineage_back_to_run_examples_and_raw_data(pipeline_runs, capsys):
    from pipeline.cli import main
    from pipeline.runs.catalog import list_models

    cfg, first, second, _ = pipeline_runs
    models = list_models(cfg.metadata_path, cfg.pipeline_name)
    pushed = [r.pushed_version for r in (first, second) if r.pushed_version]
    assert [m.version for m in models] == sorted(pushed)
    m = next(m for m in models if m.version == first.pushed_version)
    assert m.run_id == first.run_id and Path(m.path, "saved_model.pb").is_file()
    assert "/Trainer/model/" in m.model_uri and "/Transform/" in m.transformed_examples_uri
    assert "/TrainingWindow/window/" in m.examples_uri  # the window, gathered from the span store
    assert "split:cycles" in m.data["input_fingerprint"]  # the raw files and the cycle log
    assert m.metrics["auc"] == pytest.approx(first.candidate["auc"])
    assert main(["models", "show", m.version, "--metadata", cfg.metadata_path]) == 0
    assert f"run                {first.run_id}" in capsys.readouterr().out


@pytest.mark.e2e
def test_predict_by_model_version(pipeline_runs, tmp_path, capsys):
    from components.nightly_features.user_history import too_little_history
    from pipeline.cli import main
    from transforms.features import HISTORY_MASK
    from transforms.serving_request import night_from_example
    from transforms.tf_example import read_examples

    cfg, first, _, _ = pipeline_runs
    pattern = next(Path(cfg.pipeline_root).glob("NightlyFeatureGen/examples/*/Split-eval"))
    night = tmp_path / "night.json"
    # a night the batch path would score (a training example may have too little history)
    nights = [night_from_example(r) for r in read_examples(f"{pattern}/*.gz")]
    night.write_text(json.dumps(next(n for n in nights if not too_little_history(n[HISTORY_MASK]))))
    args = ["predict", "--night", str(night), "--metadata", cfg.metadata_path]
    assert main([*args, "--model", first.pushed_version]) == 0
    by_version = json.loads(capsys.readouterr().out)
    assert main(["predict", "--night", str(night), "--local", first.pushed_path]) == 0
    assert json.loads(capsys.readouterr().out) == by_version
    assert main([*args, "--model", "12345"]) == 2
    assert "no pushed version 12345" in capsys.readouterr().err
