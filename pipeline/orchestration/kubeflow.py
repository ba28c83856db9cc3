"""Kubeflow Pipelines: the same ``create_pipeline(config)`` compiled to a KFP v2 pipeline spec.

The cluster configuration lives in a TOML file (``pipeline/configs/kubeflow.toml``): pipeline root,
data and serving locations, the component image and the Beam arguments. Training arguments and the
evaluation config (with its thresholds) are run-time parameters of the compiled pipeline.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.config import (
    REPO_ROOT,
    BeamConfig,
    DriftConfig,
    EvaluationConfig,
    PipelineConfig,
    TrainingConfig,
)

DEFAULT_KUBEFLOW_CONFIG = REPO_ROOT / "pipeline" / "configs" / "kubeflow.toml"


class ConfigError(ValueError):
    """A configuration file is missing a key or has one it does not know."""


@dataclass(frozen=True)
class KubeflowConfig:
    """What compiling for Kubeflow needs beyond the pipeline config."""

    pipeline: PipelineConfig
    image: str


def _build(cls, values: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


def load_kubeflow_config(path: str | Path = DEFAULT_KUBEFLOW_CONFIG) -> KubeflowConfig:
    """Read a TOML cluster configuration into typed config objects."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    raw = dict(raw)
    image = raw.pop("image", None)
    if not image:
        raise ConfigError(f"{path}: 'image' (the component image) is required")
    beam = raw.pop("beam", {})
    profile = raw.pop("beam_profile", None)
    if profile and beam:
        raise ConfigError(f"{path}: give either beam_profile or a [beam] table, not both")
    if "extra_args" in beam:
        beam["extra_args"] = tuple(beam["extra_args"])
    training = raw.pop("training", {})
    if "hparams" in training:
        training["hparams"] = tuple(sorted(training["hparams"].items()))
    evaluation = raw.pop("evaluation", {})
    drift = raw.pop("drift", {})
    pipeline = _build(
        PipelineConfig,
        {
            **raw,
            "beam": BeamConfig.from_profile(profile)
            if profile
            else _build(BeamConfig, beam, f"{path} [beam]"),
            "training": _build(TrainingConfig, training, f"{path} [training]"),
            "evaluation": _build(EvaluationConfig, evaluation, f"{path} [evaluation]"),
            "drift": _build(DriftConfig, drift, f"{path} [drift]"),
            "runtime_parameters": True,
            "metadata_path": None,
        },
        str(path),
    )
    return KubeflowConfig(pipeline=pipeline, image=image)


