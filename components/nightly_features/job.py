"""Run the nightly-feature job as a standalone Beam pipeline (``cyclecast features``).

The TFX component runs the very same transforms; this is the re-processing entry point for when
the feature code changes and every raw recording must be processed again, on any Beam runner.
"""

from __future__ import annotations

import json
from pathlib import Path

from transforms import raw_format as rf

EXAMPLES_SUBDIR = "examples"
QUARANTINE_SUBDIR = "quarantine"


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
    with cycles.open() as f:
        header = f.readline().strip()
    if header != ",".join(rf.CYCLES_COLUMNS):
        raise InputError(f"{cycles} header is {header!r}, expected {','.join(rf.CYCLES_COLUMNS)!r}")
    if not any((root / rf.NIGHTS_DIR).glob(f"*/*{rf.RAW_SUFFIX}")):
        raise InputError(f"no raw files under {root / rf.NIGHTS_DIR}/<date>/<user>{rf.RAW_SUFFIX}")


def run_feature_job(
    input_root: str,
    out_dir: str,
    salt: bytes,
    beam_args: list[str],
    split_buckets: dict[str, int] | None = None,
) -> dict:
    """Run the job to completion and return its summary (also written to the quarantine)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.nightly_features.beam_job import (
        DEFAULT_SPLITS,
        SUMMARY_FILE,
        FeatureJobConfig,
        RawRecordingsToExamples,
        WriteFeatureOutputs,
    )

    check_input_root(input_root)
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
