"""Ingest planned nights: one Beam job, then one span-store entry per night it wrote.

The nightly component and ``cyclecast backfill`` both call ``ingest``: the same plan type, the same
Beam transforms and the same file layout, so a backfilled night's files are byte-identical to the
ones the nightly run would have written for it. Entries are committed only after the Beam job has
finished, so a crash leaves the store as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from components.file_io import write_atomically
from components.nightly_features.beam_job import (
    FeatureJobConfig,
    RawRecordingsToExamples,
)
from components.nightly_features.feature_outputs import WriteFeatureOutputs
from components.nightly_features.selection import NightSelection
from components.quarantine_layout import PLAN_FILE, SUMMARY_FILE
from components.spans.plan import IngestPlan
from components.spans.store import SpanEntry, SpanStore


def ingest(
    plan: IngestPlan,
    config: FeatureJobConfig,
    examples_dir: str,
    quarantine_dir: str,
    store: SpanStore,
    code_version: str,
    make_pipeline: Callable[[], AbstractContextManager],
    progress: Callable[[str], None] = lambda _: None,
    requests_dir: str | None = None,
) -> dict:
    """Run the feature job on the plan's nights and commit them; return the job's summary."""
    from apache_beam.io.filesystems import FileSystems

    nights = [n.isoformat() for n in plan.nights]
    job = replace(
        config,
        selection=NightSelection.of(plan.nights),
        history_files=tuple(plan.history.values()),
    )
    progress(
        f"ingesting {NightSelection.of(plan.nights).describe()}: raw files of "
        f"{len(nights)} night(s), history of {len(plan.history)} stored night(s)"
    )
    with make_pipeline() as pipeline:
        outputs = pipeline | "NightlyFeatures" >> RawRecordingsToExamples(job)
        _ = outputs | "Write" >> WriteFeatureOutputs(
            examples_dir,
            quarantine_dir,
            list(config.split_buckets),
            nights,
            requests_dir=requests_dir,
        )
    quarantine = quarantine_dir.rstrip("/")
    with FileSystems.open(f"{quarantine}/{SUMMARY_FILE}") as f:
        summary = json.loads(f.read().decode())
    write_atomically(
        f"{quarantine}/{PLAN_FILE}", json.dumps(plan.to_dict(), indent=2, sort_keys=True).encode()
    )
    for i, night in enumerate(nights, 1):
        fingerprint, files = plan.fingerprints[night]
        store.commit(
            SpanEntry(
                night=night,
                examples=examples_dir.rstrip("/"),
                quarantine=quarantine,
                raw_fingerprint=fingerprint,
                raw_files=files,
                code_version=code_version,
                counts=summary["by_night"].get(night, {}),
                requests=(requests_dir or "").rstrip("/"),
            )
        )
        if i % 50 == 0 or i == len(nights):
            progress(f"committed {i}/{len(nights)} nights to the span store")
    return summary
