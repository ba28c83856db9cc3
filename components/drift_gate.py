"""DriftGate: compare the new night's statistics with the previous night's, and stop on drift.

Each run's newest night is its new span. TFDV computes the statistics of that night's valid nights
(every user's, labelled or not: the nightly statistics the feature job stored for the night) and
of the previous night in the span store, and compares them with the ``drift_comparator``
thresholds declared in ``schema/schema.pbtxt``. A distance beyond its threshold stops the run
before Transform with a report naming the feature and the distance, unless a person set the
override (``allow_drift``); the report is written either way, and says when it was overridden or
why nothing was compared. A drifted night is recorded as refused beside the span store
(``components.spans.refusals``), so no later training window takes it; an override, or a later
run that finds no drift, lifts the refusal.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import json
import os
from dataclasses import asdict, dataclass, field

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import defaults
from components.artifact_properties import LAST_NIGHT_PROPERTY
from components.artifacts import DriftReport, NightlyQuarantine
from components.file_io import gzip_lines, read_gzip_lines, read_jsonl

REPORT_FILE = "drift.json"
GATE = "DriftGate"


class DriftDetected(RuntimeError):
    """The new night's data drifted beyond the schema's thresholds; the message is the report."""


@dataclass(frozen=True)
class Distance:
    """One feature's distance between the two nights, and the schema's threshold for it."""

    feature: str
    measure: str
    distance: float
    threshold: float

    @property
    def drifted(self) -> bool:
        """True when the distance is beyond the threshold."""
        return self.distance > self.threshold


@dataclass
class DriftResult:
    """What the check compared and found."""

    status: str  # "ok", "drift", "overridden" or "not_checked"
    night: str | None = None
    previous_night: str | None = None
    nights: int = 0
    previous_nights: int = 0
    distances: list[Distance] = field(default_factory=list)
    reason: str = ""

    @property
    def drifted(self) -> list[Distance]:
        """The distances beyond their thresholds."""
        return [d for d in self.distances if d.drifted]

    def to_dict(self) -> dict:
        """Return the result as plain JSON-ready data."""
        out = asdict(self)
        out["drifted_features"] = [d.feature for d in self.drifted]
        return out

    def report(self) -> str:
        """Render the result for a person."""
        head = (
            f"night {self.night} ({self.nights} valid nights) vs previous night "
            f"{self.previous_night} ({self.previous_nights})"
        )
        if self.status == "not_checked":
            return f"drift not checked: {self.reason}"
        lines = [head]
        for d in sorted(self.distances, key=lambda d: -d.distance):
            mark = "DRIFT" if d.drifted else "ok"
            lines.append(
                f"  {mark:5} {d.feature}: {d.measure} {d.distance:.3f} (threshold {d.threshold})"
            )
        return "\n".join(lines)


def nights_by_date(ledger: list[dict]) -> dict[str, list[dict[str, float]]]:
    """Group the nightly features of the ledger's valid nights by night date."""
    out: dict[str, list[dict[str, float]]] = {}
    for entry in ledger:
        if entry.get("features") and entry.get("night_date"):
            out.setdefault(entry["night_date"], []).append(entry["features"])
    return out


def drift_features(schema) -> list[str]:
    """The features the schema declares a drift comparator for."""
    return [f.name for f in schema.feature if f.HasField("drift_comparator")]


