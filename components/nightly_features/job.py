"""Run the nightly-feature job as a standalone Beam pipeline, outside TFX.

``run_feature_job`` (``cyclecast features``) processes every raw recording under a data root into
one output directory. ``run_backfill`` (``cyclecast backfill``) re-ingests a range of nights into
the span store, as one Beam job on whichever runner is configured, writing the same files and
index entries the nightly component would have written night by night. The TFX component runs the
very same transforms.
"""

from __future__ import annotations

import json
from pathlib import Path

from transforms import features as fc
from transforms import raw_format as rf

EXAMPLES_SUBDIR = "examples"
QUARANTINE_SUBDIR = "quarantine"
REQUESTS_SUBDIR = "requests"


class InputError(ValueError):
    """The input root is not a cyclecast data root; the message says what is wrong."""


def check_input_root(input_root: str) -> None:
    """Fail early, with a clear message, on a missing or malformed local data root.

    Remote roots (``gs://``, ``s3://``...) are left to Beam's file systems to check.
    """
    if "://" in input_root:
        return
    root = Path(input_root)
    if not root.is_dir():
        raise InputError(f"input root {root} does not exist or is not a directory")
    cycles = root / rf.CYCLES_FILE
    if not cycles.is_file():
        raise InputError(f"{cycles} is missing: the cycle log is needed to label nights")
    with cycles.open("rb") as f:  # bytes: a bad byte further on is one bad line, not this
        first = f.readline().strip()
    header = first.decode("utf-8", errors="backslashreplace")
    if header != ",".join(rf.CYCLES_COLUMNS):
        raise InputError(
            f"{cycles} line 1 (the header) is {header!r}, expected {','.join(rf.CYCLES_COLUMNS)!r}"
        )
    if not any((root / rf.NIGHTS_DIR).glob(f"*/*{rf.RAW_SUFFIX}")):
        raise InputError(f"no raw files under {root / rf.NIGHTS_DIR}/<date>/<user>{rf.RAW_SUFFIX}")


OUTPUT_SUBDIRS = (EXAMPLES_SUBDIR, QUARANTINE_SUBDIR)  # all the job writes under its output


