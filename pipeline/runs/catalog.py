"""``cyclecast runs`` and ``cyclecast models``: experiments and models, read from ML Metadata.

TFX records every run, artifact and lineage edge; these commands make that usable: each run's
configuration, data, code version, duration, metrics and outcome, side by side; and each pushed
model version traced back to its run, its examples and the raw data they came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pipeline.metadata import store as md
from pipeline.metadata.pushed_models import pushed_versions, select_version
from pipeline.runs.summary import RunSummary, metric_label, metrics_line, summarize_context

COMPARED_METRICS = ("auc", "recall", "specificity", "precision", "binary_accuracy", "calibration")
# The pushed model's custom properties that say where it is registered in MLflow (written by
# pipeline.runs.mlflow_registry), without the prefix: tracking_uri, registered_model, version,
# run_id, alias.
REGISTRY_PREFIX = "mlflow_"

def list_runs(metadata_path: str, pipeline_name: str) -> list[RunSummary]:
    """Every run of the pipeline, oldest first."""
    store = md.connect(metadata_path)
    return [summarize_context(store, c) for c in md.run_contexts(store, pipeline_name)]


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_runs_table(runs: list[RunSummary]) -> str:
    """One line per run: id, start, duration, train steps, AUC, sensitivity, blessed, pushed."""
    header = (
        f"{'run':<28} {'started (UTC)':<19} {'took':>6} {'steps':>6} {'auc':>6} "
        f"{'sens':>6} {'spec':>6} {'blessed':>7}  pushed"
    )
    lines = [header]
    for r in runs:
        steps = (r.training.get("train_args") or {}).get("num_steps", "-")
        m = r.candidate
        cells = [
            f"{m[k]:>6.3f}" if k in m else f"{'-':>6}" for k in ("auc", "recall", "specificity")
        ]
        took = f"{r.duration_s:>5.0f}s" if r.duration_s is not None else f"{'-':>6}"
        blessed = {True: "yes", False: "no", None: "-"}[r.blessed]
        lines.append(
            f"{r.run_id:<28} {_when(r.started):<19} {took} {steps!s:>6} "
            f"{' '.join(cells)} {blessed:>7}  {r.pushed_version or '-'}"
        )
    return "\n".join(lines)


def run_record(r: RunSummary) -> dict:
    """A run as plain data (``--json``)."""
    return {**r.to_dict(), "pushed_version": r.pushed_version}


def flatten(value, prefix: str = "", out: dict | None = None) -> dict:
    """Nested dicts as one dict with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out)
    else:
        out[prefix] = value
    return out


def run_settings(r: RunSummary) -> dict:
    """A run's configuration, data and code, flattened (``training.train_args.num_steps``...)."""
    return flatten({"training": r.training, "data": r.data, "code": r.code})


def compare_runs(a: RunSummary, b: RunSummary) -> dict:
    """Differences between two runs: configuration, data and code, and metric deltas (b - a)."""
    left, right = run_settings(a), run_settings(b)
    changed = {
        k: (left.get(k), right.get(k))
        for k in sorted(set(left) | set(right))
        if left.get(k) != right.get(k) and k != "code.config"
    }
    metrics = {
        metric_label(k): (
            a.candidate.get(k),
            b.candidate.get(k),
            b.candidate[k] - a.candidate[k] if k in a.candidate and k in b.candidate else None,
        )
        for k in COMPARED_METRICS
    }
    return {
        "runs": [a.run_id, b.run_id],
        "changed": changed,
        "metrics": metrics,
        "blessed": [a.blessed, b.blessed],
        "pushed": [a.pushed_version, b.pushed_version],
    }


def format_comparison(c: dict) -> str:
    """Render ``compare_runs`` for a person."""
    a, b = c["runs"]
    lines = [f"{'':<22} {a:>28} {b:>28} {'change':>10}"]
    for k, (x, y, d) in c["metrics"].items():
        fx = f"{x:.3f}" if x is not None else "-"
        fy = f"{y:.3f}" if y is not None else "-"
        fd = f"{d:+.3f}" if d is not None else "-"
        lines.append(f"{k:<22} {fx:>28} {fy:>28} {fd:>10}")
    lines.append(f"{'blessed':<22} {c['blessed'][0]!s:>28} {c['blessed'][1]!s:>28}")
    lines.append(f"{'pushed':<22} {c['pushed'][0]!s:>28} {c['pushed'][1]!s:>28}")
    lines.append(
        "configuration, data and code that differ:"
        if c["changed"]
        else "same configuration, data and code"
    )
    for k, (x, y) in c["changed"].items():
        lines.append(f"  {k}: {x!s:.60} -> {y!s:.60}")
    return "\n".join(lines)


