"""The Kubeflow compile: golden spec, KFP's own parsers, run-time parameters, configuration."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import pytest

from pipeline.code_version import schema_fingerprint
from pipeline.config import REPO_ROOT, SCHEMA_FILE
from pipeline.orchestration.kubeflow import (
    ConfigError,
    compile_pipeline,
    load_kubeflow_config,
    runtime_parameter_values,
    schema_fingerprint_in,
    stable_spec,
)
from tests.golden.refresh import GOLDEN

pytestmark = pytest.mark.e2e


def test_compiled_spec_matches_the_golden_file(compiled_spec):
    got = stable_spec(json.loads(compiled_spec.read_text()))
    want = json.loads(GOLDEN.read_text())
    assert got == want, "the compiled pipeline changed: review it, then refresh with ./dev golden"


def test_the_compiled_spec_holds_the_image_schemas_content(compiled_spec):
    # The default config names the schema inside the image, which is this tree's schema/.
    spec = json.loads(compiled_spec.read_text())
    assert schema_fingerprint_in(spec) == schema_fingerprint(str(SCHEMA_FILE))


def test_a_schema_edited_in_place_changes_the_spec_at_the_schema_step(tmp_path):
    # Kubeflow's cache key is the compiled task: a schema edited under the same path must change
    # ImportSchemaGen's task (and the ingest's), or the old schema (and everything after it) is
    # served from cache.
    schema = tmp_path / "schema.pbtxt"
    shutil.copy(SCHEMA_FILE, schema)
    config = load_kubeflow_config()
    config = replace(config, pipeline=config.pipeline.with_changes(schema_file=str(schema)))
    before = json.loads(compile_pipeline(config, tmp_path / "before.json").read_text())
    schema.write_text(schema.read_text() + "\n# reviewed: no change to the features\n")
    after = json.loads(compile_pipeline(config, tmp_path / "after.json").read_text())
    assert schema_fingerprint_in(before) != schema_fingerprint_in(after)
    assert schema_fingerprint_in(after) == schema_fingerprint(str(schema))
    tasks_before, tasks_after = (s["pipelineSpec"]["root"]["dag"]["tasks"] for s in (before, after))
    # (and NightlyFeatureGen's, which holds each night to the schema's ranges)
    changed = {t for t in tasks_before if tasks_before[t] != tasks_after[t]}
    assert changed == {"ImportSchemaGen", "NightlyFeatureGen"}
    # the golden comparison does not churn with the schema's content
    assert stable_spec(before) == stable_spec(after)


def test_spec_parses_as_pipeline_spec_and_loads_with_kfp(compiled_spec, tmp_path):
    from google.protobuf import json_format
    from kfp import components
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json.loads(compiled_spec.read_text())
    proto = json_format.ParseDict(spec["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert set(proto.root.dag.tasks) >= {"NightlyFeatureGen", "StatisticsGen", "ExampleValidator",
                                         "AnomalyGate", "Transform", "Trainer", "Evaluator",
                                         "Pusher", "CalendarBaseline"}
    # the runner writes a PipelineJob; its pipelineSpec is what KFP loads as a component
    (tmp_path / "spec.json").write_text(json.dumps(spec["pipelineSpec"]))
    loaded = components.load_component_from_file(str(tmp_path / "spec.json"))
    assert loaded.name == "cyclecast"
    assert set(loaded.component_spec.inputs) == {"train_args", "eval_config"}


def test_configuration_reaches_the_spec(compiled_spec):
    config = load_kubeflow_config()
    spec = json.loads(compiled_spec.read_text())
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {config.image}
    beam = executors["NightlyFeatureGen_executor"]["container"]["args"]
    assert "--runner=DirectRunner" in beam and "--direct_running_mode=multi_processing" in beam
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == config.pipeline.pipeline_root
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert tasks["NightlyFeatureGen"]["cachingOptions"] == {"enableCache": False}
    assert tasks["Transform"]["cachingOptions"] == {"enableCache": True}
    trainer = tasks["Trainer"]["inputs"]["parameters"]
    assert trainer["train_args"] == {"componentInputParameter": "train_args"}
    defaults = spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert set(defaults) == {"train_args", "eval_config"}
    # with their defaults: the API server refuses a run missing a parameter that has none
    assert json.loads(defaults["train_args"]["defaultValue"]) == {
        "numSteps": config.pipeline.training.train_steps}
    assert "changeThreshold" in defaults["eval_config"]["defaultValue"]
    # the nightly span, its window and the drift switch come from the TOML file
    def constant(params, name):  # schema 2.1.0: a google.protobuf.Value (numbers are doubles)
        value = params[name]["runtimeValue"]["constant"]
        return str(int(value)) if isinstance(value, float) else value

    gen = tasks["NightlyFeatureGen"]["inputs"]["parameters"]
    assert constant(gen, "window_nights") == str(config.pipeline.window_nights) == "365"
    assert "nights/{YYYY}-{MM}-{DD}/*.csv.gz" in constant(gen, "input_config")
    drift = tasks["DriftGate"]["inputs"]["parameters"]
    assert constant(drift, "allow_drift") == "0"
    assert constant(drift, "min_nights") == str(config.pipeline.drift.min_nights)
    # one span store on the pipeline root: the feature job writes it, the gate and window read it
    store = "gs://cyclecast-pipelines/pipeline_root/spans"
    assert constant(gen, "span_store") == constant(drift, "span_store") == store
    assert constant(gen, "late_nights") == "7"
    window = tasks["TrainingWindow"]["inputs"]["parameters"]
    assert constant(window, "span_store") == store
    assert constant(window, "window_nights") == "365" and constant(window, "train_every") == "1"
    # training runs only on a night the window says trains (the Cond compiles to a trigger)
    for name in ("Transform", "Trainer", "Evaluator", "Pusher", "CalendarBaseline"):
        condition = tasks[name]["triggerPolicy"]["condition"]
        (key,) = re.findall(r"inputs\.artifacts\['([^']+)'\]", condition)
        assert "metadata['train'] == 1" in condition, (name, condition)
        # the condition reads an input the task declares, produced by the window
        ref = tasks[name]["inputs"]["artifacts"][key]["taskOutputArtifact"]
        assert ref == {"producerTask": "TrainingWindow", "outputArtifactKey": "window"}, name
    assert "triggerPolicy" not in tasks["TrainingWindow"]
    # every night is scored against the model in service, published where the app reads it
    scoring = tasks["NightlyPredictions"]["inputs"]["parameters"]
    assert constant(scoring, "model_base") == "/data/serving_model/cyclecast"
    assert constant(scoring, "publish_dir") == "/data/predictions"
    # the ovulation day of a closed cycle reads that cycle's nights from the same span store
    assert constant(scoring, "span_store") == "gs://cyclecast-pipelines/pipeline_root/spans"
    assert "triggerPolicy" not in tasks["NightlyPredictions"]
    # the Evaluator's baseline comes from the Pusher's records beside the same serving directory
    assert constant(tasks["Evaluator"]["inputs"]["parameters"], "model_base") == (
        "/data/serving_model/cyclecast")
    assert "baseline_model" not in tasks["Evaluator"]["inputs"].get("artifacts", {})


def test_the_spec_is_what_the_open_source_backend_accepts(compiled_spec):
    """Schema 2.1.0, container executors only, each run through cyclecast's entrypoint."""
    spec = json.loads(compiled_spec.read_text())["pipelineSpec"]
    assert spec["schemaVersion"] == "2.1.0"  # apiserver/template/template.go takes no other
    executors = spec["deploymentSpec"]["executors"]
    assert all(set(e) == {"container"} for e in executors.values())  # no resolver, no importer
    for component in spec["components"].values():
        container = executors[component["executorLabel"]]["container"]
        assert container["command"] == ["python", "-m", "pipeline.orchestration.kfp_entrypoint"]
        args = container["args"]
        types = json.loads(args[args.index("--input_artifact_types") + 1])
        inputs = component.get("inputDefinitions", {}).get("artifacts", {})
        assert set(types) == set(inputs) and all(types.values())  # "tfx.Examples", ".."


