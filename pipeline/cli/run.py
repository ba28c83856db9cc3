"""``cyclecast run``: the whole pipeline locally (LocalDagRunner, Beam DirectRunner, SQLite)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from pipeline.cli.common import (
    CommandError,
    add_metadata,
    add_workdir,
    local_config,
    metadata_path,
    print_result,
)
from pipeline.cli.runs import add_mlflow_options, export_to_mlflow
from pipeline.config import PipelineConfig
from transforms.features import HISTORY_NIGHTS


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``run``."""
    r = sub.add_parser(
        "run", help="the whole pipeline on the default data (generated on first use)"
    )
    r.add_argument("--verbose", action="store_true", help="show TensorFlow, Beam and TFX logs")
    r.add_argument(
        "--night",
        metavar="YYYY-MM-DD",
        help="process this night as the new span, as the nightly run would (default: the latest)",
    )
    r.add_argument(
        "--window-nights",
        type=int,
        default=PipelineConfig.window_nights,
        help="train on the rolling window of this many nights ending with the night "
        f"(default {PipelineConfig.window_nights})",
    )
    r.add_argument(
        "--late-nights",
        type=int,
        default=PipelineConfig.late_nights,
        help="look this many nights back for late or re-sent uploads to re-ingest "
        f"(default {PipelineConfig.late_nights}, at most {HISTORY_NIGHTS})",
    )
    r.add_argument(
        "--train-every",
        type=int,
        default=PipelineConfig.train_every,
        help="retrain every N-th night; the other nights only ingest (default 1: every night)",
    )
    r.add_argument(
        "--allow-drift",
        action="store_true",
        help="override the drift check: record drift beyond the schema's thresholds, and train",
    )
    r.add_argument("--data-root", help="raw data root (default: the generated default data)")
    add_workdir(r)
    add_metadata(r)
    r.add_argument("--train-steps", type=int, help="override the Trainer's steps")
    r.add_argument(
        "--tune",
        type=int,
        metavar="TRIALS",
        help="run TFX's Tuner first: a search of TRIALS models for the Trainer's hyperparameters",
    )
    r.add_argument("--json", action="store_true", help="print the run summary as JSON")
    # after the run: log it to MLflow and register its model when blessed and pushed
    add_mlflow_options(r, "after the run")
    r.set_defaults(func=run)


def run_config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline configuration ``cyclecast run`` uses for its arguments (pure, no I/O)."""
    cfg = local_config(args).pipeline_config(Path(args.data_root) if args.data_root else None)
    changes: dict = {
        "window_nights": args.window_nights,
        "late_nights": args.late_nights,
        "train_every": args.train_every,
        "night": args.night,
        "metadata_path": metadata_path(args),
    }
    if args.allow_drift:
        changes["drift"] = replace(cfg.drift, allow=True)
    if args.train_steps:
        changes["training"] = replace(cfg.training, train_steps=args.train_steps)
    if args.tune:
        training = changes.get("training", cfg.training)
        changes["training"] = replace(training, tune=True, tune_trials=args.tune)
    from pipeline.metadata.connection import recording_address

    recording_address(changes["metadata_path"])  # refused now, before any data is generated
    return cfg.with_changes(**changes)


def run(args: argparse.Namespace) -> int:
    """Run the pipeline once and print what it produced (status 1 when a gate stopped it)."""
    from pipeline.data import NightNotLanded, check_night_landed, ensure_default_data, run_salt_file

    try:
        cfg = run_config(args)
    except ValueError as e:
        raise CommandError(e) from e
    config = local_config(args)
    if not args.data_root:
        ensure_default_data(config)
    try:
        check_night_landed(cfg.data_root, cfg.night)
    except NightNotLanded as e:
        raise CommandError(e) from e
    cfg = cfg.with_changes(salt_file=run_salt_file(config))
    if not args.verbose:
        from pipeline.cli.common import quiet_tensorflow

        quiet_tensorflow()
    from pipeline.orchestration.local_runner import RunStopped, run_local
    from pipeline.orchestration.run_lock import RunRefused

    print(
        f"cyclecast pipeline: {cfg.data_root} -> {cfg.pipeline_root} "
        f"(metadata {cfg.metadata_path})",
        file=sys.stderr,
    )
    t0 = time.monotonic()
    status = 0
    try:
        run_id = run_local(cfg, verbose=args.verbose)
    except RunStopped as e:
        print(f"cyclecast run: stopped. {e}", file=sys.stderr)
        run_id, status = e.run_id, 1
    except RunRefused as e:
        print(f"cyclecast run: refused. {e}", file=sys.stderr)
        return 3
    if run_id is not None:
        from pipeline.runs.summary import format_run_summary, summarize_run

        summary = summarize_run(cfg.metadata_path, cfg.pipeline_name, run_id)
        print_result(args.json, summary.to_dict(), lambda: format_run_summary(summary))
        if args.mlflow_uri:
            from contextlib import nullcontext, redirect_stdout

            # with --json, stdout holds only the summary; MLflow's lines go to stderr
            with redirect_stdout(sys.stderr) if args.json else nullcontext():
                export_to_mlflow(args, cfg.metadata_path, cfg.pipeline_name, run_id, True, summary)
    print(f"finished in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return status
