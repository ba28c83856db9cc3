"""The compiled Kubeflow spec executes: every task's own container command, run in order here."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_two_nights_on_one_pipeline_root_the_second_compares_with_the_first_nights_model(
    tmp_path,
):
    """The compiled spec, run as KFP 2.17's backend would, two nights in a row on one root."""
    import shutil

    from components.push_records import latest_push
    from pipeline.orchestration.kfp_local import run_spec_locally
    from pipeline.orchestration.kubeflow import (
        compile_pipeline,
        load_kubeflow_config,
        runtime_parameter_values,
    )
    from synthetic.generate import generate_dataset

    generate_dataset(tmp_path / "data", users=10, cycles=1, seed=4, progress=False)
    nights = tmp_path / "data" / "nights"
    second_night = max(p.name for p in nights.iterdir())
    shutil.move(nights / second_night, tmp_path / "arrives-tomorrow")
    first_night = max(p.name for p in nights.iterdir())
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
        "train_steps": "50", "min_auc": "0", "min_sensitivity": "0", "min_specificity": "0",
        "max_auc_drop": "1"})
    root = tmp_path / "kfp_root"  # the backend's pipeline root, shared by both runs
    env = {"CYCLECAST_ID_SALT": "kfp-execution-salt-0123456789"}
    first = run_spec_locally(spec, root, parameters, env=env, run_id="night-1")

    assert first.order[0] == "ImportSchemaGen" and first.order[-1] == "Pusher"
    assert set(first.order) == {"ImportSchemaGen", "NightlyFeatureGen", "StatisticsGen",
                                "ExampleValidator", "AnomalyGate", "DriftGate", "TrainingWindow",
                                "NightlyPredictions", "Transform", "Trainer", "Evaluator",
                                "CalendarBaseline", "Pusher"}
    assert first.skipped == []  # no resolver tasks: nothing the open-source backend can't run
    examples = first.outputs["NightlyFeatureGen"]["examples"]
    assert examples["metadata"]["split_names"] == '["train", "eval", "test"]'
    # no driver runs on Kubeflow v2: the executor resolved the newest night as the span itself
    assert examples["metadata"]["last_night"] == first_night
    window = first.outputs["TrainingWindow"]["window"]["metadata"]
    assert window["train"] == 1 and window["last_night"] == first_night and window["nights"] > 20
    # tonight's valid nights were not scored: no model was in service before this first run
    scored = first.outputs["NightlyPredictions"]["predictions"]["metadata"]
    assert scored["scored"] == 0 and scored["not_scored"] > 0
    assert first.outputs["DriftGate"]["report"]["metadata"]["status"] == "not_checked"
    blessing = first.outputs["Evaluator"]["blessing"]["metadata"]
    assert blessing["blessed"] == 1 and "baseline_model" not in blessing  # the first night
    assert first.outputs["Pusher"]["pushed_model"]["metadata"]["pushed"] == 1
    versions = [v for v in (tmp_path / "serving" / "cyclecast").iterdir() if v.name.isdigit()]
    assert len(versions) == 1 and (versions[0] / "saved_model.pb").is_file()
    first_model = first.outputs["Trainer"]["model"]["uri"]
    assert Path(first_model, "Format-Serving").is_dir()
    assert Path(first_model).is_relative_to(root / "cyclecast" / "night-1")
    pushed = latest_push(str(tmp_path / "serving" / "cyclecast"))
    assert pushed.version == versions[0].name and pushed.model_uri == first_model

    shutil.move(tmp_path / "arrives-tomorrow", nights / second_night)  # the next night's uploads
    second = run_spec_locally(spec, root, parameters, env=env, run_id="night-2")

    assert second.outputs["NightlyFeatureGen"]["examples"]["metadata"]["last_night"] == (
        second_night)
    # the Evaluator's baseline is the first night's Trainer model (not the Pusher's copy)
    blessing = second.outputs["Evaluator"]["blessing"]["metadata"]
    assert blessing["baseline_model"] == first_model  # TFX names the URI "baseline_model"
    assert blessing["current_model"] == second.outputs["Trainer"]["model"]["uri"] != first_model
    # and tonight's answers come from the model the first night pushed
    scored = second.outputs["NightlyPredictions"]["predictions"]["metadata"]
    assert scored["model_version"] == versions[0].name and scored["scored"] > 0
    assert Path(first_model).is_dir()  # the first run's outputs stay under the shared root


def test_a_false_trigger_condition_skips_the_task():
    from pipeline.orchestration.kfp_local import condition_holds

    condition = "(inputs.artifacts['examples'].artifacts[0].metadata['train'] == 1.0)"
    trains = {"examples": {"artifacts": [{"metadata": {"train": 1}}]}}
    rests = {"examples": {"artifacts": [{"metadata": {"train": 0}}]}}
    assert condition_holds(condition, trains) and not condition_holds(condition, rests)
    with pytest.raises(ValueError, match="unsupported trigger condition"):
        condition_holds("inputs.parameter_values['x'] > 1", trains)
