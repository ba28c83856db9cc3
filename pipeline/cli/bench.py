"""``cyclecast bench`` and ``calibrate-drift``, where the ``benchmarks`` package is installed.

The commands live in ``benchmarks.cli``, beside what they measure. ``benchmarks/`` is a repository
tool, left out of the component image (``.dockerignore``), and it builds on ``pipeline`` (not the
other way round): so ``pipeline`` never imports it. This group looks the package up by name when
the parser is built; in a checkout it registers the real commands, in the image stand-ins that
say why the commands are absent instead of failing on an import.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from pipeline.cli.common import CommandError

BENCHMARKS_PACKAGE = "benchmarks"
COMMANDS = ("bench", "calibrate-drift")


def benchmarks_installed() -> bool:
    """Whether the ``benchmarks`` package can be imported here (a repository checkout)."""
    return importlib.util.find_spec(BENCHMARKS_PACKAGE) is not None


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and ``calibrate-drift``: the real ones, or stand-ins that explain."""
    if benchmarks_installed():
        importlib.import_module(f"{BENCHMARKS_PACKAGE}.cli").add_commands(sub)
        return
    for name in COMMANDS:
        # no option prefix: every argument (even --help) reaches the stand-in, which explains
        p = sub.add_parser(name, help="(needs a repository checkout: benchmarks/ is not here)",
                           prefix_chars="\0", add_help=False)
        p.add_argument("ignored", nargs="*")
        p.set_defaults(func=absent)


def absent(args: argparse.Namespace) -> int:
    """The stand-in's answer: where the command can be run."""
    raise CommandError(
        f"`cyclecast {args.command}` needs the benchmarks package, which is not installed here "
        "(the component image leaves benchmarks/ out); run it from a repository checkout "
        "(./dev venv, then .venv/bin/cyclecast)"
    )
