"""``cyclecast runs``, ``models`` and ``report``: what past runs did, read from ML Metadata."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import (
    CommandError,
    add_run_state,
    local_config,
    metadata_path,
    print_json,
    print_result,
    quiet_tensorflow,
)

# action -> how many ids it takes
RUN_ACTIONS = {"list": 0, "show": 1, "compare": 2, "export": 1}
MODEL_ACTIONS = {"list": 0, "show": 1, "register": 1}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``runs``, ``models`` and ``report``."""
    rp = sub.add_parser(
        "runs", help="pipeline runs from ML Metadata: list, show RUN, compare RUN RUN, export RUN"
    )
    rp.add_argument("action", choices=tuple(RUN_ACTIONS))
    rp.add_argument("ids", nargs="*", help="run ids (a unique prefix, or 'latest')")
    rp.add_argument("--json", action="store_true")
    add_run_state(rp)
    add_mlflow_options(rp, "export")
    rp.add_argument(
        "--no-register",
        dest="register",
        action="store_false",
        help="export: log to MLflow tracking only, not the model registry",
    )
    rp.set_defaults(func=runs)

    mp = sub.add_parser(
        "models",
        help="pushed model versions and their lineage: list, show VERSION, register VERSION",
    )
    mp.add_argument("action", choices=tuple(MODEL_ACTIONS))
    mp.add_argument("ids", nargs="*", help="a model version (TF Serving's number, or latest)")
    mp.add_argument("--json", action="store_true")
    add_run_state(mp)
    add_mlflow_options(mp, "register")
    mp.set_defaults(func=models)

    rep = sub.add_parser(
        "report",
        help="one self-contained HTML page about a run: data, phases, ROC, calibration, baselines",
    )
    rep.add_argument("run", nargs="?", default="latest", help="run id, a unique prefix, or latest")
    rep.add_argument(
        "--out", type=Path, default=None, help="HTML file (default: WORKDIR/reports/<run>.html)"
    )
    add_run_state(rep)
    rep.set_defaults(func=report)


def add_mlflow_options(parser: argparse.ArgumentParser, action: str) -> None:
    """Where ``action`` sends a run and its model: MLflow tracking and the model registry."""
    parser.add_argument(
        "--mlflow-uri",
        default=None,
        help=f"{action}: MLflow tracking and registry URI, e.g. http://mlflow.example:5000 or "
        "sqlite:///mlflow.db (needs the 'mlflow' extra)",
    )
    parser.add_argument("--experiment", default="cyclecast", help=f"{action}: MLflow experiment")
    parser.add_argument(
        "--registered-model",
        default=None,
        help=f"{action}: registered model name (default: the pipeline's model name)",
    )
    parser.add_argument(
        "--alias",
        default="serving",
        help=f"{action}: the alias on the version TF Serving serves (the newest pushed one)",
    )


def export_to_mlflow(
    args: argparse.Namespace,
    metadata: str,
    pipeline: str,
    run: str,
    register: bool,
    summary=None,
) -> None:
    """Log a run to MLflow tracking and, if ``register``, its pushed model to the registry.

    ``summary``: the run's ``RunSummary`` when the caller already has it.
    """
    from pipeline.runs.mlflow_export import MlflowError, export_run, mlflow_client, redacted
    from pipeline.runs.mlflow_registry import register_run_model, unregistered_reason
    from pipeline.runs.summary import summarize_run

    r = summary or summarize_run(metadata, pipeline, run)
    name = args.registered_model or local_config(args).pipeline_config().model_name
    try:
        with mlflow_client(args.mlflow_uri) as client:
            mlflow_id = export_run(client, r, args.experiment)
            print(f"exported {r.run_id} to {redacted(args.mlflow_uri)} as MLflow run {mlflow_id}")
            why = unregistered_reason(r)
            if not register or why:
                print(f"not registered in the model registry: {why or 'asked not to'}")
                return
            reg = register_run_model(
                client, r, mlflow_id, metadata, pipeline, name, args.alias
            )
    except MlflowError as e:
        raise CommandError(e) from e
    where = f"alias {reg.alias}" if reg.alias else f"not the newest pushed: no alias {args.alias}"
    print(
        f"{'registered' if reg.created else 'already registered:'} TF Serving version "
        f"{r.pushed_version} as {name} version {reg.version} ({where})"
    )


