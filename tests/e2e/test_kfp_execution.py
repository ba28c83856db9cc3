"""The compiled Kubeflow spec executes: every task's own container command, run in order here."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_compiled_spec_runs_task_by_task_through_the_tfx_container_entrypoint(tmp_path):
    from pipeline.orchestration.kfp_local import run_spec_locally
    from pipeline.orchestration.kubeflow import (
        compile_pipeline,
        load_kubeflow_config,
        runtime_parameter_values,
    )
    from synthetic.generate import generate_dataset

    generate_dataset(tmp_path / "data", users=10, cycles=1, seed=4, progress=False)
    # the cluster config with local paths: what changes between a cluster and here is config
    config_file = tmp_path / "kubeflow.toml"
    config_file.write_text(
        'image = "cyclecast/pipeline:test"\n'
        f'pipeline_root = "{tmp_path}/pipeline_root"\n'
        f'data_root = "{tmp_path}/data"\n'
        f'serving_dir = "{tmp_path}/serving"\n'
        f'schema_file = "{REPO_ROOT / "schema" / "schema.pbtxt"}"\n'
        '[beam]\nrunner = "DirectRunner"\n'
        'extra_args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]\n')
    config = load_kubeflow_config(config_file)
    spec = compile_pipeline(config, tmp_path / "spec.json")
    parameters = runtime_parameter_values(config, {
        "train_steps": "50", "min_auc": "0", "min_sensitivity": "0", "min_specificity": "0"})
    result = run_spec_locally(spec, tmp_path / "work", parameters,
                              env={"CYCLECAST_ID_SALT": "kfp-execution-salt-0123456789"})

    assert result.order[0] == "ImportSchemaGen" and result.order[-1] == "Pusher"
    assert set(result.order) == {"ImportSchemaGen", "NightlyFeatureGen", "StatisticsGen",
                                 "ExampleValidator", "AnomalyGate", "DriftGate", "TrainingWindow",
                                 "NightlyPredictions", "Transform", "Trainer", "Evaluator",
                                 "CalendarBaseline", "Pusher"}
    assert len(result.skipped) == 3  # the resolvers: nothing blessed or pushed yet
    examples = result.outputs["NightlyFeatureGen"]["examples"]
    assert examples["metadata"]["split_names"] == '["train", "eval", "test"]'
    # no driver runs on Kubeflow v2: the executor resolved the newest night as the span itself
    newest = max(p.name for p in (tmp_path / "data" / "nights").iterdir())
    assert examples["metadata"]["last_night"] == newest
    window = result.outputs["TrainingWindow"]["window"]["metadata"]
    assert window["train"] == 1 and window["last_night"] == newest and window["nights"] > 20
    # tonight's valid nights were not scored: no model was in service before this first run
    scored = result.outputs["NightlyPredictions"]["predictions"]["metadata"]
    assert scored["scored"] == 0 and scored["not_scored"] > 0
    assert result.outputs["DriftGate"]["report"]["metadata"]["status"] == "not_checked"
    assert result.outputs["Evaluator"]["blessing"]["metadata"]["blessed"] == 1
    assert result.outputs["Pusher"]["pushed_model"]["metadata"]["pushed"] == 1
    versions = list((tmp_path / "serving" / "cyclecast").iterdir())
    assert len(versions) == 1 and versions[0].name.isdigit()
    assert (versions[0] / "saved_model.pb").is_file()
    assert Path(result.outputs["Trainer"]["model"]["uri"], "Format-Serving").is_dir()


def test_a_false_trigger_condition_skips_the_task():
    from pipeline.orchestration.kfp_local import condition_holds

    condition = "(inputs.artifacts['examples'].artifacts[0].metadata['train'] == 1.0)"
    trains = {"examples": {"artifacts": [{"metadata": {"train": 1}}]}}
    rests = {"examples": {"artifacts": [{"metadata": {"train": 0}}]}}
    assert condition_holds(condition, trains) and not condition_holds(condition, rests)
    with pytest.raises(ValueError, match="unsupported trigger condition"):
        condition_holds("inputs.parameter_values['x'] > 1", trains)
