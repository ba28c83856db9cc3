"""``cyclecast runs export RUN --mlflow-uri URI``: a run's record in MLflow, for teams that use it.

One MLflow run per pipeline run (found again by its ``cyclecast.run_id`` tag, so exporting twice
updates rather than duplicates): the configuration and data as parameters, TFMA's metrics for the
candidate and the blessed baseline and the calendar rule's as metrics, and as tags the run id, the
git commit, whether the model was blessed and where it was pushed. MLflow comes from the optional
``mlflow`` extra (see pyproject.toml for why its version is what it is).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.runs.catalog import run_settings
from pipeline.runs.summary import RunSummary, metric_label

RUN_TAG = "cyclecast.run_id"
MAX_PARAM_CHARS = 250  # MLflow refuses longer parameter values (the limit differs by version)


class MlflowMissing(RuntimeError):
    """MLflow is not installed: the export needs the ``mlflow`` extra."""


@dataclass
class ExportRecord:
    """What is sent to MLflow for one run."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    start_ms: int | None
    end_ms: int | None
    finished: bool


def export_record(r: RunSummary) -> ExportRecord:
    """Parameters, metrics and tags for a run (pure: no MLflow import)."""
    params = {
        k: str(v)[:MAX_PARAM_CHARS]
        for k, v in run_settings(r).items()
        if v is not None and k != "code.config" and not k.startswith("code.git")
    }
    metrics: dict[str, float] = {}
    for prefix, values in (("", r.candidate), ("baseline.", r.baseline), ("calendar.", r.calendar)):
        for k, v in values.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                metrics[f"{prefix}{metric_label(k)}"] = float(v)  # sensitivity, not TFMA's recall
    for split, n in r.examples.items():
        metrics[f"examples.{split}"] = float(n)
    if r.duration_s is not None:
        metrics["duration_s"] = float(r.duration_s)
    tags = {
        RUN_TAG: r.run_id,
        "mlflow.runName": r.run_id,
        "cyclecast.blessed": str(r.blessed).lower(),
        "cyclecast.pushed": str(r.pushed_path is not None).lower(),
    }
    commit = r.code.get("git_commit")
    if commit:
        tags["mlflow.source.git.commit"] = tags["cyclecast.git_commit"] = str(commit)
    if r.pushed_path:
        tags["cyclecast.model_path"] = r.pushed_path
        tags["cyclecast.model_version"] = str(r.pushed_version)
    start_ms = int(r.started * 1000) if r.started is not None else None
    end_ms = (
        int((r.started + r.duration_s) * 1000)
        if r.started is not None and r.duration_s is not None
        else None
    )
    finished = bool(r.executions) and all(
        state in ("COMPLETE", "CACHED") for state in r.executions.values()
    )
    return ExportRecord(params, metrics, tags, start_ms, end_ms, finished)


def _import_mlflow():
    """Import MLflow's client without letting its logging set-up close other handlers.

    ``import mlflow`` calls ``logging.config.dictConfig``, which closes every existing handler;
    absl's (TensorFlow's) handler then closes the stream it was given, ``sys.stderr`` as it was
    when TensorFlow was imported. Where that is a redirect (a notebook, pytest's capture) its
    owner still writes to it and fails. MLflow's own handler is set up as usual.
    """
    import logging.config

    clear = logging.config._clearExistingHandlers
    logging.config._clearExistingHandlers = lambda: None
    try:
        from mlflow import entities, tracking
    except ImportError as e:
        raise MlflowMissing(
            "MLflow is not installed: install cyclecast with the 'mlflow' extra"
        ) from e
    finally:
        logging.config._clearExistingHandlers = clear
    return entities, tracking.MlflowClient


def export_run(r: RunSummary, tracking_uri: str, experiment: str = "cyclecast") -> str:
    """Log the run to MLflow at ``tracking_uri`` (e.g. ``file:///tmp/mlruns``); return its id."""
    entities, client_class = _import_mlflow()

    rec = export_record(r)
    client = client_class(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    existing = client.search_runs([experiment_id], f"tags.`{RUN_TAG}` = '{r.run_id}'")
    if existing:
        mlflow_run_id = existing[0].info.run_id
    else:
        mlflow_run_id = client.create_run(experiment_id, start_time=rec.start_ms).info.run_id
    timestamp = rec.end_ms or rec.start_ms or 0
    client.log_batch(
        mlflow_run_id,
        metrics=[entities.Metric(k, v, timestamp, 0) for k, v in rec.metrics.items()],
        params=[entities.Param(k, v) for k, v in rec.params.items()] if not existing else [],
        tags=[entities.RunTag(k, v) for k, v in rec.tags.items()],
    )
    client.set_terminated(
        mlflow_run_id, "FINISHED" if rec.finished else "FAILED", end_time=rec.end_ms
    )
    return mlflow_run_id
