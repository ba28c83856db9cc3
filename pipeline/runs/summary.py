"""What one pipeline run produced, read back from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from components.anomaly_wording import anomaly_descriptions, split_anomaly_lines
from components.artifact_properties import (
    FIRST_NIGHT_PROPERTY,
    LAST_NIGHT_PROPERTY,
    NIGHTS_INGESTED_PROPERTY,
)
from pipeline.metadata import store as md

METRICS_SHOWN = (
    "auc",
    "binary_accuracy",
    "recall",
    "specificity",
    "precision",
    "calibration",
    "example_count",
)
CALENDAR_SHOWN = ("accuracy", "sensitivity", "specificity", "precision")
# What a person reads for TFMA's metric keys (TFMA calls sensitivity "recall").
METRIC_LABELS = {"recall": "sensitivity", "binary_accuracy": "accuracy"}


@dataclass
class RunSummary:
    """The figures ``cyclecast run`` prints at the end."""

    run_id: str
    examples: dict[str, int] = field(default_factory=dict)
    quarantine: dict = field(default_factory=dict)
    anomalies: dict[str, dict[str, str]] = field(default_factory=dict)  # split -> feature -> why
    candidate: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    calendar: dict[str, float] = field(default_factory=dict)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)
    blessed: bool | None = None
    pushed_path: str | None = None
    executions: dict[str, str] = field(default_factory=dict)  # component -> state
    started: float | None = None  # seconds since the epoch, first execution's start
    duration_s: float | None = None  # first execution's start to the last one's end
    training: dict = field(default_factory=dict)  # Trainer's train_args and custom_config
    data: dict = field(default_factory=dict)  # raw-data root, span, window and input fingerprint
    drift: dict = field(default_factory=dict)  # DriftGate's report: status, nights, distances
    code: dict = field(default_factory=dict)  # git commit and code fingerprints

    @property
    def pushed_version(self) -> str | None:
        """The TF Serving version directory the run pushed, if it pushed one."""
        return os.path.basename(self.pushed_path.rstrip("/")) if self.pushed_path else None

    def to_dict(self) -> dict:
        """Return the summary as plain data (for --json)."""
        return dict(self.__dict__)


def _json_or_text(text):
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _tfma_metrics(eval_uri: str) -> tuple[dict, dict, dict]:
    """Overall candidate and baseline metrics, and the candidate's per-slice metrics."""
    import tensorflow_model_analysis as tfma

    candidate: dict[str, float] = {}
    baseline: dict[str, float] = {}
    slices: dict[str, dict[str, float]] = {}
    for result in tfma.load_metrics(eval_uri):
        slice_name = (
            ",".join(f"{c.column}={_slice_value(c)}" for c in result.slice_key.single_slice_keys)
            or "overall"
        )
        for kv in result.metric_keys_and_values:
            if kv.key.HasField("sub_key") or kv.key.is_diff:
                continue
            value = kv.value.double_value.value if kv.value.HasField("double_value") else None
            if value is None:
                continue
            target = baseline if kv.key.model_name == "baseline" else candidate
            if slice_name != "overall":
                if kv.key.model_name == "baseline":
                    continue
                target = slices.setdefault(slice_name, {})
            target[kv.key.name] = value
    return candidate, baseline, slices


def _slice_value(key) -> str:
    kind = key.WhichOneof("kind")
    value = getattr(key, kind)
    return value.decode() if isinstance(value, bytes) else str(value)


