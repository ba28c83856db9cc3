"""``cyclecast compile`` and ``cyclecast submit``: the same pipeline on Kubeflow Pipelines."""

from __future__ import annotations

import argparse
from dataclasses import replace

from pipeline.cli.common import CommandError, print_json, quiet_tensorflow

DEFAULT_SPEC = ".cyclecast/kubeflow/cyclecast.json"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``compile`` and ``submit``."""
    c = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines (KFP v2 spec)")
    _add_config(c)
    c.add_argument("--output", default=DEFAULT_SPEC)
    c.add_argument("--image", default=None, help="override the component image (tag or digest)")
    c.set_defaults(func=compile_spec)

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
        type=_key_value,
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
    _add_config(sm)
    sm.add_argument("--namespace", default=None, help="the Kubeflow profile namespace")
    sm.add_argument(
        "--token-file",
        default=None,
        help="a file holding the bearer token (default: $KFP_TOKEN if set)",
    )
    sm.set_defaults(func=submit)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="cluster config (default: pipeline/configs/kubeflow.toml)"
    )


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--param takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _load_config(path: str | None):
    from pipeline.orchestration.kubeflow import (
        DEFAULT_KUBEFLOW_CONFIG,
        ConfigError,
        load_kubeflow_config,
    )

    try:
        return load_kubeflow_config(path or str(DEFAULT_KUBEFLOW_CONFIG))
    except (ConfigError, OSError) as e:
        raise CommandError(e) from e


def compile_spec(args: argparse.Namespace) -> int:
    """Compile the pipeline into a KFP v2 pipeline spec (JSON)."""
    quiet_tensorflow()
    from pipeline.orchestration.kubeflow import compile_pipeline

    config = _load_config(args.config)
    if args.image:
        config = replace(config, image=args.image)
    print(f"compiled {compile_pipeline(config, args.output)} (image {config.image})")
    return 0


def submit(args: argparse.Namespace) -> int:
    """Create a run (or a recurring run) on a Kubeflow Pipelines endpoint."""
    quiet_tensorflow()
    from pipeline.orchestration.kfp_submit import SubmitError, load_token, submit_pipeline
    from pipeline.orchestration.kubeflow import ConfigError, runtime_parameter_values

    config = _load_config(args.config)
    try:
        overrides = dict(args.param)
        # only translating --param needs TFX (slow to import); a bare submit skips it
        parameters = runtime_parameter_values(config, overrides) if overrides else {}
        spec = args.spec
        if spec is None:
            from pipeline.orchestration.kubeflow import compile_pipeline

            spec = str(compile_pipeline(config, DEFAULT_SPEC))
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
        raise CommandError(e) from e
    print_json(result.to_dict())
    return 0
