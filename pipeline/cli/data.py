"""``cyclecast generate``, ``features`` and ``backfill``: synthetic raw data and the feature job."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.cli.common import (
    CommandError,
    add_workdir,
    fail,
    local_config,
    print_json,
    print_result,
)
from pipeline.config import BeamConfig, DefaultData


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``generate``, ``features`` and ``backfill``."""
    default = DefaultData()
    g = sub.add_parser(
        "generate", help="write synthetic raw recordings, a cycle log and a manifest"
    )
    g.add_argument("--users", type=_positive, default=default.users,
                   help=f"default {default.users}")
    g.add_argument("--cycles", type=_positive, default=default.cycles,
                   help=f"cycles per user (default {default.cycles})")
    g.add_argument("--seed", type=int, default=default.seed,
                   help=f"default {default.seed} (the default data's)")
    g.add_argument("--out", type=Path, required=True, help="output data root (a directory)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--overwrite", action="store_true", help="replace data already in --out")
    g.add_argument(
        "--start-date",
        metavar="YYYY-MM-DD",
        help="the first users start then, the others within 4 weeks; one folder per night follows "
        "(nights/<date>/, a span each)",
    )
    g.set_defaults(func=generate)

    f = sub.add_parser(
        "features",
        help="re-process raw recordings into nightly tf.Examples (any Beam runner)",
        description="Extra arguments go to Beam, e.g. --direct_running_mode=multi_processing "
        "or --project/--region/--temp_location for Dataflow.",
    )
    f.add_argument("--input", required=True, help="data root with nights/ and cycles.csv")
    f.add_argument("--out", required=True, help="output directory (examples/ and quarantine/)")
    _add_beam_options(f)
    f.set_defaults(func=features, beam_passthrough=True)

    b = sub.add_parser(
        "backfill",
        help="re-ingest a range of nights into the span store as one Beam job (after the feature "
        "code changed)",
        description="Writes the files and span-store entries the nightly runs would have written "
        "for every night from --from to --to; the nights before --from give the first nights' "
        "history from the store. Extra arguments go to Beam.",
    )
    b.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--data-root", help="raw data root (default: the generated default data)")
    _add_beam_options(b)
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=backfill, beam_passthrough=True)


def _add_beam_options(parser: argparse.ArgumentParser) -> None:
    """The Beam profile, runner and salt options of the commands that run the feature job."""
    parser.add_argument(
        "--beam-profile",
        default="direct",
        help="pipeline/configs/beam/<name>.toml (direct, dataflow, flink, spark) or a "
        "file; extra arguments after the command's own are added to it",
    )
    parser.add_argument("--runner", default=None, help="override the profile's runner")
    parser.add_argument(
        "--salt-file",
        default=None,
        help="file holding the user-id salt (default: $CYCLECAST_ID_SALT, "
        "$CYCLECAST_ID_SALT_FILE, or WORKDIR/id_salt)",
    )
    add_workdir(parser)


def _beam_args(args: argparse.Namespace) -> list[str]:
    """The Beam arguments of ``--beam-profile``/``--runner`` and the extra arguments."""
    try:
        profile = BeamConfig.from_profile(args.beam_profile)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(e) from e
    if args.runner and args.runner != profile.runner:  # the profile's arguments are its runner's
        profile = BeamConfig(runner=args.runner, extra_args=())
    return profile.args() + list(args.extra)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def generate(args: argparse.Namespace) -> int:
    """Write a synthetic dataset: raw recordings per night, the cycle log and the manifest."""
    import datetime as dt

    from synthetic.generate import DEFAULT_START_DATE, generate_dataset

    try:
        start = dt.date.fromisoformat(args.start_date) if args.start_date else DEFAULT_START_DATE
    except ValueError:
        return fail("generate", f"--start-date {args.start_date!r} is not YYYY-MM-DD")
    if args.out.exists() and not args.out.is_dir():
        return fail("generate", f"--out {args.out} is a file; give a directory for the data root")
    t0 = time.monotonic()
    try:
        summary = generate_dataset(
            args.out,
            users=args.users,
            cycles=args.cycles,
            seed=args.seed,
            start_date=start,
            progress=not args.no_progress,
            overwrite=args.overwrite,
        )
    except OSError as e:  # FileExistsError: data already there; others: an unwritable --out
        return fail("generate", e)
    print_json(summary.to_dict())
    print(f"generated in {time.monotonic() - t0:.1f} s -> {args.out}", file=sys.stderr)
    return 0


def format_feature_summary(summary: dict) -> str:
    """Render the feature job's summary for a person."""
    lines = [
        f"files            {summary['files']}",
        f"nights           {summary['nights']}",
        f"valid nights     {summary['valid_nights']}",
        f"night status     {_kv(summary['night_status'])}",
        f"invalid nights   {_kv(summary['nights_invalid_by_reason'])}",
        f"rows             {summary['rows_total']} read, {summary['rows_accepted']} accepted",
        f"rows rejected    {_kv(summary['rows_rejected_by_reason'])}",
        f"files rejected   {_kv(summary['files_rejected_by_reason'])}",
        f"cycle rows rej.  {summary['cycle_rows_rejected']}",
        f"examples         {_kv(summary['examples_by_split'])}",
    ]
    return "\n".join(lines)


def _kv(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) or "none"


def features(args: argparse.Namespace) -> int:
    """Run the nightly-feature Beam job standalone; extra arguments go to Beam."""
    from pipeline.cli.common import quiet_tensorflow
    from pipeline.data import extract_features, input_errors

    beam_args = _beam_args(args)
    quiet_tensorflow()
    print(f"nightly features: {args.input} -> {args.out} ({' '.join(beam_args)})",
          file=sys.stderr)
    t0 = time.monotonic()
    try:
        summary = extract_features(
            args.input, args.out, args.salt_file, beam_args, local_config(args)
        )
    except input_errors() as e:
        raise CommandError(e) from e
    print(format_feature_summary(summary))
    print(
        f"done in {time.monotonic() - t0:.1f} s; examples in {args.out}/examples, "
        f"quarantine in {args.out}/quarantine",
        file=sys.stderr,
    )
    return 0


def backfill(args: argparse.Namespace) -> int:
    """Re-ingest nights --from..--to into the span store (one Beam job); print the summary."""
    from pipeline.cli.common import quiet_tensorflow
    from pipeline.data import backfill_errors, backfill_nights, check_backfill_range, input_errors

    try:
        check_backfill_range(args.first, args.last)
    except ValueError as e:  # not dates, or nights that can't have uploads yet
        raise CommandError(e) from e
    beam_args = _beam_args(args)
    config = local_config(args)
    busy, damaged = backfill_errors()
    quiet_tensorflow()
    t0 = time.monotonic()
    try:
        summary = backfill_nights(
            config,
            args.data_root,
            args.first,
            args.last,
            args.salt_file,
            beam_args,
            progress=lambda line: print(f"backfill: {line}", file=sys.stderr, flush=True),
        )
    except busy as e:  # another run or backfill is writing the store: exit 3, as `run`
        print(f"cyclecast backfill: refused. {e}", file=sys.stderr)
        return 3
    except (*input_errors(), ValueError, damaged) as e:
        raise CommandError(e) from e
    totals = {k: v for k, v in summary.items() if k != "by_night"}
    print_result(args.json, summary, lambda: format_feature_summary(totals))
    print(
        f"backfilled {len(summary['by_night'])} nights in {time.monotonic() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0