def read_anomalies(artifact: md.RecordedArtifact) -> dict[str, dict[str, str]]:
    """Each split's anomalies (feature -> what broke; empty when it matched the schema)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from components.anomaly_gate import SCHEMA_DIFF_FILE

    return {
        split: anomaly_descriptions(
            anomalies_pb2.Anomalies.FromString(
                md.read_bytes(os.path.join(artifact.split_uri(split), SCHEMA_DIFF_FILE))
            )
        )
        for split in artifact.split_names()
    }


def summarize_run(metadata_path: str, pipeline_name: str, run: str | None = "latest") -> RunSummary:
    """Collect a run's data, configuration, metrics and outcome.

    ``run`` is a run id, a unique prefix of one, or ``latest``/None for the latest run.
    """
    store = md.connect(metadata_path)
    return summarize_context(store, md.find_run(store, pipeline_name, run))


def summarize_context(store, context) -> RunSummary:
    """``summarize_run`` for a run context already found in an open store."""
    from components.calendar_baseline import METRICS_FILE
    from components.drift_gate import REPORT_FILE as DRIFT_REPORT_FILE
    from components.quarantine_layout import SUMMARY_FILE

    summary = RunSummary(run_id=context.name)
    summary.code = md.custom_props(context)
    executions = md.run_executions(store, context)
    if executions:
        summary.started = min(e.create_time_since_epoch for _, e in executions) / 1000.0
        summary.duration_s = (
            max(e.last_update_time_since_epoch for _, e in executions) / 1000.0 - summary.started
        )
    for name, execution in executions:
        summary.executions[name] = md.execution_state(execution)
        props = md.custom_props(execution)
        if name == "Trainer":
            summary.training = {
                k: _json_or_text(props.get(k)) for k in ("train_args", "eval_args", "custom_config")
            }
            config = summary.training.get("custom_config") or {}
            summary.code["trainer_code"] = config.get("code_version")
        elif name == "NightlyFeatureGen":
            summary.data.update(
                {k: props.get(k) for k in ("input_base", "span", "input_fingerprint")}
            )
            summary.code["feature_code"] = props.get("code_version")
    outputs = md.run_outputs(store, context)
    examples = outputs.get("NightlyFeatureGen.examples")
    if examples is not None and not summary.data.get("input_fingerprint"):
        # a cached feature job records no input of its own: the run's examples were made by an
        # earlier execution, whose properties say which raw data they came from
        producer, _ = md.producer_inputs(store, examples.artifact.id)
        if producer is not None:
            made_by = md.custom_props(producer)
            for key in ("input_base", "span", "input_fingerprint"):
                if summary.data.get(key) is None:
                    summary.data[key] = made_by.get(key)
    if examples is not None:  # what tonight ingested (also when the job came from the cache)
        if examples.prop("span") is not None:
            summary.data["span"] = examples.prop("span")
        if examples.prop(LAST_NIGHT_PROPERTY):
            summary.data["ingested"] = {
                "first_night": examples.prop(FIRST_NIGHT_PROPERTY),
                "last_night": examples.prop(LAST_NIGHT_PROPERTY),
                "nights": examples.prop(NIGHTS_INGESTED_PROPERTY),
            }
    window = outputs.get(md.WINDOW_EXAMPLES)
    if window is not None:  # what the model trained on: the window gathered from the span store
        keys = (FIRST_NIGHT_PROPERTY, LAST_NIGHT_PROPERTY, "nights", "nights_missing")
        for key in (*keys, "nights_refused", "train"):
            value = window.prop(key)
            if value is not None:
                summary.data[key] = value
        for split in ("train", "eval", "test"):
            n = window.prop(f"examples_{split}")
            if n is not None:
                summary.examples[split] = int(n)

    def json_file(key: str, name: str) -> dict:
        """A JSON file of the run's output ``key`` (empty when the run has no such output)."""
        return md.read_json(os.path.join(outputs[key].uri, name)) if key in outputs else {}

    summary.quarantine = json_file("NightlyFeatureGen.quarantine", SUMMARY_FILE)
    summary.drift = json_file("DriftGate.report", DRIFT_REPORT_FILE)
    summary.calendar = json_file("CalendarBaseline.metrics", METRICS_FILE)
    if "ExampleValidator.anomalies" in outputs:
        summary.anomalies = read_anomalies(outputs["ExampleValidator.anomalies"])
        summary.anomalies.update(population_anomalies(outputs))
    evaluation = outputs.get("Evaluator.evaluation")
    if evaluation is not None:
        summary.candidate, summary.baseline, summary.slices = _tfma_metrics(evaluation.uri)
    blessing = outputs.get("Evaluator.blessing")
    if blessing is not None:
        summary.blessed = bool(blessing.prop("blessed"))
    pushed = outputs.get("Pusher.pushed_model")
    if pushed is not None and pushed.prop("pushed"):
        summary.pushed_path = pushed.prop("pushed_destination")
    return summary


def population_anomalies(outputs: dict) -> dict[str, dict[str, str]]:
    """AnomalyGate's population check (shares of out-of-range nights), as one more "split"."""
    from components.population_checks import POPULATION, read_range_shares

    quarantine, schema = outputs.get("NightlyFeatureGen.quarantine"), outputs.get(
        "ImportSchemaGen.schema"
    )
    if quarantine is None or schema is None:
        return {}
    found = read_range_shares(quarantine.uri, schema.uri)
    return {POPULATION: {s.feature: s.what_broke() for s in found}} if found else {}


