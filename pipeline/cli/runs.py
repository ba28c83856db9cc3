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
    quiet_tensorflow,
)

# action -> how many ids it takes
RUN_ACTIONS = {"list": 0, "show": 1, "compare": 2, "export": 1}
MODEL_ACTIONS = {"list": 0, "show": 1}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``runs``, ``models`` and ``report``."""
    rp = sub.add_parser(
        "runs", help="pipeline runs from ML Metadata: list, show RUN, compare RUN RUN, export RUN"
    )
    rp.add_argument("action", choices=tuple(RUN_ACTIONS))
    rp.add_argument("ids", nargs="*", help="run ids (a unique prefix, or 'latest')")
    rp.add_argument("--json", action="store_true")
    add_run_state(rp)
    rp.add_argument(
        "--mlflow-uri",
        default=None,
        help="export: the MLflow tracking URI, e.g. file:///tmp/mlruns (needs the extra)",
    )
    rp.add_argument("--experiment", default="cyclecast", help="export: MLflow experiment")
    rp.set_defaults(func=runs)

    mp = sub.add_parser(
        "models", help="pushed model versions and their lineage: list, show VERSION"
    )
    mp.add_argument("action", choices=tuple(MODEL_ACTIONS))
    mp.add_argument("ids", nargs="*", help="a model version")
    mp.add_argument("--json", action="store_true")
    add_run_state(mp)
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


def _check_ids(command: str, action: str, ids: list[str], wanted: int) -> None:
    if len(ids) != wanted:
        raise CommandError(f"{command} {action} takes {wanted} id(s), got {len(ids)}")


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
            if args.json:
                print_json([catalog.run_record(r) for r in found])
            else:
                print(catalog.format_runs_table(found))
        elif args.action == "show":
            r = summarize_run(metadata, args.pipeline, args.ids[0])
            if args.json:
                print_json(catalog.run_record(r))
            else:
                print(format_run_summary(r))
        elif args.action == "export":
            from pipeline.runs.mlflow_export import MlflowMissing, export_run

            r = summarize_run(metadata, args.pipeline, args.ids[0])
            try:
                mlflow_id = export_run(r, args.mlflow_uri, args.experiment)
            except MlflowMissing as e:
                raise CommandError(e) from e
            print(f"exported {r.run_id} to {args.mlflow_uri} as MLflow run {mlflow_id}")
        else:
            a, b = (summarize_run(metadata, args.pipeline, i) for i in args.ids)
            comparison = catalog.compare_runs(a, b)
            if args.json:
                print_json(comparison)
            else:
                print(catalog.format_comparison(comparison))
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    return 0


def models(args: argparse.Namespace) -> int:
    """List pushed model versions, or show one version's lineage."""
    _check_ids("models", args.action, args.ids, MODEL_ACTIONS[args.action])
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
        else:
            model = catalog.find_model(metadata, args.pipeline, args.ids[0])
            if args.json:
                print_json(model.to_dict())
            else:
                print(catalog.format_model(model))
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    return 0


def report(args: argparse.Namespace) -> int:
    """Write one self-contained HTML page about a run."""
    quiet_tensorflow()
    from pipeline.runs.report import write_report

    config = local_config(args)
    try:
        path = write_report(metadata_path(args), args.pipeline, args.run, args.out, config.workdir)
    except (LookupError, FileNotFoundError) as e:
        raise CommandError(e) from e
    print(f"wrote {path}")
    return 0
