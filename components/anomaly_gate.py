"""AnomalyGate: stop the run when ExampleValidator found anomalies, with a readable report.

TFX's ExampleValidator records anomalies but does not stop anything; Transform is made to depend on
this gate, so a run with anomalies ends here, before any training, and says what was wrong.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import os

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.anomaly_wording import anomaly_descriptions, split_anomaly_lines

SCHEMA_DIFF_FILE = "SchemaDiff.pb"


class AnomaliesFound(RuntimeError):
    """The data broke the schema; the message is the report."""


def anomalies_report(anomalies_by_split: dict) -> str:
    """Render ``{split: Anomalies proto}`` as lines a person can act on (empty if none)."""
    return "\n".join(
        split_anomaly_lines(
            {split: anomaly_descriptions(a) for split, a in sorted(anomalies_by_split.items())}
        )
    )


def read_anomalies(artifact: standard_artifacts.ExampleAnomalies) -> dict:
    """Load each split's Anomalies proto from an ExampleValidator output."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.utils import io_utils

    out = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), SCHEMA_DIFF_FILE)
        proto = anomalies_pb2.Anomalies()
        proto.ParseFromString(io_utils.read_bytes_file(path))
        out[split] = proto
    return out


@component
def AnomalyGate(  # noqa: N802
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    # The fingerprint of this module's code (pipeline.code_version): a python-function component's
    # cache key holds no code, so without it changed code would be served from cache.
    code_version: Parameter[str] = "",
) -> None:
    """Raise ``AnomaliesFound`` with the report when any split has an anomaly."""
    report = anomalies_report(read_anomalies(anomalies))
    if report:
        raise AnomaliesFound(
            "ExampleValidator found anomalies against schema/schema.pbtxt; the run stops "
            f"before Transform and nothing is trained or pushed:\n{report}"
        )