def nights_line(data: dict) -> str:
    """The nights a run ingested and the training window it gathered, as one line of text."""
    ingested = data.get("ingested")
    if not ingested and not data.get("last_night"):
        return "every night under the data root"
    parts = []
    if ingested:
        first, last = ingested.get("first_night"), ingested.get("last_night")
        what = last if first == last else f"{first}..{last}"
        nights = ingested.get("nights")
        parts.append(f"ingested {what} ({nights} night(s), span {data.get('span')})")
    if data.get("train") == 0:
        parts.append("no training tonight (train-every)")
    elif data.get("last_night"):
        missing, refused = data.get("nights_missing"), data.get("nights_refused")
        parts.append(
            f"window {data.get('first_night')}..{data['last_night']} ({data.get('nights')} nights"
            + (f", {missing} without data" if missing else "")
            + (f", {refused} refused by a gate and left out" if refused else "")
            + ")"
        )
    return "; ".join(parts)


def drift_line(drift: dict) -> str:
    """The drift check's outcome, as one line of text."""
    if not drift:
        return "not recorded"
    if drift["status"] == "not_checked":
        return f"not checked: {drift['reason']}"
    worst = max(drift["distances"], key=lambda d: d["distance"])
    head = {"ok": "none", "overridden": "OVERRIDDEN", "drift": "DRIFT"}[drift["status"]]
    flagged = ", ".join(drift["drifted_features"]) or "nothing beyond threshold"
    return (
        f"{head}: {drift['night']} vs {drift['previous_night']}, {flagged}; largest "
        f"{worst['feature']} {worst['distance']:.3f} (threshold {worst['threshold']})"
    )


def metric_label(key: str) -> str:
    """What a person reads for a metric key (``recall`` -> ``sensitivity``)."""
    return METRIC_LABELS.get(key, key)


def metrics_line(metrics: dict, names: tuple[str, ...] = METRICS_SHOWN) -> str:
    """``label=value`` for the named metrics present, or ``none``."""
    return (
        "  ".join(f"{metric_label(k)}={metrics[k]:.3f}" for k in names if k in metrics) or "none"
    )


def anomalies_lines(anomalies: dict[str, dict[str, str]]) -> list[str]:
    """The schema check's outcome: one line, then one per anomaly (split, feature, what broke)."""
    if not anomalies:
        return ["anomalies          not checked (ExampleValidator did not run)"]
    found = [(split, f, what) for split, by in anomalies.items() for f, what in by.items()]
    if not found:
        return ["anomalies          none (the schema check passed)"]
    splits = sorted({split for split, _, _ in found})
    head = f"anomalies          {len(found)} in {', '.join(splits)} (the schema check failed)"
    return [head, *split_anomaly_lines(anomalies)]


def format_run_summary(s: RunSummary) -> str:
    """Render the run summary for a person."""
    cal = s.calendar
    lines = [
        f"run                {s.run_id}",
        f"examples           {', '.join(f'{k}={v}' for k, v in s.examples.items())}",
        f"rejected           rows={sum(s.quarantine.get('rows_rejected_by_reason', {}).values())}"
        f"  files={sum(s.quarantine.get('files_rejected_by_reason', {}).values())}"
        f"  invalid nights={sum(s.quarantine.get('nights_invalid_by_reason', {}).values())}",
        f"nights             {nights_line(s.data)}",
        *anomalies_lines(s.anomalies),
        f"drift              {drift_line(s.drift)}",
        f"model              {metrics_line(s.candidate)}",
        f"baseline model     {metrics_line(s.baseline) if s.baseline else 'none yet (first run)'}",
    ]
    for name, metrics in sorted(s.slices.items()):
        lines.append(f"  slice {name:<12} {metrics_line(metrics)}")
    if cal:
        lines.append(
            f"calendar rule      {metrics_line(cal, CALENDAR_SHOWN)}"
            f"  (same eval split)"
        )
    lines.append(f"blessed            {'yes' if s.blessed else 'no'}")
    lines.append(f"pushed             {s.pushed_path or 'nothing pushed'}")
    return "\n".join(lines)
