"""Ingest planned nights: one Beam job, then one span-store entry per night it wrote.

The nightly component and ``cyclecast backfill`` both call ``ingest``: the same plan type, the same
Beam transforms and the same file layout, so a backfilled night's files are byte-identical to the
ones the nightly run would have written for it. Entries are committed only after the Beam job has
finished, each recording the sha256 of every file it names, and only by a process holding the
store's writer lock (``spans.writer_lock``); the folders the job writes are new (a run's fresh
artifacts, a backfill's new generation), so a crash at any point leaves each night wholly old or
wholly new.

The same run stages its nights' rows for the online store (``components.online_store``): the
Beam job writes them under the run's id, and each night is published, in one step, right after
its entry commits (its digest, the statistics file's sha256, with it); its cycle rows after the
last night. A failed job publishes nothing: its staged rows are dropped. Nights older than any
request can need (``keep_nights`` before the newest) are then pruned.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from components import defaults
from components.file_io import write_atomically
from components.nightly_features.beam_job import (
    FeatureJobConfig,
    RawRecordingsToExamples,
)
from components.nightly_features.feature_outputs import WriteFeatureOutputs
from components.nightly_features.selection import NightSelection
from components.quarantine_layout import PLAN_FILE, SUMMARY_FILE
from components.spans.plan import IngestPlan
from components.spans.store import SpanEntry, SpanStore, file_digests
from components.spans.writer_lock import store_writer
from transforms.features import HISTORY_NIGHTS

# The nights a request can need: the history of a night up to the lateness horizon back.
KEEP_NIGHTS = HISTORY_NIGHTS + defaults.LATE_NIGHTS


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
    online_store: str | None = None,
    keep_nights: int = KEEP_NIGHTS,
) -> dict:
    """Run the feature job on the plan's nights, commit them and publish them online.

    The caller holds the store's writer lock from planning on (``store_writer``); it is taken
    here too (re-entrant), so no caller commits without it. ``online_store`` is the online
    store's URL (None: the embedded one beside the span store, ``online_store.default_url``;
    "": none).
    """
    from components.online_store import default_url, open_store

    url = default_url(store.root) if online_store is None else online_store
    with store_writer(store.root, f"ingest of {plan.night}"):
        online = open_store(url, create=True) if url else None
        run = secrets.token_hex(8)
        if online is not None:
            online.discard_staging()  # what a crashed run left: never published
            config = replace(config, online_store=url, online_run=run)
        try:
            summary = _write_nights(
                plan, config, examples_dir, quarantine_dir, make_pipeline, progress, requests_dir
            )
        except BaseException:
            if online is not None:
                online.discard_staging()
                online.close()
            raise
        nights = [n.isoformat() for n in plan.nights]
        quarantine = quarantine_dir.rstrip("/")
        entries = []
        for night in nights:  # every file written and hashed before the first entry changes
            fingerprint, files = plan.fingerprints[night]
            entry = SpanEntry(
                night=night,
                examples=examples_dir.rstrip("/"),
                quarantine=quarantine,
                raw_fingerprint=fingerprint,
                raw_files=files,
                code_version=code_version,
                counts=summary["by_night"].get(night, {}),
                requests=(requests_dir or "").rstrip("/"),
            )
            entries.append(replace(entry, files=file_digests(entry.find_files())))
        progress(f"hashed the files of {len(nights)} nights; committing")
        for i, entry in enumerate(entries, 1):
            store.commit(entry)
            if online is not None:  # the night's entry first: then its online rows
                online.publish_night(run, entry.night, entry.files.get(entry.stats_file, ""))
            if i % 50 == 0 or i == len(nights):
                progress(f"committed {i}/{len(nights)} nights to the span store")
        if online is not None:
            _finish_online(online, run, keep_nights, progress)
    return summary


def _finish_online(online, run: str, keep_nights: int, progress: Callable[[str], None]) -> None:
    """Publish the run's cycle rows, prune the nights no request needs, close the store."""
    try:
        online.publish_cycles(run)
        published = online.nights()
        if published:
            newest = dt.date.fromisoformat(max(published))
            online.prune((newest - dt.timedelta(days=keep_nights)).isoformat())
        progress(f"published the nights and cycle rows to the online store {online.url}")
    finally:
        online.discard_staging()
        online.close()


def _write_nights(
    plan: IngestPlan,
    config: FeatureJobConfig,
    examples_dir: str,
    quarantine_dir: str,
    make_pipeline: Callable[[], AbstractContextManager],
    progress: Callable[[str], None],
    requests_dir: str | None,
) -> dict:
    """Run the Beam job writing the plan's nights' files and the plan; return its summary."""
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
        if job.online_store:
            from components.online_store.staging import StageOnlineRows

            _ = outputs | "StageOnline" >> StageOnlineRows(job.online_store, job.online_run)
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
    return summary
