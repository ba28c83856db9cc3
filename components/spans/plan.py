"""What a nightly run (or a backfill) ingests, decided against the span store.

``plan_ingest`` decides what a run ingests: the new night, every night of the lateness horizon
whose raw files changed since they were ingested (a late or re-sent upload) or held a file that
could not be read (retried: fixing a read error changes no name, size or time), every night of the
window that was never ingested (a first run, or nights that arrived out of order), and the nights
whose history those change (up to 28 after each). Only those nights' raw files are read; the
history of their first nights comes from the store (``components.spans.store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

from components import defaults
from components.spans.dates import history_nights, night_range
from components.spans.store import SpanEntry, SpanStore
from transforms import features as fc
from transforms.raw_format import FileReject


class Reason:
    """Why a run ingests a night (recorded in the plan)."""

    NEW = "new_night"
    LATE = "late_upload"  # its raw files changed since it was ingested
    NOT_INGESTED = "not_ingested"  # in the window, has raw files, never ingested
    HISTORY = "history_changed"  # a night among its previous 28 is re-ingested
    CODE = "backfill"  # asked for by a backfill
    # Some of its files could not be read when it was ingested (``unreadable_file``): read again,
    # though its fingerprint (names, sizes, times) did not change when the read problem was fixed.
    RETRY = "retry_unreadable"


def unreadable_files(entry: SpanEntry) -> int:
    """How many of a night's files could not be read when it was ingested (from its counts)."""
    return int(entry.counts.get("files_rejected_by_reason", {}).get(FileReject.UNREADABLE, 0))


def retry_marker(store_root: str | None, nights: list[dt.date]) -> str:
    """A cache-key part that differs on every run while a night holds an unreadable file.

    Empty when none of ``nights`` holds one (``unreadable_files``). Those nights are read
    again (``plan_ingest``), so a re-run of the same night must not be served from cache either:
    the read problem may have been fixed without changing the listing.
    """
    if not store_root:
        return ""
    found = SpanStore(store_root).entries(nights)
    pending = [n.isoformat() for n, entry in sorted(found.items()) if unreadable_files(entry)]
    return f"retry_unreadable:{','.join(pending)}@{time.time_ns()}" if pending else ""


def night_fingerprint(input_root: str, night: dt.date) -> tuple[str, int]:
    """A fingerprint of one night's raw files (names, sizes, modification times) and their count.

    One listing of the night's folder: what changes when a file is added, re-sent or removed.
    """
    from apache_beam.io.filesystems import FileSystems

    from transforms.raw_format import night_files

    pattern = f"{input_root.rstrip('/')}/{night_files(night.isoformat())}"
    files = sorted(
        (m.path.rsplit("/", 1)[-1], m.size_in_bytes, m.last_updated_in_seconds)
        for m in FileSystems.match([pattern])[0].metadata_list
    )
    digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:32]
    return digest, len(files)


@dataclass
class IngestPlan:
    """What one run ingests and why, and which stored nights it reads for history."""

    night: str
    ingest: dict[str, str]  # night -> Reason
    fingerprints: dict[str, tuple[str, int]]  # night -> (raw fingerprint, files)
    history: dict[str, str]  # stored night -> its nightly statistics file
    history_missing: list[str]  # history nights with no entry (no valid data, or never ingested)

    @property
    def nights(self) -> list[dt.date]:
        """The nights to ingest, in order."""
        return sorted(dt.date.fromisoformat(n) for n in self.ingest)

    def to_dict(self) -> dict:
        """Plain JSON-ready data (the quarantine keeps it as ``plan.json``)."""
        return {
            "night": self.night,
            "ingest": dict(sorted(self.ingest.items())),
            "raw_files": {n: fp[1] for n, fp in sorted(self.fingerprints.items())},
            "history_from_store": len(self.history),
            "history_missing": self.history_missing,
        }


