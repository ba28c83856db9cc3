"""``cyclecast predict``, ``predictions``, ``evaluate``, ``skew``: the model, as callers see it."""

from __future__ import annotations

import argparse
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
    """Register ``predict``, ``predictions``, ``evaluate`` and ``skew``."""
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
    pr.set_defaults(func=predict)

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
    except (BadRequest, p.ServingError, FileNotFoundError, LookupError, ValueError) as e:
        raise CommandError(e) from e
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


def predictions(args: argparse.Namespace) -> int:
    """Show the predictions NightlyPredictions published for a night, and who was not scored."""
    from pipeline.serving.online import published_predictions

    root = local_config(args).pipeline_config().predictions_root
    try:
        summary, rows = published_predictions(root, args.night)
    except (FileNotFoundError, ValueError) as e:  # ValueError: --night is not a date
        raise CommandError(e) from e
    if args.json:
        print_json({**summary, "predictions": rows})
        return 0
    skipped = ", ".join(f"{k}={v}" for k, v in summary["not_scored_by_reason"].items()) or "none"
    print(f"night {summary['night']}: {summary['scored']} scored with model version "
          f"{summary['model_version']}; not scored: {skipped}")
    for row in rows[: args.limit]:
        print(f"  {row['user_key']}  p={row['probability']:.3f}  "
              f"{'fertile' if row['fertile'] else 'not fertile'}")
    if len(rows) > args.limit:
        print(f"  ... {len(rows) - args.limit} more (--limit, --json)")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Score a pushed model and the calendar rule on the same labelled nights."""
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
