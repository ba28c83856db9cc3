"""The ``cyclecast`` command line. Only the standard library is imported at start-up.

Each command imports what it needs when it runs, so ``cyclecast --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from components.nightly_features.salt import SaltError, load_salt, local_salt_file
from pipeline.config import DEFAULT_WORKDIR, BeamConfig, LocalConfig, PipelineConfig
from transforms.raw_format import NIGHTS_DIR, RAW_SUFFIX


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up log lines out of sight (before it is imported)."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Beam's TFRecord writer warns that python-snappy is absent; crcmod's C extension is used.
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # deprecation notices
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _cmd_generate(args: argparse.Namespace) -> int:
    import datetime as dt

    from synthetic.generate import DEFAULT_START_DATE, generate_dataset

    try:
        start = dt.date.fromisoformat(args.start_date) if args.start_date else DEFAULT_START_DATE
    except ValueError:
        print(
            f"cyclecast generate: --start-date {args.start_date!r} is not YYYY-MM-DD",
            file=sys.stderr,
        )
        return 2
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
    except FileExistsError as e:
        print(f"cyclecast generate: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
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


def _feature_job(input_root: str, out: str, salt: bytes, beam_args: list[str]) -> dict:
    _quiet_tensorflow()
    from components.nightly_features.job import run_feature_job

    print(f"nightly features: {input_root} -> {out} ({' '.join(beam_args)})", file=sys.stderr)
    t0 = time.monotonic()
    summary = run_feature_job(input_root, out, salt, beam_args)
    print(format_feature_summary(summary))
    print(
        f"done in {time.monotonic() - t0:.1f} s; examples in {out}/examples, "
        f"quarantine in {out}/quarantine",
        file=sys.stderr,
    )
    return summary


def _cmd_features(args: argparse.Namespace, extra: list[str]) -> int:
    from components.nightly_features.job import InputError

    try:
        profile = BeamConfig.from_profile(args.beam_profile)
    except (FileNotFoundError, ValueError) as e:
        print(f"cyclecast features: {e}", file=sys.stderr)
        return 2
    if args.runner and args.runner != profile.runner:  # the profile's arguments are its runner's
        profile = BeamConfig(runner=args.runner, extra_args=())
    beam_args = profile.args()
    try:
        salt = load_salt(args.salt_file, create_local=LocalConfig().salt_file)
        _feature_job(args.input, args.out, salt, beam_args + extra)
    except (InputError, SaltError) as e:
        print(f"cyclecast features: {e}", file=sys.stderr)
        return 2
    return 0


def _ensure_default_data(config: LocalConfig) -> None:
    if (config.data_root / "cycles.csv").exists():
        return
    from synthetic.generate import generate_dataset

    d = config.data
    print(
        f"generating the default dataset ({d.users} users x {d.cycles} cycles, seed {d.seed}) "
        f"in {config.data_root}",
        file=sys.stderr,
    )
    generate_dataset(config.data_root, users=d.users, cycles=d.cycles, seed=d.seed, overwrite=True)


def _metadata_path(args: argparse.Namespace) -> str:
    """``--metadata``, or the local runs' ML Metadata store."""
    return args.metadata or LocalConfig().pipeline_config().metadata_path


def _local_config(args: argparse.Namespace) -> LocalConfig:
    """The local set-up (work directory, default data) ``cyclecast run`` uses."""
    return LocalConfig(workdir=Path(args.workdir)) if args.workdir else LocalConfig()