def _history_reads(store: SpanStore, ingest: set[dt.date]) -> tuple[dict[str, str], list[str]]:
    """The stored statistics files the ingested nights' history needs (nights not re-ingested).

    Each is checked against its entry here, once per run (``StoredFileError`` names the night
    and its repair): the Beam job's ``ReadAllFromText`` would skip a missing file unseen.
    """
    needed = sorted({h for n in ingest for h in history_nights(n)} - ingest)
    found = store.entries(needed)
    for entry in found.values():
        store.verify(entry, [entry.stats_file])
    history = {n.isoformat(): e.stats_file for n, e in sorted(found.items())}
    missing = [n.isoformat() for n in needed if n not in found]
    return history, missing


def plan_ingest(
    store: SpanStore,
    input_root: str,
    night: dt.date,
    window_nights: int,
    late_nights: int = defaults.LATE_NIGHTS,
) -> IngestPlan:
    """Decide which nights a run for ``night`` ingests (see the module's docstring).

    Costs a listing of the new night's and the lateness horizon's folders, and one index read
    per night of the window and its 28 history nights (a small file); a night without an entry
    is listed too.
    """
    if late_nights < 0 or window_nights < 1:
        raise ValueError("late_nights must be >= 0 and window_nights >= 1")
    # The window, and the 28 nights before it whose statistics its first nights' history reads.
    window = night_range(night - dt.timedelta(days=window_nights - 1 + fc.HISTORY_NIGHTS), night)
    entries = store.entries(window)
    fingerprints = {night: night_fingerprint(input_root, night)}
    changed: dict[dt.date, str] = {}
    for d in window[:-1]:
        entry = entries.get(d)
        horizon = (night - d).days <= late_nights
        if entry is not None and not horizon:
            continue
        fp = night_fingerprint(input_root, d)
        if entry is None and fp[1] > 0:
            changed[d] = Reason.NOT_INGESTED
        elif entry is not None and entry.raw_fingerprint != fp[0]:
            changed[d] = Reason.LATE
        elif entry is not None and unreadable_files(entry):
            changed[d] = Reason.RETRY
        else:
            continue
        fingerprints[d] = fp
    own = entries.get(night)
    ingest = {night: Reason.NEW if own is None else Reason.LATE}
    if own is not None and own.raw_fingerprint == fingerprints[night][0]:
        if unreadable_files(own):
            changed[night] = ingest[night] = Reason.RETRY
        else:
            ingest[night] = Reason.NEW  # a re-run of an unchanged night: its later nights stand
    else:
        changed[night] = ingest[night]
    ingest.update(changed)
    # A changed night changes the history of the 28 nights after it: those re-ingest too.
    for c in sorted(changed):
        for back in range(1, fc.HISTORY_NIGHTS + 1):
            later = c + dt.timedelta(days=back)
            if later in ingest:
                continue
            if later <= night and later in entries or later > night and store.entry(later):
                ingest[later] = Reason.HISTORY
    for d in ingest:
        if d not in fingerprints:
            fingerprints[d] = night_fingerprint(input_root, d)
    history, missing = _history_reads(store, set(ingest))
    return IngestPlan(
        night=night.isoformat(),
        ingest={d.isoformat(): r for d, r in ingest.items()},
        fingerprints={d.isoformat(): fp for d, fp in fingerprints.items()},
        history=history,
        history_missing=missing,
    )


def plan_backfill(store: SpanStore, input_root: str, first: dt.date, last: dt.date) -> IngestPlan:
    """Plan a backfill: every night from ``first`` to ``last``, history before it from the store."""
    nights = night_range(first, last)
    fingerprints = {d.isoformat(): night_fingerprint(input_root, d) for d in nights}
    history, missing = _history_reads(store, set(nights))
    return IngestPlan(
        night=last.isoformat(),
        ingest={d.isoformat(): Reason.CODE for d in nights},
        fingerprints=fingerprints,
        history=history,
        history_missing=missing,
    )