@dataclass
class ModelVersion:
    """A pushed model version and where it came from."""

    version: str
    path: str
    run_id: str | None = None
    model_uri: str | None = None
    examples_uri: str | None = None
    transformed_examples_uri: str | None = None
    data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    artifact_id: int | None = None  # the PushedModel artifact in ML Metadata
    registry: dict = field(default_factory=dict)  # where it is registered in MLflow, if it is

    def to_dict(self) -> dict:
        """Plain data (``--json``)."""
        return dict(self.__dict__)


def registry_of(pushed_artifact) -> dict:
    """Where a pushed model is registered in MLflow, as recorded on it (empty when it is not)."""
    return {
        k.removeprefix(REGISTRY_PREFIX): v
        for k, v in md.custom_props(pushed_artifact).items()
        if k.startswith(REGISTRY_PREFIX)
    }


def list_models(metadata_path: str, pipeline_name: str) -> list[ModelVersion]:
    """Pushed model versions, oldest first, each traced to its run, examples and raw data."""
    store = md.connect(metadata_path)
    runs = md.run_contexts(store, pipeline_name)
    versions = []
    for pv in pushed_versions(store):
        pushed = pv.artifact
        mv = ModelVersion(
            version=pv.version,
            path=pv.path,
            artifact_id=pushed.artifact.id,
            registry=registry_of(pushed.artifact),
        )
        pusher, inputs = md.producer_inputs(store, pushed.artifact.id)
        run = None
        if pusher is not None:
            run_ids = {c.id for c in md.contexts_of_execution(store, pusher.id)}
            run = next((c for c in runs if c.id in run_ids), None)
            mv.run_id = run.name if run is not None else None
        model = (inputs.get("Model") or [None])[0]
        if model is not None:
            mv.model_uri = model.uri
            _, trainer_inputs = md.producer_inputs(store, model.artifact.id)
            transformed = (trainer_inputs.get("Examples") or [None])[0]
            if transformed is not None:
                mv.transformed_examples_uri = transformed.uri
                _, transform_inputs = md.producer_inputs(store, transformed.artifact.id)
                window = (transform_inputs.get("Examples") or [None])[0]
                if window is not None:
                    mv.examples_uri = window.uri
                    # the window was gathered from the span store after tonight's ingest,
                    # whose execution recorded the raw data's fingerprint
                    _, window_inputs = md.producer_inputs(store, window.artifact.id)
                    ingested = (window_inputs.get("Examples") or [None])[0]
                    ingest_run, _ = (
                        md.producer_inputs(store, ingested.artifact.id)
                        if ingested is not None
                        else (None, {})
                    )
                    mv.data = {"span": md.custom_props(window.artifact).get("span")}
                    if ingest_run is not None:
                        mv.data["input_fingerprint"] = md.custom_props(ingest_run).get(
                            "input_fingerprint"
                        )
        if run is not None:
            mv.metrics = summarize_context(store, run).candidate
        versions.append(mv)
    return versions


def find_model(metadata_path: str, pipeline_name: str, version: str) -> ModelVersion:
    """One pushed version by its number (or ``latest``), with its lineage and metrics."""
    return select_version(list_models(metadata_path, pipeline_name), version)


def format_model(m: ModelVersion) -> str:
    """Render a model version and its lineage."""
    lines = [
        f"version            {m.version}",
        f"path               {m.path}",
        f"run                {m.run_id or '-'}",
        f"trained model      {m.model_uri or '-'}",
        f"transformed data   {m.transformed_examples_uri or '-'}",
        f"examples           {m.examples_uri or '-'}",
    ]
    for k, v in m.data.items():
        lines.append(f"  {k:<17} {str(v).replace(chr(10), '; ')}")
    if m.metrics:
        lines.append(f"metrics            {metrics_line(m.metrics, COMPARED_METRICS)}")
    lines.append(f"mlflow registry    {registry_line(m.registry)}")
    return "\n".join(lines)


def registry_line(registry: dict) -> str:
    """Where a version is registered in MLflow, as ML Metadata recorded it, as one line."""
    if not registry:
        return "not registered in MLflow"
    alias = f" @{registry['alias']}" if registry.get("alias") else ""
    return (
        f"{registry['registered_model']} version {registry['version']}{alias} "
        f"at {registry['tracking_uri']} (MLflow run {registry['run_id']})"
    )
