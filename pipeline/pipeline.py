"""``create_pipeline(config)``: the one TFX pipeline, for every orchestrator.

NightlyFeatureGen (ingests the new night's span into the span store) -> StatisticsGen ->
ImportSchemaGen -> ExampleValidator, and DriftGate (the new night against the previous one) ->
NightlyPredictions (tonight's valid nights scored against the model in service) -> AnomalyGate;
TrainingWindow (the rolling range of ingested nights) -> [on training nights]
Transform -> Trainer -> Evaluator (against the newest push's Trainer model, from the Pusher's
records) -> Pusher, and the calendar rule scored beside the model. No Resolver: the open-source
Kubeflow backend can't run one. Code is referenced by dotted path, so the same installed
packages serve the local runner and the Kubeflow container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tfx import v1 as tfx

from components import baseline_evaluator, recording_pusher
from components.anomaly_gate import AnomalyGate
from components.calendar_baseline import CalendarBaseline
from components.drift_gate import DriftGate
from components.nightly_features.component import NightlyFeatureGen, night_range_config
from components.nightly_predictions import NightlyPredictions
from components.schema_import import ImportSchemaGen
from components.training_window import TRAIN_PROPERTY, TrainingWindow
from pipeline.code_version import (
    TRAINER_CODE,
    TRANSFORM_CODE,
    TUNER_CODE,
    code_fingerprints,
    schema_fingerprint,
)
from pipeline.config import PipelineConfig
from pipeline.eval_config import make_eval_config

# The modules the code fingerprints start from, so a fingerprint always covers the code referenced.
PREPROCESSING_FN = f"{TRANSFORM_CODE}.preprocessing_fn"
RUN_FN = f"{TRAINER_CODE}.run_fn"
TUNER_FN = f"{TUNER_CODE}.tuner_fn"
TRAIN_ARGS_PARAMETER = "train_args"
EVAL_CONFIG_PARAMETER = "eval_config"


def runtime_parameter_defaults(cfg: PipelineConfig) -> dict[str, str]:
    """The run-time parameters' defaults (JSON of TrainArgs and EvalConfig) from the config."""
    from google.protobuf import json_format

    return {
        TRAIN_ARGS_PARAMETER: json_format.MessageToJson(
            tfx.proto.TrainArgs(num_steps=cfg.training.train_steps)
        ),
        EVAL_CONFIG_PARAMETER: json_format.MessageToJson(
            make_eval_config(cfg.evaluation), sort_keys=True
        ),
    }


def _trainer_and_evaluator_args(cfg: PipelineConfig):
    """TrainArgs and EvalConfig, as values or (Kubeflow) run-time parameters defaulting to them."""
    if not cfg.runtime_parameters:
        return tfx.proto.TrainArgs(num_steps=cfg.training.train_steps), make_eval_config(
            cfg.evaluation
        )
    return tuple(
        tfx.dsl.experimental.RuntimeParameter(name=name, ptype=str, default=default)
        for name, default in runtime_parameter_defaults(cfg).items()
    )


def create_components(cfg: PipelineConfig) -> list:
    """Build and wire every component (no runner; reads only the files it fingerprints)."""
    code_version = code_fingerprints()
    schema_version = schema_fingerprint(cfg.schema_file)
    example_gen = NightlyFeatureGen(
        input_base=cfg.data_root,
        salt_file=cfg.salt_file,
        code_version=code_version["NightlyFeatureGen"],
        range_config=night_range_config(cfg.night) if cfg.night else None,
        window_nights=cfg.window_nights,
        span_store=cfg.span_store,
        late_nights=cfg.late_nights,
        # the schema's ranges are the ingest's per-night rule: one source with the gates'
        schema_file=cfg.schema_file,
        schema_fingerprint=schema_version,
        online_store=cfg.online_store or None,
    )
    ingested = example_gen.outputs["examples"]
    statistics_gen = tfx.components.StatisticsGen(examples=ingested)
    schema_gen = ImportSchemaGen(schema_file=cfg.schema_file, schema_fingerprint=schema_version)
    schema = schema_gen.outputs["schema"]
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    anomaly_gate = AnomalyGate(
        anomalies=example_validator.outputs["anomalies"],
        quarantine=example_gen.outputs["quarantine"],
        schema=schema,
        span_store=cfg.span_store,
        code_version=code_version["AnomalyGate"],
    )
    drift_gate = DriftGate(
        quarantine=example_gen.outputs["quarantine"],
        schema=schema,
        span_store=cfg.span_store,
        allow_drift=int(cfg.drift.allow),
        min_nights=cfg.drift.min_nights,
        code_version=code_version["DriftGate"],
    )
    window = TrainingWindow(
        examples=ingested,
        span_store=cfg.span_store,
        window_nights=cfg.window_nights,
        train_every=cfg.train_every,
        code_version=code_version["TrainingWindow"],
    )
    window.add_upstream_node(anomaly_gate)
    window.add_upstream_node(drift_gate)
    in_service = _models_in_service(cfg)
    predictions = NightlyPredictions(
        requests=example_gen.outputs["requests"],
        quarantine=example_gen.outputs["quarantine"],
        model_base=model_base(cfg),
        model_version=in_service.version,
        publish_dir=cfg.predictions_root,
        span_store=cfg.span_store,
        code_version=code_version["NightlyPredictions"],
    )
    # The valid users' answers never wait on AnomalyGate: one user's odd night is her invalid night
    # (quarantined at ingest), and the gate runs after the answers are out, so that it stopping
    # the run (the local runner stops at the first failure, in dependency order) can't hold them
    # back. A drifted night (the whole population shifted) still gets no answers.
    predictions.add_upstream_node(drift_gate)
    anomaly_gate.add_upstream_node(predictions)
    examples = window.outputs["window"]
    with tfx.dsl.Cond(examples.future()[0].custom_property(TRAIN_PROPERTY) == 1):
        training = _training_components(cfg, code_version, schema, examples, in_service)
    return [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        anomaly_gate,
        drift_gate,
        predictions,
        window,
        *training,
    ]