def compare_nights(ledger: list[dict], schema, min_nights: int) -> DriftResult:
    """Compare the ledger's newest night with the previous night that has valid nights."""
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    names = drift_features(schema)
    if not names:
        return DriftResult("not_checked", reason="the schema declares no drift_comparator")
    by_date = nights_by_date(ledger)
    dates = sorted(by_date)
    if len(dates) < 2:
        return DriftResult(
            "not_checked",
            night=dates[-1] if dates else None,
            nights=len(by_date[dates[-1]]) if dates else 0,
            reason="no previous night with valid nights in the window",
        )
    night, previous = dates[-1], dates[-2]
    result = DriftResult(
        "ok",
        night=night,
        previous_night=previous,
        nights=len(by_date[night]),
        previous_nights=len(by_date[previous]),
    )
    if min(result.nights, result.previous_nights) < min_nights:
        result.status = "not_checked"
        result.reason = (
            f"too few valid nights to compare ({result.nights} on {night}, "
            f"{result.previous_nights} on {previous}; at least {min_nights} needed)"
        )
        return result

    def stats(rows: list[dict[str, float]]):
        frame = pd.DataFrame([{n: row.get(n) for n in names} for row in rows], columns=names)
        return tfdv.generate_statistics_from_dataframe(frame.astype("float32"))

    drift_schema = schema_pb2.Schema()
    for feature in schema.feature:
        if feature.name in names:
            kept = drift_schema.feature.add()
            kept.name = feature.name
            kept.type = feature.type
            kept.drift_comparator.CopyFrom(feature.drift_comparator)
    anomalies = tfdv.validate_statistics(
        stats(by_date[night]), drift_schema, previous_statistics=stats(by_date[previous])
    )
    for info in anomalies.drift_skew_info:
        for m in info.drift_measurements:
            result.distances.append(
                Distance(
                    feature=".".join(info.path.step),
                    measure=type(m).Type.Name(m.type).lower(),
                    distance=float(m.value),
                    threshold=float(m.threshold),
                )
            )
    result.status = "drift" if result.drifted else "ok"
    return result


def read_ledger(quarantine_uri: str) -> list[dict]:
    """Read the night ledger the feature job wrote into its quarantine artifact."""
    from components.quarantine_layout import NIGHT_LEDGER

    return read_jsonl(os.path.join(quarantine_uri, f"{NIGHT_LEDGER}-*.jsonl.gz"))


def night_and_previous(quarantine_uri: str, night: str, span_store: str) -> list[dict]:
    """The stored statistics of ``night`` and of the latest earlier night in the span store."""
    import datetime as dt

    from components.quarantine_layout import NIGHTLY_STATS, night_file
    from components.spans.store import SpanStore
    from transforms.features import HISTORY_NIGHTS

    lines = read_gzip_lines(os.path.join(quarantine_uri, night_file(NIGHTLY_STATS, night)))
    # The previous night with data: a night or two without uploads is skipped over.
    store = SpanStore(span_store)
    previous = store.latest_before(dt.date.fromisoformat(night), nights=HISTORY_NIGHTS)
    if previous is not None:  # checked against its entry (StoredFileError names the repair)
        lines = gzip_lines(store.read_verified(previous, previous.stats_file)) + lines
    return [json.loads(line) for line in lines]


@component
def DriftGate(  # noqa: N802
    quarantine: InputArtifact[NightlyQuarantine],
    schema: InputArtifact[standard_artifacts.Schema],
    report: OutputArtifact[DriftReport],
    span_store: Parameter[str],
    allow_drift: Parameter[int] = 0,
    min_nights: Parameter[int] = defaults.DRIFT_MIN_NIGHTS,
    # The fingerprint of this module's code (pipeline.code_version): a python-function component's
    # cache key holds no code, so without it changed code would be served from cache.
    code_version: Parameter[str] = "",
) -> None:
    """Write the drift report; raise ``DriftDetected`` on drift unless ``allow_drift``."""
    from tfx.utils import io_utils

    from components.spans.refusals import clear_refusal, record_refusal

    schema_proto = io_utils.SchemaReader().read(os.path.join(schema.uri, "schema.pbtxt"))
    night = quarantine.get_string_custom_property(LAST_NIGHT_PROPERTY)
    result = compare_nights(
        night_and_previous(quarantine.uri, night, span_store), schema_proto, min_nights
    )
    if result.status == "drift" and allow_drift:
        result.status = "overridden"
    io_utils.write_string_file(
        os.path.join(report.uri, REPORT_FILE), json.dumps(result.to_dict(), indent=2)
    )
    report.set_string_custom_property("status", result.status)
    report.set_string_custom_property("night", result.night or "")
    drifted = ",".join(d.feature for d in result.drifted)
    report.set_string_custom_property("drifted_features", drifted)
    if result.status == "drift":  # no later training window takes the drifted night
        drifted_text = ", ".join(f"{d.feature} {d.distance:.3f}" for d in result.drifted)
        record_refusal(
            span_store, [night], GATE, f"drift beyond the schema's threshold: {drifted_text}"
        )
    elif night:
        clear_refusal(span_store, [night], GATE)
    if result.status == "drift":
        raise DriftDetected(
            "the new night's data drifted from the previous night's beyond the thresholds in "
            "schema/schema.pbtxt; the run stops before Transform (set the drift override to "
            f"train anyway):\n{result.report()}"
        )