def run_config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline configuration ``cyclecast run`` uses for its arguments (pure, no I/O)."""
    cfg = _local_config(args).pipeline_config(Path(args.data_root) if args.data_root else None)
    changes: dict = {"window_nights": args.window_nights, "night": args.night}
    if args.allow_drift:
        changes["drift"] = replace(cfg.drift, allow=True)
    if args.train_steps:
        changes["training"] = replace(cfg.training, train_steps=args.train_steps)
    return cfg.with_changes(**changes)


def _check_night_landed(data_root: str, night: str | None) -> str | None:
    """An error message when ``--night`` names a night with no raw recordings, else None."""
    if night is None:
        return None
    folder = Path(data_root) / NIGHTS_DIR / night
    if not any(folder.glob(f"*{RAW_SUFFIX}")):
        return f"no raw recordings for night {night}: {folder} has no *{RAW_SUFFIX} files"
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        cfg = run_config(args)
    except ValueError as e:
        print(f"cyclecast run: {e}", file=sys.stderr)
        return 2
    config = _local_config(args)
    if not args.data_root:
        _ensure_default_data(config)
    problem = _check_night_landed(cfg.data_root, cfg.night)
    if problem:
        print(f"cyclecast run: {problem}", file=sys.stderr)
        return 2
    cfg = cfg.with_changes(salt_file=local_salt_file(config.salt_file))
    if not args.verbose:
        _quiet_tensorflow()
    from pipeline.orchestration.local_runner import RunStopped, run_local
    from pipeline.orchestration.run_lock import RunRefused

    print(
        f"cyclecast pipeline: {cfg.data_root} -> {cfg.pipeline_root} "
        f"(metadata {cfg.metadata_path})",
        file=sys.stderr,
    )
    t0 = time.monotonic()
    try:
        summary = run_local(cfg, verbose=args.verbose)
    except RunStopped as e:
        print(f"cyclecast run: stopped. {e}", file=sys.stderr)
        return 1
    except RunRefused as e:
        print(f"cyclecast run: refused. {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
    else:
        from pipeline.runs.summary import format_run_summary

        print(format_run_summary(summary))
    print(f"finished in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.serving import predict as p
    from transforms.serving_request import BadRequest

    try:
        if args.night:
            loaded = json.loads(Path(args.night).read_text())
            nights = loaded if isinstance(loaded, list) else [loaded]
        else:
            nights = p.nights_from_examples(args.from_examples, args.limit)
        serialized = p.build_requests(nights, args.schema)
        if args.log_requests:
            print(f"logged to {p.log_requests(args.log_requests, serialized)}", file=sys.stderr)
        if args.model:
            from pipeline.runs.catalog import find_model

            metadata = _metadata_path(args)
            version = find_model(metadata, args.model_name, args.model)
            predictions = p.predict_local(version.path, serialized)
        elif args.local:
            predictions = p.predict_local(args.local, serialized)
        elif args.rest:
            predictions = p.predict_rest(args.rest, args.model_name, serialized, args.timeout)
        else:
            predictions = p.predict_grpc(args.grpc, args.model_name, serialized, args.timeout)
    except (BadRequest, p.ServingError, FileNotFoundError, LookupError, ValueError) as e:
        print(f"cyclecast predict: {e}", file=sys.stderr)
        return 2
    for i, pred in enumerate(predictions):
        print(
            json.dumps(
                {"night": i, "probability": round(pred.probability, 6), "fertile": pred.fertile}
            )
        )
    return 0


def _cmd_skew(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.serving.skew import check_serving_skew

    try:
        report = check_serving_skew(args.requests, args.baseline, args.schema)
    except (FileNotFoundError, OSError) as e:
        print(f"cyclecast skew: {e}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.ok else 1


def _cmd_compile(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.orchestration.kubeflow import ConfigError, compile_pipeline, load_kubeflow_config

    try:
        config = load_kubeflow_config(args.config)
    except (ConfigError, OSError) as e:
        print(f"cyclecast compile: {e}", file=sys.stderr)
        return 2
    if args.image:
        config = replace(config, image=args.image)
    print(f"compiled {compile_pipeline(config, args.output)} (image {config.image})")
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.orchestration.kfp_submit import SubmitError, load_token, submit_pipeline
    from pipeline.orchestration.kubeflow import (
        ConfigError,
        load_kubeflow_config,
        runtime_parameter_values,
    )

    try:
        overrides = dict(_key_value(p) for p in args.param)
        config = load_kubeflow_config(args.config)
        # only translating --param needs TFX (slow to import); a bare submit skips it
        parameters = runtime_parameter_values(config, overrides) if overrides else {}
        spec = args.spec
        if spec is None:
            from pipeline.orchestration.kubeflow import compile_pipeline

            spec = str(compile_pipeline(config, ".cyclecast/kubeflow/cyclecast.json"))
        result = submit_pipeline(
            spec,
            args.host,
            experiment=args.experiment,
            run_name=args.run_name,
            parameters=parameters,
            schedule=args.schedule,
            namespace=args.namespace,
            token=load_token(args.token_file),
        )
    except (ConfigError, SubmitError, OSError, ValueError) as e:
        print(f"cyclecast submit: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.serving.evaluate import evaluate, format_evaluation, latest_examples

    config = LocalConfig()
    try:
        pattern = args.examples or latest_examples(
            str(config.workdir / "pipeline_root"), args.split
        )
        model = args.model or str(config.workdir / "serving_model" / "cyclecast")
        result = evaluate(model, pattern)
    except FileNotFoundError as e:
        print(f"cyclecast evaluate: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else format_evaluation(result))
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.runs import catalog as runs

    metadata = _metadata_path(args)
    try:
        if args.command == "models":
            if args.action == "list":
                models = runs.list_models(metadata, args.pipeline)
                if args.json:
                    print(json.dumps([m.to_dict() for m in models], indent=2, sort_keys=True))
                else:
                    for m in models:
                        auc = m.metrics.get("auc", float("nan"))
                        print(f"{m.version}  run {m.run_id}  auc={auc:.3f}  {m.path}")
                return 0
            model = runs.find_model(metadata, args.pipeline, args.ids[0])
            print(
                json.dumps(model.to_dict(), indent=2, sort_keys=True)
                if args.json
                else runs.format_model(model)
            )
            return 0
        if args.action == "list":
            found = runs.list_runs(metadata, args.pipeline)
            print(
                json.dumps(
                    [runs.run_record(r) for r in found], indent=2, sort_keys=True, default=str
                )
                if args.json
                else runs.format_runs_table(found)
            )
        elif args.action == "show":
            from pipeline.runs.summary import format_run_summary

            r = runs.summarize_run(metadata, args.pipeline, args.ids[0])
            print(
                json.dumps(runs.run_record(r), indent=2, sort_keys=True, default=str)
                if args.json
                else format_run_summary(r)
            )
        elif args.action == "export":
            from pipeline.runs.mlflow_export import MlflowMissing, export_run

            r = runs.summarize_run(metadata, args.pipeline, args.ids[0])
            try:
                mlflow_id = export_run(r, args.mlflow_uri, args.experiment)
            except MlflowMissing as e:
                print(f"cyclecast runs: {e}", file=sys.stderr)
                return 2
            print(f"exported {r.run_id} to {args.mlflow_uri} as MLflow run {mlflow_id}")
        else:
            a, b = (runs.summarize_run(metadata, args.pipeline, i) for i in args.ids)
            comparison = runs.compare_runs(a, b)
            print(
                json.dumps(comparison, indent=2, sort_keys=True, default=str)
                if args.json
                else runs.format_comparison(comparison)
            )
    except (LookupError, FileNotFoundError) as e:
        print(f"cyclecast {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipeline.runs.report import write_report

    config = LocalConfig()
    metadata = args.metadata or config.pipeline_config().metadata_path
    try:
        path = write_report(metadata, args.pipeline, args.run, args.out, config.workdir)
    except (LookupError, FileNotFoundError) as e:
        print(f"cyclecast report: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    import tempfile

    from benchmarks.runner import PARTS, SIZES, format_markdown, kept_log, run_benchmarks

    parts = tuple(p for p in PARTS if p not in args.skip)
    scales = tuple(int(x) for x in args.whole_run_scales.split(","))
    run_data = None
    if "whole-run" in parts and SIZES[args.size].run_users is None:
        config = LocalConfig()
        _ensure_default_data(config)
        run_data = str(config.data_root.resolve())
    with tempfile.TemporaryDirectory(prefix="cyclecast-bench-") as work:
        figures = run_benchmarks(
            args.size,
            work,
            model_dir=args.model,
            run_data=run_data,
            parts=parts,
            whole_run_scales=scales,
        )
    command = f"cyclecast bench --size {args.size}" + (
        f" --model {args.model}" if args.model else ""
    )
    if args.skip:
        command += "".join(f" --skip {p}" for p in args.skip)
    if args.whole_run_scales != "1":
        command += f" --whole-run-scales {args.whole_run_scales}"
    output = Path(args.output)
    log = kept_log(output.read_text()) if output.exists() else ""
    output.write_text(format_markdown(figures, command, log) + "\n")
    print(f"wrote {args.output}")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    p = argparse.ArgumentParser(
        prog="cyclecast",
        description="Raw wearable recordings to a served fertile-window model (TFX on Beam).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser(
        "generate", help="write synthetic raw recordings, a cycle log and a manifest"
    )
    g.add_argument("--users", type=int, required=True)
    g.add_argument("--cycles", type=int, required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--out", required=True, help="output data root")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--overwrite", action="store_true", help="replace data already in --out")
    g.add_argument(
        "--start-date",
        metavar="YYYY-MM-DD",
        help="the first users start then, the others within 4 weeks; one folder per night follows "
        "(nights/<date>/, a span each)",
    )

    f = sub.add_parser(
        "features",
        help="re-process raw recordings into nightly tf.Examples (any Beam runner)",
        description="Extra arguments go to Beam, e.g. --direct_running_mode=multi_processing "
        "or --project/--region/--temp_location for Dataflow.",
    )
    f.add_argument("--input", required=True, help="data root with nights/ and cycles.csv")
    f.add_argument("--out", required=True, help="output directory (examples/ and quarantine/)")
    f.add_argument(
        "--beam-profile",
        default="direct",
        help="pipeline/configs/beam/<name>.toml (direct, dataflow, flink, spark) or a "
        "file; extra arguments after the command's own are added to it",
    )
    f.add_argument("--runner", default=None, help="override the profile's runner")
    f.add_argument(
        "--salt-file",
        default=None,
        help="file holding the user-id salt (default: $CYCLECAST_ID_SALT, "
        "$CYCLECAST_ID_SALT_FILE, or a local .cyclecast/id_salt)",
    )

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
        "--allow-drift",
        action="store_true",
        help="override the drift check: record drift beyond the schema's thresholds, and train",
    )
    r.add_argument("--data-root", help="raw data root (default: the generated default data)")
    r.add_argument("--workdir", help=f"where runs keep their state (default {DEFAULT_WORKDIR})")
    r.add_argument("--train-steps", type=int, help="override the Trainer's steps")
    r.add_argument("--json", action="store_true", help="print the run summary as JSON")
    pr = sub.add_parser(
        "predict", help="score nights against TF Serving (REST or gRPC) or a local SavedModel"
    )
    target = pr.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--rest", metavar="URL", help="TF Serving REST base URL, e.g. http://h:8501"
    )
    target.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving gRPC address, e.g. h:8500")
    target.add_argument(
        "--local",
        metavar="MODEL_DIR",
        help="a SavedModel, or a base path whose highest version is used",
    )
    target.add_argument(
        "--model",
        metavar="VERSION",
        help="a version the local pipeline pushed (see `cyclecast models list`)",
    )
    source = pr.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--night",
        metavar="FILE.json",
        help="a night's raw serving features (an object, or a list of them)",
    )
    source.add_argument(
        "--from-examples",
        metavar="PATTERN",
        help="take nights from TFRecord examples, e.g. the eval split",
    )
    pr.add_argument("--limit", type=int, default=5, help="nights taken with --from-examples")
    pr.add_argument("--model-name", default="cyclecast")
    pr.add_argument(
        "--metadata",
        default=None,
        help="with --model: the ML Metadata file (default: the local run's)",
    )
    pr.add_argument("--schema", default=None, help="schema for request checks (default: schema/)")
    pr.add_argument("--timeout", type=float, default=10.0, help="seconds, for --rest and --grpc")
    pr.add_argument(
        "--log-requests",
        metavar="DIR",
        help="also write the requests as tf.Examples here, for `cyclecast skew`",
    )

    c = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines (KFP v2 spec)")
    c.add_argument(
        "--config", default=None, help="cluster config (default: pipeline/configs/kubeflow.toml)"
    )
    c.add_argument("--output", default=".cyclecast/kubeflow/cyclecast.json")
    c.add_argument("--image", default=None, help="override the component image (tag or digest)")

    sm = sub.add_parser("submit", help="create a Kubeflow run, or a recurring run with --schedule")
    sm.add_argument(
        "--host", required=True, help="the KFP API endpoint, e.g. http://ml-pipeline:8888"
    )
    sm.add_argument("--experiment", default="cyclecast")
    sm.add_argument("--run-name", default=None)
    sm.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="train_steps, min_auc, min_sensitivity, min_specificity, max_auc_drop, "
        "decision_threshold (or raw train_args / eval_config JSON)",
    )
    sm.add_argument(
        "--schedule",
        default=None,
        metavar="CRON",
        help="a recurring run instead, e.g. '0 0 3 * * *' (KFP cron has seconds)",
    )
    sm.add_argument("--spec", default=None, help="a compiled spec (default: compile now)")
    sm.add_argument(
        "--config", default=None, help="cluster config (default: pipeline/configs/kubeflow.toml)"
    )
    sm.add_argument("--namespace", default=None, help="the Kubeflow profile namespace")
    sm.add_argument(
        "--token-file",
        default=None,
        help="a file holding the bearer token (default: $KFP_TOKEN if set)",
    )

    for name, help_text, actions in (
        (
            "runs",
            "pipeline runs from ML Metadata: list, show RUN, compare RUN RUN, export RUN",
            ("list", "show", "compare", "export"),
        ),
        ("models", "pushed model versions and their lineage: list, show VERSION", ("list", "show")),
    ):
        rp = sub.add_parser(name, help=help_text)
        rp.add_argument("action", choices=actions)
        rp.add_argument("ids", nargs="*", help="run ids (a unique prefix, or 'latest') / version")
        rp.add_argument("--json", action="store_true")
        rp.add_argument(
            "--metadata", default=None, help="ML Metadata SQLite file (default: the local run's)"
        )
        rp.add_argument("--pipeline", default="cyclecast", help="pipeline name")
        if name == "runs":
            rp.add_argument(
                "--mlflow-uri",
                default=None,
                help="export: the MLflow tracking URI, e.g. file:///tmp/mlruns (needs the extra)",
            )
            rp.add_argument("--experiment", default="cyclecast", help="export: MLflow experiment")

    rep = sub.add_parser(
        "report",
        help="one self-contained HTML page about a run: data, phases, ROC, calibration, baselines",
    )
    rep.add_argument("run", nargs="?", default="latest", help="run id, a unique prefix, or latest")
    rep.add_argument(
        "--out", type=Path, default=None, help="HTML file (default: .cyclecast/reports/<run>.html)"
    )
    rep.add_argument(
        "--metadata", default=None, help="ML Metadata SQLite file (default: the local run's)"
    )
    rep.add_argument("--pipeline", default="cyclecast", help="pipeline name")

    ev = sub.add_parser("evaluate", help="a pushed model vs the calendar rule on any split")
    ev.add_argument("--split", default="test", help="split of the latest local run (default test)")
    ev.add_argument("--examples", default=None, help="or a TFRecord pattern of labelled examples")
    ev.add_argument(
        "--model",
        default=None,
        help="a SavedModel or base path (default: the local run's pushed models)",
    )
    ev.add_argument("--json", action="store_true")

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
    b.add_argument("--output", default="BENCHMARKS.md")
    b.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("features", "scaling", "whole-run", "serving"),
        help="leave a part out (repeatable)",
    )
    b.add_argument(
        "--whole-run-scales",
        default="1",
        help="comma-separated multiples of the default data for the whole run, e.g. 1,4",
    )

    sk = sub.add_parser("skew", help="check logged serving requests for skew against training")
    sk.add_argument("--requests", required=True, help="request log files (pattern)")
    sk.add_argument(
        "--baseline",
        required=True,
        help="training statistics: StatisticsGen's Split-train/FeatureStats.pb",
    )
    sk.add_argument("--schema", default=None, help="schema (default: schema/schema.pbtxt)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cyclecast`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "features":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "generate":
        for name in ("users", "cycles"):
            if getattr(args, name) < 1:
                parser.error(f"--{name} must be at least 1")
        return _cmd_generate(args)
    if args.command == "features":
        return _cmd_features(args, extra)
    if args.command == "predict":
        return _cmd_predict(args)
    if args.command in ("compile", "submit"):
        if args.config is None:
            from pipeline.orchestration.kubeflow import DEFAULT_KUBEFLOW_CONFIG

            args.config = str(DEFAULT_KUBEFLOW_CONFIG)
        return _cmd_compile(args) if args.command == "compile" else _cmd_submit(args)
    if args.command in ("runs", "models"):
        wanted = {"list": 0, "show": 1, "compare": 2, "export": 1}[args.action]
        if len(args.ids) != wanted:
            parser.error(f"{args.command} {args.action} takes {wanted} id(s)")
        if args.action == "export" and not args.mlflow_uri:
            parser.error("runs export needs --mlflow-uri")
        return _cmd_runs(args)
    if args.command == "evaluate":
        return _cmd_evaluate(args)
    if args.command == "report":
        return _cmd_report(args)
    if args.command == "bench":
        if args.model:
            from pipeline.serving.predict import resolve_model_dir

            args.model = resolve_model_dir(args.model)
        return _cmd_bench(args)
    if args.command == "skew":
        if args.schema is None:
            from transforms.serving_request import DEFAULT_SCHEMA

            args.schema = str(DEFAULT_SCHEMA)
        return _cmd_skew(args)
    return _cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
