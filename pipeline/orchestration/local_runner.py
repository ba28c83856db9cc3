"""Run the pipeline locally: LocalDagRunner, the Beam DirectRunner, a SQLite metadata store."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pipeline.config import PipelineConfig


class RunStopped(RuntimeError):
    """The run stopped before the end; the message says where and why."""


def run_local(cfg: PipelineConfig, verbose: bool = False):
    """Run the whole pipeline once and return its ``RunSummary``.

    Raises ``RunStopped`` with the report when the data breaks the schema or drifted, and
    ``RunRefused`` when another run holds the metadata store.
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
    from pipeline.orchestration.progress import component_progress
    from pipeline.pipeline import create_pipeline
    from pipeline.runs.summary import summarize_run

    if cfg.metadata_path:
        Path(cfg.metadata_path).parent.mkdir(parents=True, exist_ok=True)
    pipeline = create_pipeline(cfg)
    with component_progress(len(pipeline.components), verbose):
        try:
            LocalDagRunner().run(pipeline)
        except Exception as e:  # the runner re-raises what a component raised
            cause = e
            while cause is not None and not isinstance(cause, AnomaliesFound | DriftDetected):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise RunStopped(str(cause)) from e
            raise
        record_run_provenance(cfg)
    return summarize_run(cfg.metadata_path, cfg.pipeline_name)


def _exclusive(cfg: PipelineConfig):
    """The metadata store's run lock (nothing to lock without a local store)."""
    from contextlib import nullcontext

    from pipeline.orchestration.run_lock import exclusive_run

    if not cfg.metadata_path:
        return nullcontext()
    return exclusive_run(cfg.metadata_path, f"night {cfg.night or 'latest'} of {cfg.data_root}")


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


def record_run_provenance(cfg: PipelineConfig) -> None:
    """Attach the git commit and the configuration to the latest run's context in ML Metadata."""
    import dataclasses
    import json

    from pipeline.runs.summary import connect, find_run

    store = connect(cfg.metadata_path)
    run = find_run(store, cfg.pipeline_name, None)
    commit = git_commit()
    if commit:
        run.custom_properties["git_commit"].string_value = commit
    run.custom_properties["config"].string_value = json.dumps(
        dataclasses.asdict(cfg), sort_keys=True, default=str
    )
    store.put_contexts([run])
