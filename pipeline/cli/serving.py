"""The model as callers see it: ``cyclecast predict``, ``serve``, ``predictions``, ``evaluate``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from pipeline.cli.common import (
    CommandError,
    add_run_state,
    add_workdir,
    local_config,
    metadata_path,
    print_json,
    print_result,
    quiet_tensorflow,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``predict``, ``serve``, ``predictions``, ``evaluate`` and ``skew``."""
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
        type=Path,
        help="a night's raw serving features (an object, or a list of them)",
    )
    source.add_argument(
        "--from-examples",
        metavar="PATTERN",
        help="take nights from TFRecord examples, e.g. the eval split",
    )
    source.add_argument(
        "--upload",
        metavar="FILE.csv.gz",
        type=Path,
        help="one night's raw upload: parsed, validated and summarised by the feature job's own "
        "functions, with the user's previous nights from the span store (needs --user)",
    )
    pr.add_argument("--user", help="the upload's user id (as in nights/<date>/<user>.csv.gz)")
    pr.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="the upload's night (default: the date folder the file sits in)",
    )
    pr.add_argument(
        "--data-root",
        help="the run's data root (an upload's cycle rows come from the online store)",
    )
    pr.add_argument("--salt-file", default=None, help="the user-id salt (as for `run`)")
    pr.add_argument("--limit", type=int, default=5, help="nights taken with --from-examples")
    pr.add_argument("--model-name", default="cyclecast")
    add_run_state(pr, pipeline=False)  # --model VERSION is looked up in the run state
    pr.add_argument("--schema", default=None, help="schema for request checks (default: schema/)")
    pr.add_argument("--timeout", type=float, default=10.0, help="seconds, for --rest and --grpc")
    pr.add_argument(
        "--log-requests",
        metavar="DIR",
        help="also write the requests as tf.Examples here, for `cyclecast skew`",
    )
    pr.add_argument(
        "--json",
        action="store_true",
        help="with --upload: print the answer `cyclecast serve` gives, "
        '{"probability", "fertile", "model_version", "night"}',
    )
    pr.set_defaults(func=predict)

    sv = sub.add_parser(
        "serve",
        help="the answer service: POST /v1/users/USER/nights/YYYY-MM-DD with the raw upload",
    )
    sv.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    add_workdir(sv)
    sv.add_argument(
        "--data-root", help="where the cycle log is (default: the generated default data)"
    )
    sv.add_argument(
        "--config",
        metavar="TOML",
        type=Path,
        help="take the data root, span store and serving directory from a cluster config "
        "(as `cyclecast compile --config`) instead of --workdir; the salt from the environment",
    )
    sv.add_argument("--salt-file", default=None, help="the user-id salt (as for `run`)")
    remote = sv.add_mutually_exclusive_group()
    remote.add_argument("--rest", metavar="URL", help="ask TF Serving over REST, e.g. http://h:8501")
    remote.add_argument("--grpc", metavar="HOST:PORT", help="ask TF Serving over gRPC, e.g. h:8500")
    sv.add_argument("--model-name", default="cyclecast", help="the model's name in TF Serving")
    sv.add_argument("--timeout", type=float, default=10.0, help="seconds, for --rest and --grpc")
    sv.add_argument(
        "--poll-seconds",
        type=float,
        default=5.0,
        help="how often to look for a newly pushed version (default 5)",
    )
    sv.add_argument(
        "--threads",
        type=int,
        default=None,
        help="answers computed at once, in a thread pool (default: the machine's cores; in a "
        "container pass its CPU limit, as the default counts the node's cores)",
    )
    sv.set_defaults(func=serve)

    pn = sub.add_parser("predictions", help="the nightly predictions published for a night")
    pn.add_argument("--night", required=True, metavar="YYYY-MM-DD")
    pn.add_argument("--limit", type=int, default=20, help="predictions shown (default 20)")
    add_workdir(pn)
    pn.add_argument("--json", action="store_true", help="the summary and every prediction")
    pn.set_defaults(func=predictions)

    ev = sub.add_parser("evaluate", help="a pushed model vs the calendar rule on any split")
    ev.add_argument("--split", default="test", help="split of the run's examples (default test)")
    ev.add_argument("--run", default="latest", help="whose examples: a run id, prefix or latest")
    ev.add_argument("--examples", default=None, help="or a TFRecord pattern of labelled examples")
    ev.add_argument(
        "--model",
        default=None,
        help="a SavedModel or base path (default: WORKDIR's pushed models)",
    )
    ev.add_argument(
        "--cohort",
        type=_cohort_size,
        nargs="?",
        const=COHORT_USERS,
        metavar="N",
        help="instead of a split: generate N new users (default N "
        f"{COHORT_USERS}) with --seed, run the feature job on them and score every night and "
        "completed cycle, with 95%% bootstrap intervals by user",
    )
    ev.add_argument(
        "--seed",
        type=int,
        default=COHORT_SEED,
        help=f"the cohort's generator seed (default {COHORT_SEED}; never the training data's)",
    )
    ev.add_argument(
        "--cohort-dir",
        type=Path,
        default=None,
        help="keep the cohort's raw data and features here (default: a temporary folder, "
        "deleted afterwards)",
    )
    add_run_state(ev)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=evaluate)

    sk = sub.add_parser("skew", help="check logged serving requests for skew against training")
    sk.add_argument("--requests", required=True, help="request log files (pattern)")
    sk.add_argument(
        "--baseline",
        required=True,
        help="training statistics: StatisticsGen's Split-train/FeatureStats.pb",
    )
    sk.add_argument("--schema", default=None, help="schema (default: schema/schema.pbtxt)")
    sk.set_defaults(func=skew)