def prepare_output_root(out_dir: str) -> list[str]:
    """Make ``out_dir`` ready to hold exactly one run's output; return the entries cleared.

    A missing or empty directory is ready. An earlier output of this job (finished or not)
    holds nothing but ``examples/`` and ``quarantine/``: those are deleted, so no shard of the
    earlier run stays beside the new ones. Anything else raises ``InputError`` and nothing is
    deleted: a file at ``out_dir``, or a directory holding anything the job does not write.
    """
    out = out_dir.rstrip("/")
    if "://" in out:
        return _clear_remote_output(out)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise InputError(
            f"output {root} is a file; give a directory (the job writes examples/ and "
            "quarantine/ in it)"
        )
    entries = sorted(root.iterdir()) if root.is_dir() else []
    foreign = [e.name for e in entries if e.name not in OUTPUT_SUBDIRS or not _real_dir(e)]
    if foreign:
        raise InputError(_not_an_output(out, foreign))
    import shutil

    for entry in entries:
        shutil.rmtree(entry)
    return [str(e) for e in entries]


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _not_an_output(out: str, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return (
        f"output {out} holds {shown}, which the feature job does not write: give a new or "
        f"empty directory, or one holding only an earlier output ({', '.join(OUTPUT_SUBDIRS)})"
    )


def _clear_remote_output(out: str) -> list[str]:
    """``prepare_output_root`` on an object store (no directories: the objects under ``out/``)."""
    from apache_beam.io.filesystems import FileSystems

    found = [m.path for m in FileSystems.match([f"{out}/**"])[0].metadata_list]
    foreign = sorted({p[len(out) + 1 :].split("/")[0] for p in found} - set(OUTPUT_SUBDIRS))
    if foreign:
        raise InputError(_not_an_output(out, foreign))
    if found:
        FileSystems.delete(found)
    return found


def run_feature_job(
    input_root: str,
    out_dir: str,
    salt: bytes,
    beam_args: list[str],
    split_buckets: dict[str, int] | None = None,
) -> dict:
    """Run the job to completion and return its summary (also written to the quarantine).

    ``out_dir`` ends up holding exactly this run's files (``prepare_output_root``).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.nightly_features.beam_job import (
        DEFAULT_SPLITS,
        FeatureJobConfig,
        RawRecordingsToExamples,
    )
    from components.nightly_features.feature_outputs import WriteFeatureOutputs
    from components.quarantine_layout import SUMMARY_FILE

    check_input_root(input_root)
    prepare_output_root(out_dir)
    config = FeatureJobConfig(
        input_root=input_root, salt=salt, split_buckets=dict(split_buckets or DEFAULT_SPLITS)
    )
    out = out_dir.rstrip("/")
    quarantine = f"{out}/{QUARANTINE_SUBDIR}"
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        outputs = p | "NightlyFeatures" >> RawRecordingsToExamples(config)
        _ = outputs | "Write" >> WriteFeatureOutputs(
            f"{out}/{EXAMPLES_SUBDIR}", quarantine, list(config.split_buckets)
        )
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(f"{quarantine}/{SUMMARY_FILE}") as f:
        return json.loads(f.read().decode())


BACKFILL_DIR = "backfill"


def run_backfill(
    input_root: str,
    store_root: str,
    first: str,
    last: str,
    salt: bytes,
    beam_args: list[str],
    code_version: str,
    split_buckets: dict[str, int] | None = None,
    progress=lambda _: None,
    online_store: str | None = None,
) -> dict:
    """Re-ingest nights ``first``..``last`` (ISO dates) into the span store; return the summary.

    The history of ``first`` and the 27 nights after it comes from the nights before it already
    in the store, as on the nightly path. Outputs go to a new generation,
    ``<store>/backfill/<first>_<last>/<generation>/``, never into a folder an entry names: the
    entries switch to it only once all of it is written, and the online store (``online_store``,
    None: the embedded one beside the span store) republishes each night as its entry switches.
    The store's writer lock is held from planning to the last commit (``StoreBusy`` when another
    run or backfill holds it).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.nightly_features.beam_job import DEFAULT_SPLITS, FeatureJobConfig
    from components.nightly_features.ingest import ingest
    from components.spans.dates import parse_night
    from components.spans.plan import plan_backfill
    from components.spans.store import SpanStore
    from components.spans.writer_lock import store_writer

    check_input_root(input_root)
    store = SpanStore(store_root)
    with store_writer(store.root, f"backfill {first}..{last}"):
        plan = plan_backfill(store, input_root, parse_night(first), parse_night(last))
        progress(f"planned {len(plan.ingest)} nights; history before them from the store")
        if plan.history_missing:  # a first backfill, or a gap: said, not hidden
            progress(
                f"{len(plan.history_missing)} of the {fc.HISTORY_NIGHTS} nights before {first} "
                "are not in the span store (no data, or never ingested): the first nights' "
                "history features miss them; backfill from an earlier night to include them"
            )
        out = f"{store.root}/{BACKFILL_DIR}/{first}_{last}/{new_generation()}"
        config = FeatureJobConfig(
            input_root=input_root, salt=salt, split_buckets=dict(split_buckets or DEFAULT_SPLITS)
        )
        return ingest(
            plan,
            config,
            f"{out}/{EXAMPLES_SUBDIR}",
            f"{out}/{QUARANTINE_SUBDIR}",
            store,
            code_version,
            lambda: beam.Pipeline(options=PipelineOptions(beam_args)),
            progress,
            requests_dir=f"{out}/{REQUESTS_SUBDIR}",
            online_store=online_store,
        )


def new_generation() -> str:
    """A new generation's folder name: the UTC time it started and a random suffix (unique)."""
    import datetime as dt
    import secrets

    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
