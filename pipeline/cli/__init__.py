"""The ``cyclecast`` command line: one module per command group, dispatch by ``func``.

Only the standard library and ``pipeline.config`` are imported at start-up; each command imports
what it needs when it runs, so ``cyclecast --help`` answers at once. Commands only parse, call
``pipeline`` and print: the work itself lives in the packages they call.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import bench, data, kubeflow, run, runs, serving
from pipeline.cli.common import CommandError, fail

GROUPS = (data, run, serving, kubeflow, runs, bench)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="cyclecast",
        description="Raw wearable recordings to a served fertile-window model (TFX on Beam).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cyclecast`` console script."""
    import os

    # Before anything imports TensorFlow: oneDNN's CPU-dependent kernels would move the trained
    # weights in the last bits between machine types (the image and ./dev set the same).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "beam_passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    from pipeline.metadata.connection import MetadataAddressError, MetadataConnectionError

    try:
        return args.func(args)
    except (CommandError, MetadataAddressError, MetadataConnectionError) as e:
        return fail(args.command, e)


if __name__ == "__main__":
    sys.exit(main())
