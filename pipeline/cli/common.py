"""What every command group shares: the work directory, the metadata store, quiet start-up.

Only the standard library and ``pipeline.config`` are imported here, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import DEFAULT_WORKDIR, LocalConfig


class CommandError(Exception):
    """A bad input a person can fix; the command prints it and exits with status 2."""


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up log lines out of sight (call before it is imported)."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Beam's TFRecord writer warns that python-snappy is absent; crcmod's C extension is used.
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # deprecation notices
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def add_workdir(parser: argparse.ArgumentParser) -> None:
    """``--workdir``: where local runs keep their state (metadata, pipeline root, models)."""
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"where local runs keep their state (default {DEFAULT_WORKDIR})",
    )


METADATA_ENV = "CYCLECAST_METADATA"


def add_run_state(parser: argparse.ArgumentParser, pipeline: bool = True) -> None:
    """``--workdir`` and ``--metadata`` (and ``--pipeline``): which runs a command reads."""
    add_workdir(parser)
    add_metadata(parser)
    if pipeline:
        parser.add_argument("--pipeline", default="cyclecast", help="pipeline name")


def add_metadata(parser: argparse.ArgumentParser) -> None:
    """``--metadata``: the ML Metadata store a command reads or records runs in."""
    parser.add_argument(
        "--metadata",
        default=None,
        metavar="ADDRESS",
        help="ML Metadata: a SQLite file, mysql://USER@HOST:PORT/DATABASE (password in "
        "$CYCLECAST_METADATA_PASSWORD) or grpc://HOST:PORT (Kubeflow's metadata service); "
        f"default ${METADATA_ENV}, else WORKDIR/metadata.db",
    )


def local_config(args: argparse.Namespace) -> LocalConfig:
    """The local set-up for ``--workdir``."""
    return LocalConfig(workdir=Path(args.workdir))


def metadata_path(args: argparse.Namespace) -> str:
    """``--metadata``, else ``$CYCLECAST_METADATA``, else the work directory's SQLite store."""
    import os

    if args.metadata:
        return args.metadata
    if os.environ.get(METADATA_ENV):
        return os.environ[METADATA_ENV]
    return local_config(args).pipeline_config().metadata_path


def fail(command: str, message: object) -> int:
    """Print ``cyclecast COMMAND: MESSAGE`` to stderr and return the bad-input status (2)."""
    print(f"cyclecast {command}: {message}", file=sys.stderr)
    return 2


def print_json(value: object) -> None:
    """Print ``value`` as indented, key-sorted JSON (non-JSON values as strings)."""
    import json

    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def print_result(as_json: bool, data: object, render) -> None:
    """Print ``data`` as JSON (``--json``), or ``render()``'s text for a person."""
    if as_json:
        print_json(data)
    else:
        print(render())
