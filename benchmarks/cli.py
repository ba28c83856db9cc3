"""``cyclecast bench`` and ``calibrate-drift``: the measurement commands, beside what they run.

``benchmarks/`` is not in the component image: these commands run where the repository is.
``pipeline.cli.bench`` registers them in ``cyclecast`` when this package is installed (a checkout)
and says so when it is not; nothing under ``pipeline/`` imports this package.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.markdown import FLEET_USERS
from components.defaults import DRIFT_MIN_NIGHTS
from pipeline.cli.common import CommandError, add_workdir, local_config, quiet_tensorflow

BENCH_PARTS = ("features", "scaling", "whole-run", "serving", "nightly")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and ``calibrate-drift``."""
    b = sub.add_parser(
        "bench", help="measure feature extraction, scaling, the whole run and serving"
    )
    b.add_argument("--size", choices=("smallest", "small", "default"), default="default")
    b.add_argument(
        "--model",
        default=None,
        help="a pushed SavedModel (or base path) to measure serving latency "
        "(default: the one the whole run pushed)",
    )
    b.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    b.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=BENCH_PARTS,
        help="leave a part out (repeatable)",
    )
    b.add_argument(
        "--serve",
        action="store_true",
        help="only the load test of `cyclecast serve` against WORKDIR's pushed model and span "
        "store (rewrites that section of BENCHMARKS.md alone)",
    )
    b.add_argument("--requests", type=int, default=1000, help="with --serve (default 1000)")
    b.add_argument("--clients", type=int, default=16, help="with --serve (default 16)")
    b.add_argument(
        "--threads", type=int, default=None, help="with --serve: `cyclecast serve --threads`"
    )
    b.add_argument(
        "--data-root", default=None, help="with --serve: the cycle log's and uploads' data root "
        "(default WORKDIR's default data)"
    )
    b.add_argument(
        "--whole-run-scales",
        default="1",
        help="comma-separated multiples of the default data for the whole run, e.g. 1,4",
    )
    b.add_argument(
        "--online",
        action="store_true",
        help="only the online store's request cost: 80 users against --fleet-users (SQLite, "
        "and Redis when redis-server is installed); writes its section of --output",
    )
    b.add_argument("--fleet-users", type=int, default=FLEET_USERS, help="with --online")
    add_workdir(b)
    b.set_defaults(func=bench)

    d = sub.add_parser(
        "calibrate-drift",
        help="how the schema's drift thresholds behave on a feature-job output: noise, detection",
    )
    d.add_argument("features_out", help="a `cyclecast features --out` directory")
    d.add_argument("--min-nights", type=int, default=DRIFT_MIN_NIGHTS)
    d.set_defaults(func=calibrate_drift)


def _scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(int(x) for x in text.split(","))
    except ValueError as e:
        raise CommandError(f"--whole-run-scales takes integers like 1,4, got {text!r}") from e
    if any(s < 1 for s in scales):
        raise CommandError(f"--whole-run-scales must be at least 1, got {text!r}")
    return scales


def bench_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this measurement (written into BENCHMARKS.md)."""
    command = f"cyclecast bench --size {args.size}" + (
        f" --model {args.model}" if args.model else ""
    )
    command += "".join(f" --skip {p}" for p in args.skip)
    if args.whole_run_scales != "1":
        command += f" --whole-run-scales {args.whole_run_scales}"
    return command


def bench(args: argparse.Namespace) -> int:
    """Run the benchmarks and write BENCHMARKS.md (keeping its optimisation log)."""
    if args.serve:
        return bench_serve(args)
    if args.online:
        return bench_online(args)
    scales = _scales(args.whole_run_scales)
    quiet_tensorflow()
    from benchmarks.runner import PARTS, SIZES, format_markdown, run_benchmarks
    from components.serving_layout import resolve_model_dir
    from pipeline.data import ensure_default_data

    try:
        model = resolve_model_dir(args.model) if args.model else None
    except FileNotFoundError as e:
        raise CommandError(e) from e
    parts = tuple(p for p in PARTS if p not in args.skip)
    run_data = None
    if {"whole-run", "nightly"} & set(parts) and SIZES[args.size].run_users is None:
        config = local_config(args)
        ensure_default_data(config)
        run_data = str(config.data_root.resolve())
    with tempfile.TemporaryDirectory(prefix="cyclecast-bench-") as work:
        figures = run_benchmarks(
            args.size,
            work,
            model_dir=model,
            run_data=run_data,
            parts=parts,
            whole_run_scales=scales,
        )
    from benchmarks.markdown import kept_sections

    previous = args.output.read_text() if args.output.exists() else ""
    kept = kept_sections(previous)  # what other runs wrote
    args.output.write_text(format_markdown(figures, bench_command(args), kept) + "\n")
    print(f"wrote {args.output}")
    return 0


def bench_serve(args: argparse.Namespace) -> int:
    """Load-test ``cyclecast serve`` and rewrite BENCHMARKS.md's section on it."""
    from benchmarks.answer_load import measure_answer_service
    from benchmarks.markdown import SERVE_HEADING, serve_section, with_section
    from benchmarks.runner import machine

    if args.requests < 1 or args.clients < 1:
        raise CommandError("--requests and --clients must be at least 1")
    config = local_config(args)
    data_root = args.data_root or str(config.data_root)
    if not (Path(data_root) / "cycles.csv").is_file():
        raise CommandError(f"no data at {data_root}: run `cyclecast run` first, or pass "
                           "--data-root")
    with tempfile.TemporaryDirectory(prefix="cyclecast-bench-serve-") as work:
        figures = measure_answer_service(str(config.workdir), data_root, work, args.requests,
                                         args.clients, threads=args.threads)
    figures["machine"] = machine()
    command = f"cyclecast bench --serve --workdir {args.workdir}" + (
        f" --data-root {args.data_root}" if args.data_root else ""
    ) + f" --requests {args.requests} --clients {args.clients}" + (
        f" --threads {args.threads}" if args.threads else ""
    )
    previous = args.output.read_text() if args.output.exists() else ""
    section = serve_section(figures, command)
    args.output.write_text(with_section(previous, SERVE_HEADING, section))
    print(section, end="")
    print(f"wrote {args.output}")
    return 0


def bench_online(args: argparse.Namespace) -> int:
    """Measure the online store's request cost and write its section of BENCHMARKS.md."""
    from benchmarks.markdown import ONLINE_HEADING, online_markdown, with_section
    from benchmarks.online_store import PROBE_USERS, online_bench
    from benchmarks.redis_server import local_redis, redis_available

    if args.fleet_users < PROBE_USERS:
        raise CommandError(f"--fleet-users must be at least {PROBE_USERS}, got {args.fleet_users}")
    command = f"cyclecast bench --online --fleet-users {args.fleet_users}"
    with tempfile.TemporaryDirectory(prefix="cyclecast-bench-online-") as work:
        if redis_available():
            with local_redis() as url:
                rows = online_bench(work, args.fleet_users, url)
        else:
            print("redis-server is not installed: measuring the embedded store only")
            rows = online_bench(work, args.fleet_users, None)
    previous = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
    args.output.write_text(with_section(previous, ONLINE_HEADING, online_markdown(rows, command)))
    print(f"wrote {args.output}")
    return 0


def calibrate_drift(args: argparse.Namespace) -> int:
    """Print the drift thresholds' noise and detection rates on a feature-job output."""
    quiet_tensorflow()
    from benchmarks.drift_calibration import calibrate_feature_output

    try:
        print(calibrate_feature_output(args.features_out, args.min_nights))
    except FileNotFoundError as e:
        raise CommandError(e) from e
    return 0