def _training_components(
    cfg: PipelineConfig, code_version: dict, schema, examples, in_service: InService
) -> list:
    """What runs on a training night: Transform, Trainer, Evaluator, Pusher, the calendar rule.

    The Evaluator compares with the Trainer model of the newest push (the Pusher's records); the
    calendar rule is scored on the same eval split.
    """
    transform = tfx.components.Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"code_version": code_version["Transform"]},
    )
    training = cfg.training
    train_args, eval_config = _trainer_and_evaluator_args(cfg)
    # Off by default: the search trains tune_trials models. The Trainer then starts from the
    # best hyperparameters found, the config's hparams still on top.
    # what the Tuner's trials and the Trainer both train on
    data = {
        "examples": transform.outputs["transformed_examples"],
        "transform_graph": transform.outputs["transform_graph"],
        "schema": schema,
        "train_args": train_args,
        "eval_args": tfx.proto.EvalArgs(num_steps=training.eval_steps),
    }
    tuner = None
    if training.tune:
        tuner = tfx.components.Tuner(
            tuner_fn=TUNER_FN,
            **data,
            custom_config={
                "seed": training.seed,
                "max_trials": training.tune_trials,
                "code_version": code_version["Tuner"],
                "hparams": dict(training.hparams),
            },
        )
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        **data,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config={
            "seed": training.seed,
            "model_name": cfg.model_name,
            "code_version": code_version["Trainer"],
            "hparams": {
                **dict(training.hparams),
                "decision_threshold": cfg.evaluation.decision_threshold,
            },
        },
    )
    evaluator = baseline_evaluator.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        eval_config=eval_config,
        model_base=model_base(cfg),
        baseline_model_uri=in_service.baseline_model_uri,
        code_version=code_version["Evaluator"],
    ).with_id("Evaluator")
    calendar = CalendarBaseline(
        examples=examples, split="eval", code_version=code_version["CalendarBaseline"]
    )
    pusher = recording_pusher.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=model_base(cfg))
        ),
        custom_config={"code_version": code_version["Pusher"]},
    )
    return [
        transform,
        *([tuner] if tuner else []),
        trainer,
        evaluator,
        calendar,
        pusher,
    ]


@dataclass(frozen=True)
class InService:
    """What serves when the pipeline is built: pinned into local runs' cache keys.

    Empty on Kubeflow (``runtime_parameters``): the serving directory is the cluster's, and the
    steps read it when they run.
    """

    version: str = ""  # the TF Serving version NightlyPredictions scores with
    baseline_model_uri: str = ""  # the Trainer model of the newest push: the Evaluator's baseline


def model_base(cfg: PipelineConfig) -> str:
    """The Pusher's TF Serving base path, ``<serving_dir>/<model_name>``."""
    return os.path.join(cfg.serving_dir, cfg.model_name)


def _models_in_service(cfg: PipelineConfig) -> InService:
    from components.push_records import latest_push
    from components.serving_layout import latest_served_version

    if cfg.runtime_parameters:
        return InService()
    record = latest_push(model_base(cfg))
    return InService(
        version=latest_served_version(model_base(cfg)) or "",
        baseline_model_uri=record.model_uri if record else "",
    )


def run_metadata_config(address: str):
    """The ML Metadata connection a local run records into: a SQLite file or a MySQL database."""
    from pipeline.metadata.connection import connection_config, recording_address

    return connection_config(recording_address(address))


def create_pipeline(cfg: PipelineConfig) -> tfx.dsl.Pipeline:
    """Return the TFX pipeline for ``cfg``; runners differ only in the config they pass."""
    metadata = run_metadata_config(cfg.metadata_path) if cfg.metadata_path else None
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=cfg.pipeline_root,
        components=create_components(cfg),
        enable_cache=cfg.enable_cache,
        metadata_connection_config=metadata,
        beam_pipeline_args=cfg.beam.args(),
    )