def test_drift_override_and_window_from_the_config_file(tmp_path):
    text = (REPO_ROOT / "pipeline" / "configs" / "kubeflow.toml").read_text()
    assert "allow = false" in text and "window_nights = 365" in text
    custom = tmp_path / "kf.toml"
    custom.write_text(text.replace("allow = false", "allow = true")
                      .replace("window_nights = 365", "window_nights = 90")
                      .replace("train_every = 1", "train_every = 7"))
    config = load_kubeflow_config(custom)
    assert config.pipeline.drift.allow and config.pipeline.window_nights == 90
    assert config.pipeline.train_every == 7
    custom.write_text(text.replace("allow = false", "allow = false\nalow = 1"))
    with pytest.raises(ConfigError, match=r"\[drift\].*unknown key\(s\) \['alow'\]"):
        load_kubeflow_config(custom)


def test_runtime_parameter_values_from_friendly_keys():
    config = load_kubeflow_config()
    values = runtime_parameter_values(config, {"train_steps": "3000", "min_auc": "0.8"})
    assert json.loads(values["train_args"]) == {"numSteps": 3000}
    eval_config = json.loads(values["eval_config"])
    auc = next(m for m in eval_config["metricsSpecs"][0]["metrics"] if m["className"] == "AUC")
    assert auc["threshold"]["valueThreshold"]["lowerBound"] == 0.8
    assert runtime_parameter_values(config, {}) == {}
    with pytest.raises(ConfigError, match="unknown parameter"):
        runtime_parameter_values(config, {"trian_steps": "3"})
    with pytest.raises(ConfigError, match="at least 1"):
        runtime_parameter_values(config, {"train_steps": "0"})


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('image = "x"\npipeline_root = "/p"\ndata_root = "/d"\nserving_dir = "/s"\n'
                   "[training]\ntrain_stepz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['train_stepz'\]"):
        load_kubeflow_config(bad)
    bad.write_text('pipeline_root = "/p"\n')
    with pytest.raises(ConfigError, match="'image'"):
        load_kubeflow_config(bad)
