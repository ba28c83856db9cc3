"""What one pipeline run produced, read back from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.artifacts import BaselineMetrics, DriftReport, NightlyQuarantine
from components.calendar_baseline import METRICS_FILE
from components.drift_gate import REPORT_FILE as DRIFT_REPORT_FILE
from components.nightly_features.beam_job import SUMMARY_FILE

METRICS_SHOWN = (
    "auc",
    "binary_accuracy",
    "recall",
    "specificity",
    "precision",
    "calibration",
    "example_count",
)


@dataclass
class RunSummary:
    """The figures ``cyclecast run`` prints at the end."""

    run_id: str
    examples: dict[str, int] = field(default_factory=dict)
    quarantine: dict = field(default_factory=dict)
    anomalies: dict[str, str] = field(default_factory=dict)
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


def connect(metadata_path: str) -> metadata_store.MetadataStore:
    """Open the local SQLite ML Metadata store read-write (it must exist)."""
    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"no ML Metadata store at {metadata_path}")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    return metadata_store.MetadataStore(config)


def run_contexts(store: metadata_store.MetadataStore, pipeline_name: str) -> list:
    """The pipeline's ``pipeline_run`` contexts, oldest first."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    ours = {e.id for e in store.get_executions_by_context(pipeline.id)}
    runs = [
        c
        for c in store.get_contexts_by_type("pipeline_run")
        if any(e.id in ours for e in store.get_executions_by_context(c.id))
    ]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.name))


def find_run(store: metadata_store.MetadataStore, pipeline_name: str, run_id: str | None):
    """The run whose id is ``run_id`` or starts with it; the latest when ``run_id`` is None."""
    runs = run_contexts(store, pipeline_name)
    if not runs:
        raise LookupError(f"no run of {pipeline_name} recorded yet")
    if run_id is None or run_id == "latest":
        return runs[-1]
    matches = [c for c in runs if c.name.startswith(run_id)]
    if len(matches) != 1:
        known = ", ".join(c.name for c in runs[-5:])
        what = "no run" if not matches else f"{len(matches)} runs"
        raise LookupError(f"{what} matching {run_id!r}; latest runs: {known}")
    return matches[0]


def prop_value(value):
    """The Python value of an ML Metadata property value (None when unset)."""
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def _json_or_text(text):
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _prop(artifact, name: str):
    value = artifact.custom_properties.get(name)
    return None if value is None else prop_value(value)


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


def summarize_run(metadata_path: str, pipeline_name: str, run_id: str | None = None) -> RunSummary:
    """Collect a run's (the latest by default) data, configuration, metrics and outcome."""
    store = connect(metadata_path)
    run = find_run(store, pipeline_name, run_id)
    summary = RunSummary(run_id=run.name)
    summary.code = {k: prop_value(v) for k, v in run.custom_properties.items()}
    types = {t.id: t.name for t in store.get_artifact_types()}
    exec_types = {t.id: t.name for t in store.get_execution_types()}
    executions = store.get_executions_by_context(run.id)
    if executions:
        summary.started = min(e.create_time_since_epoch for e in executions) / 1000.0
        summary.duration_s = (
            max(e.last_update_time_since_epoch for e in executions) / 1000.0 - summary.started
        )
    for execution in executions:
        name = exec_types.get(execution.type_id, "?").rsplit(".", 1)[-1]
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        summary.executions[name] = state
        props = {k: prop_value(v) for k, v in execution.custom_properties.items()}
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
    for artifact in store.get_artifacts_by_context(run.id):
        kind = types.get(artifact.type_id)
        if kind == "Examples":
            for key in ("first_night", "last_night"):
                value = _prop(artifact, key)
                if value is not None:
                    summary.data[key] = value
            if "span" in artifact.properties:  # also when the feature job came from the cache
                summary.data["span"] = artifact.properties["span"].int_value
            for split in ("train", "eval", "test"):
                n = _prop(artifact, f"examples_{split}")
                if n is not None:
                    summary.examples[split] = int(n)
        elif kind == NightlyQuarantine.TYPE_NAME:
            with open(os.path.join(artifact.uri, SUMMARY_FILE)) as f:
                summary.quarantine = json.load(f)
        elif kind == "ModelEvaluation":
            summary.candidate, summary.baseline, summary.slices = _tfma_metrics(artifact.uri)
        elif kind == "ModelBlessing":
            summary.blessed = bool(_prop(artifact, "blessed"))
        elif kind == "PushedModel" and _prop(artifact, "pushed"):
            summary.pushed_path = _prop(artifact, "pushed_destination")
        elif kind == DriftReport.TYPE_NAME:
            with open(os.path.join(artifact.uri, DRIFT_REPORT_FILE)) as f:
                summary.drift = json.load(f)
        elif kind == BaselineMetrics.TYPE_NAME:
            with open(os.path.join(artifact.uri, METRICS_FILE)) as f:
                summary.calendar = json.load(f)
    return summary


def nights_line(data: dict) -> str:
    """The nights a run's examples cover, as one line of text."""
    if not data.get("last_night"):
        return "every night under the data root"
    return f"{data.get('first_night') or 'start'}..{data['last_night']} (span {data.get('span')})"


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


def metrics_line(metrics: dict, names: tuple[str, ...] = METRICS_SHOWN) -> str:
    """``name=value`` for the named metrics present, or ``none``."""
    return "  ".join(f"{k}={metrics[k]:.3f}" for k in names if k in metrics) or "none"


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
        "anomalies          none (the schema check passed)",
        f"drift              {drift_line(s.drift)}",
        f"model              {metrics_line(s.candidate)}",
        f"baseline model     {metrics_line(s.baseline) if s.baseline else 'none yet (first run)'}",
    ]
    for name, metrics in sorted(s.slices.items()):
        lines.append(f"  slice {name:<12} {metrics_line(metrics)}")
    if cal:
        lines.append(
            f"calendar rule      accuracy={cal['accuracy']:.3f}  recall={cal['sensitivity']:.3f}"
            f"  specificity={cal['specificity']:.3f}  precision={cal['precision']:.3f}"
            f"  (same eval split)"
        )
    lines.append(f"blessed            {'yes' if s.blessed else 'no'}")
    lines.append(f"pushed             {s.pushed_path or 'nothing pushed'}")
    return "\n".join(lines)