def read_nights(path: Path) -> list[dict]:
    """The nights in a ``--night`` JSON file (one object, or a list); errors name the file."""
    try:
        loaded = json.loads(path.read_text())
    except OSError as e:
        raise CommandError(f"cannot read --night {path}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise CommandError(
            f"--night {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from e
    nights = loaded if isinstance(loaded, list) else [loaded]
    if not nights or not all(isinstance(n, dict) for n in nights):
        raise CommandError(f"--night {path} must hold a JSON object or a list of objects")
    return nights


def predict(args: argparse.Namespace) -> int:
    """Score nights with a served or local model and print one JSON line per night."""
    if args.json and not args.upload:
        raise CommandError("--json answers an --upload (as `cyclecast serve` does)")
    nights = read_nights(args.night) if args.night else None
    quiet_tensorflow()
    from pipeline.serving import predict as p
    from transforms.serving_request import BadRequest

    keys: list[dict] = []
    try:
        if args.upload:
            request = upload_request(args)
            serialized = [request.serialized]
            keys = [{"user_key": request.user_key, "night": request.night}]
        else:
            if nights is None:
                nights = p.nights_from_examples(args.from_examples, args.limit)
            serialized = p.build_requests(nights, args.schema)
            if args.night:  # a night as the app holds it: scored only where batch would score it
                p.check_scorable(nights)
        if args.log_requests:
            logged = p.log_requests(args.log_requests, serialized)
            print(f"logged to {logged}", file=sys.stderr)
        if args.model:
            from pipeline.metadata.pushed_models import find_pushed_model

            version = find_pushed_model(metadata_path(args), args.model)
            predictions = p.predict_local(version.path, serialized)
        elif args.local:
            predictions = p.predict_local(args.local, serialized)
        elif args.rest:
            predictions = p.predict_rest(args.rest, args.model_name, serialized, args.timeout)
        else:
            predictions = p.predict_grpc(args.grpc, args.model_name, serialized, args.timeout)
        if args.json and args.rest:  # REST answers don't name their version: ask for it
            version = p.rest_model_version(args.rest, args.model_name, args.timeout)
            predictions = [dataclasses.replace(pred, model_version=version) for pred in predictions]
    except (BadRequest, p.ServingError, FileNotFoundError, LookupError, ValueError) as e:
        raise CommandError(e) from e
    if args.json:
        from pipeline.serving.answer import answer_body

        (pred,) = predictions
        print_json(answer_body(pred.probability, pred.fertile, pred.model_version, request.night))
        return 0
    for i, pred in enumerate(predictions):
        key = keys[i] if keys else {"night": i}
        print(
            json.dumps({**key, "probability": round(pred.probability, 6), "fertile": pred.fertile})
        )
    return 0


def upload_request(args: argparse.Namespace):
    """The request ``predict --upload`` sends: the online path of ``pipeline.serving.online``."""
    from pipeline.serving.online import request_for_upload

    if not args.user:
        raise CommandError("--upload needs --user (the upload's user id)")
    return request_for_upload(
        args.upload, args.user, args.date, local_config(args), args.data_root, args.salt_file
    )


def serve(args: argparse.Namespace) -> int:
    """Run the answer service under uvicorn until interrupted."""
    quiet_tensorflow()
    import uvicorn

    from pipeline.data import input_errors
    from pipeline.serving.online import BadUpload, upload_source
    from pipeline.serving.service import InProcessModel, ServedModel, create_app

    try:
        if args.config:
            from pipeline.orchestration.kubeflow import load_kubeflow_config

            cfg = load_kubeflow_config(args.config).pipeline
            if args.data_root:
                cfg = cfg.with_changes(data_root=args.data_root)
            source = upload_source(cfg, args.salt_file)
        else:
            config = local_config(args)
            cfg = config.pipeline_config(Path(args.data_root) if args.data_root else None)
            source = upload_source(cfg, args.salt_file, local_salt=config.salt_file)
    except (BadUpload, OSError, ValueError, *input_errors()) as e:  # the salt's, the config's
        raise CommandError(e) from e
    if args.rest or args.grpc:
        model = ServedModel(args.rest, args.grpc, args.model_name, args.timeout)
    else:
        model = InProcessModel(str(Path(cfg.serving_dir) / cfg.model_name))
    if args.threads is not None and args.threads < 1:
        raise CommandError(f"--threads must be at least 1, got {args.threads}")
    app = create_app(source, model, poll_seconds=args.poll_seconds, answer_threads=args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def predictions(args: argparse.Namespace) -> int:
    """Show the predictions NightlyPredictions published for a night, and who was not scored."""
    from pipeline.serving.online import published_ovulation, published_predictions

    root = local_config(args).pipeline_config().predictions_root
    try:
        summary, rows = published_predictions(root, args.night)
        closed = published_ovulation(root, args.night)
    except (FileNotFoundError, ValueError) as e:  # ValueError: --night is not a date
        raise CommandError(e) from e
    if args.json:
        print_json({**summary, "predictions": rows, "ovulation": closed})
        return 0
    skipped = ", ".join(f"{k}={v}" for k, v in summary["not_scored_by_reason"].items()) or "none"
    print(f"night {summary['night']}: {summary['scored']} scored with model version "
          f"{summary['model_version']}; not scored: {skipped}")
    for row in rows[: args.limit]:
        print(f"  {row['user_key']}  p={row['probability']:.3f}  "
              f"{'fertile' if row['fertile'] else 'not fertile'}")
    if len(rows) > args.limit:
        print(f"  ... {len(rows) - args.limit} more (--limit, --json)")
    print(f"cycles closed this night: {len(closed)}")
    for c in closed:
        found = (
            f"ovulation on cycle day {c['ovulation_cycle_day']} ({c['ovulation_date']})"
            if c["ovulation_cycle_day"] is not None
            else f"no estimate: {c['no_estimate_reason']}"
        )
        print(f"  {c['user_key']}  cycle {c['cycle_start']} ({c['cycle_length_days']} d): {found}")
    return 0


# `evaluate --cohort`'s defaults (pipeline.serving.cohort.DEFAULT_COHORT_USERS, pinned by a unit
# test: the command line must not import numpy to print its help).
COHORT_USERS = 150
COHORT_SEED = 4242


def _cohort_size(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a cohort needs at least 2 users, got {value}")
    return value


def evaluate(args: argparse.Namespace) -> int:
    """Score a pushed model and the calendar rule on the same labelled nights."""
    if args.cohort is not None:
        return evaluate_cohort(args)
    quiet_tensorflow()
    from pipeline.serving.evaluate import evaluate as score
    from pipeline.serving.evaluate import format_evaluation, latest_examples

    config = local_config(args)
    pipeline = config.pipeline_config()
    try:
        pattern = args.examples or latest_examples(
            metadata_path(args), args.pipeline, args.split, args.run
        )
        model = args.model or str(Path(pipeline.serving_dir) / pipeline.model_name)
        result = score(model, pattern)
    except (FileNotFoundError, LookupError) as e:
        raise CommandError(e) from e
    print_result(args.json, result, lambda: format_evaluation(result))
    return 0


def evaluate_cohort(args: argparse.Namespace) -> int:
    """``evaluate --cohort N``: the pushed model and the calendar rule on N new users."""
    import shutil
    import tempfile

    if args.examples:
        raise CommandError("--cohort generates its own nights: give --cohort or --examples")
    quiet_tensorflow()
    from pipeline.config import BeamConfig, DefaultData
    from pipeline.serving import cohort

    config = local_config(args)
    pipeline = config.pipeline_config()
    model = args.model or str(Path(pipeline.serving_dir) / pipeline.model_name)
    work = args.cohort_dir or Path(tempfile.mkdtemp(prefix="cyclecast-cohort-"))
    try:
        result = cohort.evaluate_cohort(
            model,
            args.cohort,
            args.seed,
            cohort.training_seeds(
                [config.data_root, *cohort.recorded_data_roots(metadata_path(args), args.pipeline)]
            ),
            work,
            BeamConfig.from_profile("direct").args(),
            DefaultData().cycles,
        )
    except (cohort.CohortError, FileNotFoundError, LookupError) as e:
        raise CommandError(e) from e
    finally:
        if args.cohort_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print_result(args.json, result, lambda: cohort.format_cohort(result))
    return 0


def skew(args: argparse.Namespace) -> int:
    """Compare logged serving requests with the training statistics (status 1 on skew)."""
    quiet_tensorflow()
    from pipeline.serving.skew import check_serving_skew
    from transforms.serving_request import DEFAULT_SCHEMA

    try:
        report = check_serving_skew(args.requests, args.baseline, args.schema or DEFAULT_SCHEMA)
    except OSError as e:
        raise CommandError(e) from e
    print(report.format())
    return 0 if report.ok else 1
