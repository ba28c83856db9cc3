"""Run the pipeline locally: LocalDagRunner, the Beam DirectRunner, SQLite or MySQL metadata."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from pipeline.config import PipelineConfig


class RunStopped(RuntimeError):
    """The run stopped before the end; the message says where and why.

    ``run_id`` is the stopped run's id in ML Metadata (None when it recorded nothing), so the
    caller can show what the run did record (``pipeline.runs.summary.summarize_run``).
    """

    def __init__(self, message: str, run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id


def run_local(cfg: PipelineConfig, verbose: bool = False) -> str:
    """Run the whole pipeline once and return the run's id (its ``pipeline_run`` context name).

    Raises ``RunStopped`` with the report when the data breaks the schema or drifted, or a file
    the span store names is missing or damaged (the message names the repair), and
    ``RunRefused`` when another run holds the metadata store or another run or backfill is
    writing the span store. Printing what the run did is the
    caller's: ``summarize_run(cfg.metadata_path, cfg.pipeline_name, run_id)``.
    """
    with _exclusive(cfg):  # before the slow imports, so a second run is refused at once
        return _run_locked(cfg, verbose)


def _run_locked(cfg: PipelineConfig, verbose: bool):
    if verbose:  # asked for: overrides the quiet default (./dev sets one)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore")
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.anomaly_gate import AnomaliesFound
    from components.drift_gate import DriftDetected
    from components.spans.store import StoredFileError
    from pipeline.metadata import store as md
    from pipeline.orchestration.progress import component_progress
    from pipeline.pipeline import create_pipeline

    # The run lock (held by the caller) already made the SQLite store's folder or checked the
    # MySQL login, so the store is ready to record into.
    # LocalDagRunner names the run itself (a timestamp) and does not return it: this run is the
    # one that was not there before (the run lock keeps any other run out meanwhile)
    before = md.run_ids(cfg.metadata_path, cfg.pipeline_name)
    pipeline = create_pipeline(cfg)
    with component_progress(len(pipeline.components), verbose):
        try:
            LocalDagRunner().run(pipeline)
        except Exception as e:  # the runner re-raises what a component raised
            cause = e
            stops = AnomaliesFound | DriftDetected | StoredFileError
            while cause is not None and not isinstance(cause, stops):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                run_id = record_run_provenance(cfg, before)
                raise RunStopped(str(cause), run_id) from e
            raise
        run_id = record_run_provenance(cfg, before)
    if run_id is None:
        raise RuntimeError(f"the run recorded nothing in {cfg.metadata_path}")
    return run_id


@contextmanager
def _exclusive(cfg: PipelineConfig) -> Iterator[None]:
    """The metadata store's run lock, then the span store's writer lock, for the whole run.

    The run reads the span store from its first component to its last (ingest, drift, the
    training window, predictions), so a backfill must not rewrite it meanwhile, nor it a
    backfill's; either is refused with ``RunRefused`` naming the holder.
    """
    from components.spans.writer_lock import StoreBusy, store_writer
    from pipeline.orchestration.run_lock import RunRefused, exclusive_run

    what = f"night {cfg.night or 'latest'} of {cfg.data_root}"
    with ExitStack() as held:
        if cfg.metadata_path:
            held.enter_context(exclusive_run(cfg.metadata_path, what))
        try:
            held.enter_context(store_writer(cfg.span_store, f"run ({what})"))
        except StoreBusy as e:
            raise RunRefused(str(e)) from None
        yield


def git_commit() -> str | None:
    """The checked-out commit (with ``-dirty`` when files differ from it), or None outside git."""
    import subprocess

    from pipeline.config import REPO_ROOT

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty.strip() else "")


def record_run_provenance(cfg: PipelineConfig, before: set[str]) -> str | None:
    """Attach the git commit and the configuration to the run made since ``before``; its id.

    None when the run recorded no context (it failed before its first component).
    """
    import dataclasses
    import json

    from pipeline.metadata import store as md

    try:
        store = md.connect(cfg.metadata_path)
    except FileNotFoundError:  # a SQLite store the run never got to create
        return None
    new = [c for c in md.run_contexts(store, cfg.pipeline_name) if c.name not in before]
    if not new:
        return None
    (run,) = new
    run.custom_properties["config"].string_value = json.dumps(
        dataclasses.asdict(cfg), sort_keys=True, default=str
    )
    commit = git_commit()
    if commit:
        run.custom_properties["git_commit"].string_value = commit
    store.put_contexts([run])
    return run.name
