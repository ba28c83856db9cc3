"""AnomalyGate: stop the run when the night's population breaks the schema, with a readable report.

It judges the population, never one user: a user-night outside the schema's ranges was already
quarantined at ingest (``transforms.night_ranges``), so what reaches it is

- ExampleValidator's anomalies over the examples of the nights ingested (a missing feature, a
  wrong type: the dataset's shape), and
- the share of each night's nights that the schema's range refused, per feature, beyond the
  schema's limit (``components.population_checks``; one night alone never trips it).

TFX's ExampleValidator records anomalies but does not stop anything; Transform is made to depend on
this gate, so a run with anomalies ends here, before any training, and says what was wrong. The
nights it refuses are recorded beside the span store (``components.spans.refusals``), so no later
training window takes them; nights it passes lose an earlier refusal. NightlyPredictions does not
wait for it: the valid users' answers are published whatever the gate decides.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.anomaly_wording import anomaly_descriptions, split_anomaly_lines
from components.artifacts import NightlyQuarantine

SCHEMA_DIFF_FILE = "SchemaDiff.pb"
GATE = "AnomalyGate"


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


def judged_nights(quarantine_uri: str) -> list[str]:
    """The nights the ingest wrote (its plan's), which the gate judges; none for an undated run."""
    from components.file_io import read_bytes
    from components.quarantine_layout import PLAN_FILE

    plan = read_bytes(os.path.join(quarantine_uri, PLAN_FILE))
    return sorted(json.loads(plan)["ingest"]) if plan else []


def population_report(quarantine_uri: str, schema_uri: str) -> tuple[str, dict[str, str]]:
    """The out-of-range shares beyond the schema's limits, as text, and each night's findings."""
    from components.population_checks import read_range_shares

    found = read_range_shares(quarantine_uri, schema_uri)
    by_night: dict[str, list[str]] = {}
    for share in found:
        by_night.setdefault(share.night, []).append(share.describe())
    text = "\n".join(f"  {share.describe()}" for share in found)
    return text, {night: "; ".join(lines) for night, lines in by_night.items()}


def refused_nights(nights: list[str], report: str, share_nights: dict[str, str]) -> dict[str, str]:
    """``{night: why}`` of the judged nights the gate refuses.

    ExampleValidator's anomalies are of the whole ingest (its statistics don't say which night),
    so they refuse every night judged; a share of out-of-range nights refuses its own night.
    """
    why = {n: share_nights[n] for n in nights if n in share_nights}
    if report:
        tfdv = report.strip().split("\n")[0]
        why = {n: "; ".join(filter(None, (tfdv, why.get(n)))) for n in nights}
    return why


@component
def AnomalyGate(  # noqa: N802
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    quarantine: InputArtifact[NightlyQuarantine],
    schema: InputArtifact[standard_artifacts.Schema],
    span_store: Parameter[str] = "",
    # The fingerprint of this module's code (pipeline.code_version): a python-function component's
    # cache key holds no code, so without it changed code would be served from cache.
    code_version: Parameter[str] = "",
) -> None:
    """Raise ``AnomaliesFound`` with the report when the night's population breaks the schema."""
    from components.spans.refusals import clear_refusal, record_refusal

    report = anomalies_report(read_anomalies(anomalies))
    shares, share_nights = population_report(quarantine.uri, schema.uri)
    nights = judged_nights(quarantine.uri)
    why = refused_nights(nights, report, share_nights)
    refused = set(why)
    if span_store and nights:
        for night, reason in sorted(why.items()):
            record_refusal(span_store, [night], GATE, reason)
        clear_refusal(span_store, sorted(set(nights) - refused), GATE)
    parts = []
    if report:
        parts.append(f"ExampleValidator found anomalies against schema/schema.pbtxt:\n{report}")
    if shares:
        parts.append(f"too many nights outside the schema's ranges:\n{shares}")
    if parts:
        raise AnomaliesFound(
            "\n".join(parts) + "\nthe run stops before Transform and nothing is trained or "
            f"pushed; nights refused for every training window: {', '.join(sorted(refused))}"
        )
