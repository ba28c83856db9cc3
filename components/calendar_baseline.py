"""CalendarBaseline: the calendar rule scored on the same split the Evaluator scores the model on.

Recorded as an artifact in ML Metadata, so every run shows what the sensors add over the calendar.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.artifacts import BaselineMetrics

METRICS_FILE = "metrics.json"


def score_calendar_rule(examples_pattern: str) -> dict[str, float]:
    """Read examples and return the calendar rule's metrics against their labels."""
    from components.calendar_rule import score_examples
    from transforms.tf_example import read_examples

    rows = read_examples(examples_pattern)
    if not rows:
        raise ValueError(f"no examples match {examples_pattern}")
    return score_examples(rows)


@component
def CalendarBaseline(  # noqa: N802
    examples: InputArtifact[standard_artifacts.Examples],
    metrics: OutputArtifact[BaselineMetrics],
    split: Parameter[str] = "eval",
    # The fingerprint of this module's code (pipeline.code_version): a python-function component's
    # cache key holds no code, so without it changed code would be served from cache.
    code_version: Parameter[str] = "",
) -> None:
    """Score the calendar rule on ``split`` and write ``metrics.json``."""
    from tfx.types import artifact_utils

    split_uri = artifact_utils.get_split_uri([examples], split)
    result = score_calendar_rule(os.path.join(split_uri, "*.gz"))
    result["split"] = split
    from tfx.utils import io_utils

    io_utils.write_string_file(
        os.path.join(metrics.uri, METRICS_FILE), json.dumps(result, indent=2, sort_keys=True)
    )
    for key in ("accuracy", "sensitivity", "specificity", "precision"):
        metrics.set_float_custom_property(key, result[key])
