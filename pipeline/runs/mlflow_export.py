"""``cyclecast runs export RUN --mlflow-uri URI``: a run's record in MLflow tracking.

One MLflow run per pipeline run (found again by its ``cyclecast.run_id`` tag, so exporting twice
updates rather than duplicates): the configuration and data as parameters, TFMA's metrics for the
candidate and the blessed baseline and the calendar rule's as metrics, and as tags the run id, the
git commit, whether the model was blessed and where it was pushed. The model registry side is
``pipeline.runs.mlflow_registry``. MLflow comes from the optional ``mlflow`` extra (see
pyproject.toml for why its version is what it is).

The tracking URI is MLflow's: ``http(s)://`` for a team's ``mlflow server``, or a local
``sqlite:///PATH``. MLflow 3 refuses ``file://`` stores unless ``MLFLOW_ALLOW_FILE_STORE=true`` is
set; cyclecast leaves that choice to the person (MLflow is retiring file stores) and reports
MLflow's refusal, which says how to opt in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipeline.runs.catalog import run_settings
from pipeline.runs.summary import RunSummary, metric_label

RUN_TAG = "cyclecast.run_id"
MAX_PARAM_CHARS = 250  # MLflow refuses longer parameter values (the limit differs by version)


class MlflowError(RuntimeError):
    """MLflow could not be used: not installed, or it refused a request (the message says why)."""


class MlflowMissing(MlflowError):
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


def labelled_metrics(prefix: str, values: dict) -> dict[str, float]:
    """Numeric figures under the names people read (``sensitivity``, not TFMA's ``recall``)."""
    return {
        f"{prefix}{metric_label(k)}": float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def export_record(r: RunSummary) -> ExportRecord:
    """Parameters, metrics and tags for a run (pure: no MLflow import)."""
    params = {
        k: str(v)[:MAX_PARAM_CHARS]
        for k, v in run_settings(r).items()
        if v is not None and k != "code.config" and not k.startswith("code.git")
    }
    metrics = {
        **labelled_metrics("", r.candidate),
        **labelled_metrics("baseline.", r.baseline),
        **labelled_metrics("calendar.", r.calendar),
    }
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


@contextmanager
def mlflow_client(tracking_uri: str) -> Iterator:
    """An ``MlflowClient`` for ``tracking_uri``, tracking and registry alike.

    MLflow's refusals inside the block (a file store, an unknown scheme, a server's 4xx) are
    raised as ``MlflowError``, which the commands print as a bad input.
    """
    _, client_class = _import_mlflow()
    from mlflow.exceptions import MlflowException

    try:
        yield client_class(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except MlflowException as e:
        raise MlflowError(f"MLflow at {redacted(tracking_uri)}: {e.message}") from e


def redacted(uri: str) -> str:
    """``uri`` without a password (a database URI may carry one); safe to print and record."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def local_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a ``sqlite:///PATH`` store beside its database (``PATH``'s folder/mlartifacts).

    Without it MLflow puts them under ``./mlruns`` of whatever directory the command ran in.
    A server (``http://``) keeps its own artifact destination: None leaves it to the server.
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return (Path(tracking_uri[len(prefix) :]).resolve().parent / "mlartifacts").as_uri()


def export_run(client, r: RunSummary, experiment: str = "cyclecast") -> str:
    """Log the run with ``client`` (from ``mlflow_client``); return the MLflow run's id."""
    entities, _ = _import_mlflow()

    rec = export_record(r)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(
            experiment, artifact_location=local_artifact_location(client.tracking_uri)
        )
    )
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