def compile_pipeline(config: KubeflowConfig, output: str | Path) -> Path:
    """Compile with KubeflowV2DagRunner and write the pipeline spec (JSON) to ``output``."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():
        output.unlink()  # the runner refuses to overwrite; a compile replaces the spec
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        # Schema 2.1.0: the open-source API server accepts no other (apiserver/template/template.go)
        # and its driver reads constants only in that form.
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=config.image, use_pipeline_spec_2_1=True
        ),
        output_dir=str(output.parent),
        output_filename=output.name,
    )
    runner.run(create_pipeline(config.pipeline))
    spec = json.loads(output.read_text())
    _never_cache_raw_ingestion(spec)
    _conditions_on_declared_inputs(spec)
    _through_the_component_entrypoint(spec)
    _runtime_parameter_defaults(spec, config.pipeline)
    output.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    return output


def _runtime_parameter_defaults(spec: dict, cfg: PipelineConfig) -> None:
    """Write each run-time parameter's default into the root's input definitions.

    TFX 1.16's schema-2.1.0 output drops them, and the open-source API server refuses a run that
    gives no value for a parameter with no default (apiserver/template/v2_template.go,
    ``validatePipelineJobInputs``): without this, every ``submit`` would have to pass both.
    """
    from pipeline.pipeline import runtime_parameter_defaults

    definitions = spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    for name, default in runtime_parameter_defaults(cfg).items():
        definitions[name]["defaultValue"] = default


def _through_the_component_entrypoint(spec: dict) -> None:
    """Run every container task through cyclecast's entrypoint, not TFX's directly.

    ``pipeline.orchestration.kfp_entrypoint`` hands TFX's entrypoint what the open-source driver
    and launcher pass (empty instance schemas, the ``executor-logs`` output, ``minio://`` URIs)
    in the form TFX reads; the compiled args tell it each input's TFX type.
    """
    from pipeline.orchestration.kfp_entrypoint import container_for

    inner = spec["pipelineSpec"]
    executors = inner["deploymentSpec"]["executors"]
    for component in inner["components"].values():
        executor = executors[component["executorLabel"]]
        if "container" in executor:
            executor["container"] = container_for(executor["container"], component)


def _never_cache_raw_ingestion(spec: dict) -> None:
    """Turn Kubeflow's cache off for NightlyFeatureGen.

    Locally the component's driver fingerprints the raw files and the cycle log, so new data is
    never served from cache. Kubeflow v2 runs only executors (custom drivers are not compiled),
    and its cache key would be the same every night although the raw data changed.
    """
    task = spec["pipelineSpec"]["root"]["dag"]["tasks"]["NightlyFeatureGen"]
    task["cachingOptions"] = {"enableCache": False}


def _conditions_on_declared_inputs(spec: dict) -> None:
    """Point each trigger condition at an input artifact its task declares.

    TFX 1.16's Kubeflow v2 compiler names a ``Cond``'s artifact ``_<Producer>.<output>`` in the
    condition; it adds that input to most tasks, but a python-function component that already
    takes the same artifact under its own key (CalendarBaseline's ``examples``) gets the condition
    without the input, which the launcher could not resolve. The condition is rewritten to the
    key the task does declare for the same producer output.
    """
    for task in spec["pipelineSpec"]["root"]["dag"]["tasks"].values():
        condition = task.get("triggerPolicy", {}).get("condition")
        if not condition:
            continue
        artifacts = task.get("inputs", {}).get("artifacts", {})
        for key in re.findall(r"inputs\.artifacts\['([^']+)'\]", condition):
            if key in artifacts or not key.startswith("_") or "." not in key:
                continue
            producer, output = key[1:].split(".", 1)
            same = [
                k
                for k, ref in artifacts.items()
                if ref.get("taskOutputArtifact")
                == {"producerTask": producer, "outputArtifactKey": output}
            ]
            if not same:
                raise ValueError(f"condition {condition!r} names an input the task lacks")
            condition = condition.replace(f"['{key}']", f"['{same[0]}']")
        task["triggerPolicy"]["condition"] = condition


TRAINING_KEYS = {"train_steps"}
EVALUATION_KEYS = {f.name for f in fields(EvaluationConfig)}


def runtime_parameter_values(config: KubeflowConfig, overrides: dict[str, str]) -> dict[str, str]:
    """Turn friendly ``--param`` keys into the compiled pipeline's run-time parameters.

    ``train_steps`` sets ``train_args``; ``min_auc``, ``min_sensitivity``, ``min_specificity``,
    ``max_auc_drop`` and ``decision_threshold`` rebuild ``eval_config``. The raw parameters
    (``train_args``, ``eval_config``) may also be given as JSON.
    """
    from google.protobuf import json_format
    from tfx import v1 as tfx

    from pipeline.eval_config import make_eval_config
    from pipeline.pipeline import EVAL_CONFIG_PARAMETER, TRAIN_ARGS_PARAMETER

    raw = {k: v for k, v in overrides.items() if k in (TRAIN_ARGS_PARAMETER, EVAL_CONFIG_PARAMETER)}
    known = TRAINING_KEYS | EVALUATION_KEYS | {TRAIN_ARGS_PARAMETER, EVAL_CONFIG_PARAMETER}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
    values: dict[str, str] = {}
    if "train_steps" in overrides:
        steps = int(overrides["train_steps"])
        if steps < 1:
            raise ConfigError("train_steps must be at least 1")
        values[TRAIN_ARGS_PARAMETER] = json_format.MessageToJson(
            tfx.proto.TrainArgs(num_steps=steps)
        )
    evaluation = {k: float(v) for k, v in overrides.items() if k in EVALUATION_KEYS}
    if evaluation:
        merged = _build(
            EvaluationConfig, {**config.pipeline.evaluation.__dict__, **evaluation}, "--param"
        )
        values[EVAL_CONFIG_PARAMETER] = json_format.MessageToJson(
            make_eval_config(merged), sort_keys=True
        )
    values.update(raw)
    return values


def schema_fingerprint_in(spec: dict) -> str:
    """The schema's content fingerprint compiled into ``spec`` (ImportSchemaGen's parameter)."""
    from components.schema_import import SCHEMA_FINGERPRINT_KEY

    task = spec["pipelineSpec"]["root"]["dag"]["tasks"]["ImportSchemaGen"]
    return task["inputs"]["parameters"][SCHEMA_FINGERPRINT_KEY]["runtimeValue"]["constant"]


def stable_spec(spec: dict) -> dict:
    """The compiled spec without what changes on every build (SDK version, fingerprints).

    The code and schema fingerprints change with every edit of the code or the schema, not with the
    pipeline's shape. The golden test compares this with ``tests/golden/kfp_pipeline.json``.
    """
    import copy

    from pipeline.code_version import code_fingerprints

    spec = copy.deepcopy(spec)
    spec.pop("labels", None)
    spec["pipelineSpec"].pop("sdkVersion", None)
    text = json.dumps(spec, sort_keys=True)
    for fingerprint in code_fingerprints().values():
        text = text.replace(fingerprint, "<code fingerprint>")
    text = text.replace(schema_fingerprint_in(spec), "<schema fingerprint>")
    return json.loads(text)
