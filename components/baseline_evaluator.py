"""TFX's Evaluator, with its blessed baseline found from the Pusher's records, not a Resolver.

The baseline is the Trainer model of the newest push still in service (``components.
push_records``), the model the candidate must not fall behind. It replaces TFX's
latest-blessed-model Resolver, which the open-source Kubeflow backend cannot run
(``backend/src/v2/compiler/argocompiler/dag.go`` refuses resolver executors), with a record every
orchestrator can read. The first night (no push yet) has no baseline and is judged on the value
thresholds alone, as TFX does when a Resolver finds nothing.

``baseline_model_uri`` pins the baseline: the local runner reads the record when it builds the
pipeline and passes the URI, so the baseline is part of the Evaluator's cache key (a new blessed
model makes the same candidate be evaluated again, as a Resolver's new input did). Empty (the
compiled Kubeflow default), the executor reads the record when it runs.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
from tfx import version as tfx_version
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import artifact_utils, channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.push_records import latest_push

MODEL_BASE_KEY = "model_base"
BASELINE_MODEL_URI_KEY = "baseline_model_uri"
CODE_VERSION_KEY = "code_version"


def baseline_model(model_uri: str, model_id: int = 0) -> standard_artifacts.Model:
    """A Model artifact for a Trainer output named by URI, as the Evaluator reads one.

    TFX finds the serving model under ``Format-Serving`` for artifacts written by TFX >= 0.29,
    which it tells by the artifact's ``tfx_version`` property (``is_old_model_artifact``).
    """
    model = standard_artifacts.Model()
    model.uri = model_uri
    if model_id:
        model.id = model_id
    model.set_string_custom_property(artifact_utils.ARTIFACT_TFX_VERSION_CUSTOM_PROPERTY_KEY,
                                     tfx_version.__version__)
    return model


def baseline_uri(model_base: str, pinned: str) -> tuple[str, int]:
    """The baseline's Trainer model (URI, ML Metadata id): the pinned URI, else the newest push's.

    ``("", 0)`` when there is none yet.
    """
    if pinned:
        return pinned, 0
    record = latest_push(model_base)
    return (record.model_uri, record.model_id) if record else ("", 0)


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator executor, given the baseline the Pusher's records name."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        """Evaluate the candidate against the recorded baseline (none on the first night)."""
        properties = dict(exec_properties)
        properties.pop(CODE_VERSION_KEY, None)  # only a cache key
        model_base = properties.pop(MODEL_BASE_KEY)
        uri, model_id = baseline_uri(model_base, properties.pop(BASELINE_MODEL_URI_KEY, "") or "")
        inputs = dict(input_dict)
        inputs.pop(standard_component_specs.BASELINE_MODEL_KEY, None)
        if uri:
            inputs[standard_component_specs.BASELINE_MODEL_KEY] = [baseline_model(uri, model_id)]
        super().Do(inputs, output_dict, properties)


class BaselineEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """TFX's EvaluatorSpec plus where the push records are and an optional pinned baseline."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        MODEL_BASE_KEY: ExecutionParameter(type=str),
        BASELINE_MODEL_URI_KEY: ExecutionParameter(type=str, optional=True),
        CODE_VERSION_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        k: v
        for k, v in standard_component_specs.EvaluatorSpec.INPUTS.items()
        if k != standard_component_specs.BASELINE_MODEL_KEY
    }


class Evaluator(base_beam_component.BaseBeamComponent):
    """Evaluate a candidate model against the blessed baseline the push records name.

    Named ``Evaluator`` like TFX's: run summaries, reports and the MLflow export find its outputs
    by the last part of the execution type name, in old and new metadata stores alike.
    """

    SPEC_CLASS = BaselineEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        eval_config: tfma.EvalConfig | Any,
        model_base: str,
        baseline_model_uri: str | Any = "",
        code_version: str = "",
    ):
        """``model_base`` is the Pusher's ``<serving_dir>/<model_name>``, where records live."""
        spec = BaselineEvaluatorSpec(
            examples=examples,
            model=model,
            eval_config=eval_config,
            model_base=model_base,
            baseline_model_uri=baseline_model_uri,
            code_version=code_version,
            fairness_indicator_thresholds="null",
            example_splits="null",
            evaluation=channel.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=channel.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