def _check_ids(command: str, action: str, ids: list[str], wanted: int) -> None:
    if len(ids) != wanted:
        raise CommandError(f"{command} {action} takes {wanted} id(s), got {len(ids)}")
    for i in ids:
        _check_id(i)


def _check_id(given: str) -> None:
    """Refuse an empty id: as a prefix it would match every run (and show the latest)."""
    if not given.strip():
        raise CommandError("an empty id names nothing; give an id, a unique prefix or 'latest'")


def runs(args: argparse.Namespace) -> int:
    """List, show, compare or export pipeline runs."""
    _check_ids("runs", args.action, args.ids, RUN_ACTIONS[args.action])
    if args.action == "export" and not args.mlflow_uri:
        raise CommandError("runs export needs --mlflow-uri")
    quiet_tensorflow()
    from pipeline.runs import catalog
    from pipeline.runs.summary import format_run_summary, summarize_run

    metadata = metadata_path(args)
    try:
        if args.action == "list":
            found = catalog.list_runs(metadata, args.pipeline)
            records = [catalog.run_record(r) for r in found]
            print_result(args.json, records, lambda: catalog.format_runs_table(found))
        elif args.action == "show":
            r = summarize_run(metadata, args.pipeline, args.ids[0])
            print_result(args.json, catalog.run_record(r), lambda: format_run_summary(r))
        elif args.action == "export":
            export_to_mlflow(args, metadata, args.pipeline, args.ids[0], args.register)
        else:
            a, b = (summarize_run(metadata, args.pipeline, i) for i in args.ids)
            comparison = catalog.compare_runs(a, b)
            text = catalog.format_comparison
            print_result(args.json, comparison, lambda: text(comparison))
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    return 0


def models(args: argparse.Namespace) -> int:
    """List pushed model versions, show one version's lineage, or register one in MLflow."""
    _check_ids("models", args.action, args.ids, MODEL_ACTIONS[args.action])
    if args.action == "register" and not args.mlflow_uri:
        raise CommandError("models register needs --mlflow-uri")
    quiet_tensorflow()
    from pipeline.runs import catalog

    metadata = metadata_path(args)
    try:
        if args.action == "list":
            found = catalog.list_models(metadata, args.pipeline)
            if args.json:
                print_json([m.to_dict() for m in found])
            else:
                for m in found:
                    auc = m.metrics.get("auc", float("nan"))
                    print(f"{m.version}  run {m.run_id}  auc={auc:.3f}  {m.path}")
        elif args.action == "register":
            model = catalog.find_model(metadata, args.pipeline, args.ids[0])
            if model.run_id is None:
                raise CommandError(f"no recorded run pushed version {model.version}")
            export_to_mlflow(args, metadata, args.pipeline, model.run_id, register=True)
        else:
            model = catalog.find_model(metadata, args.pipeline, args.ids[0])
            print_result(args.json, model.to_dict(), lambda: catalog.format_model(model))
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    return 0


def report(args: argparse.Namespace) -> int:
    """Write one self-contained HTML page about a run."""
    _check_id(args.run)
    if args.out is not None and args.out.is_dir():
        raise CommandError(f"--out {args.out} is a directory; give the HTML file to write")
    quiet_tensorflow()
    from pipeline.runs.report import write_report

    config = local_config(args)
    try:
        path = write_report(metadata_path(args), args.pipeline, args.run, args.out, config.workdir)
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    except OSError as e:  # an unwritable --out: a read-only folder, a file in the way
        raise CommandError(f"cannot write the report to {e.filename}: {e.strerror or e}") from e
    print(f"wrote {path}")
    return 0
