"""Kubeflow Pipelines: the same ``create_pipeline(config)`` compiled to a KFP v2 pipeline spec.

The cluster configuration lives in a TOML file (``pipeline/configs/kubeflow.toml``): pipeline root,
data and serving locations, the component image and the Beam arguments. Training arguments and the
evaluation config (with its thresholds) are run-time parameters of the compiled pipeline.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.config import (
    REPO_ROOT,
    BeamConfig,
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
    if "extra_args" in beam:
        beam["extra_args"] = tuple(beam["extra_args"])
    training = raw.pop("training", {})
    if "hparams" in training:
        training["hparams"] = tuple(sorted(training["hparams"].items()))
    evaluation = raw.pop("evaluation", {})
    pipeline = _build(PipelineConfig, {
        **raw,
        "beam": _build(BeamConfig, beam, f"{path} [beam]"),
        "training": _build(TrainingConfig, training, f"{path} [training]"),
        "evaluation": _build(EvaluationConfig, evaluation, f"{path} [evaluation]"),
        "runtime_parameters": True,
        "metadata_path": None,
    }, str(path))
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
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=config.image),
        output_dir=str(output.parent),
        output_filename=output.name,
    )
    runner.run(create_pipeline(config.pipeline))
    return output
