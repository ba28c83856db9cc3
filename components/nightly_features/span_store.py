"""The span store: which artifacts hold each ingested night, and what a nightly run must ingest.

Every night the feature job ingests gets one small index entry, ``<store>/index/<YYYY-MM-DD>.json``,
naming the examples and quarantine directories that hold that night's outputs, the fingerprint of
the raw files it was made from and the feature code's fingerprint. Entries are written only after
the job has written everything (each to a temporary name, then renamed), so a crash in the middle
of an ingest leaves every earlier entry as it was, and a re-run completes the night.

The index is what later runs read, on every orchestrator and runner:
- the history features of a new night come from the stored nightly statistics of the 28 nights
  before it (``nightly_stats-<night>.jsonl.gz``, one small record per user), never from their raw
  files;
- the training window is the range of entries ending with the new night
  (``components.training_window``);
- DriftGate compares the new night with the previous indexed night.

``plan_ingest`` decides what a run ingests: the new night, every night of the lateness horizon
whose raw files changed since they were ingested (a late or re-sent upload), every night of the
window that was never ingested (a first run, or nights that arrived out of order), and the nights
whose history those change (up to 28 after each). Only those nights' raw files are read.

Paths go through Beam's file systems, so the store can live on any file system Beam reads
(local, ``gs://``, ``s3://``, HDFS) without TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field

from components.nightly_features.window import history_nights, night_range
from components.quarantine_layout import NIGHTLY_STATS, night_file
from transforms import features as fc
from transforms import raw_format as rf

INDEX_DIR = "index"
DEFAULT_LATE_NIGHTS = 7  # nights back a nightly run checks for late or re-sent uploads


class Reason:
    """Why a run ingests a night (recorded in the plan)."""

    NEW = "new_night"
    LATE = "late_upload"  # its raw files changed since it was ingested
    NOT_INGESTED = "not_ingested"  # in the window, has raw files, never ingested
    HISTORY = "history_changed"  # a night among its previous 28 is re-ingested
    CODE = "backfill"  # asked for by a backfill


@dataclass(frozen=True)
class SpanEntry:
    """One ingested night: where its outputs are and what they were made from."""

    night: str
    examples: str  # an examples directory holding Split-<split>/<night>-*.gz
    quarantine: str  # a quarantine directory holding <output>-<night>.jsonl.gz
    raw_fingerprint: str
    raw_files: int
    code_version: str
    counts: dict = field(default_factory=dict)  # the night's summary (examples, rejects...)
    requests: str = ""  # a requests directory holding Split-serving/<night>-*.gz

    def example_files(self, split: str) -> str:
        """The pattern of this night's example shards of one split."""
        return f"{self.examples}/Split-{split}/{self.night}-*"

    @property
    def request_files(self) -> str:
        """The pattern of this night's prediction requests (serving features, no label)."""
        return f"{self.requests}/Split-serving/{self.night}-*"

    @property
    def stats_file(self) -> str:
        """The night's stored nightly statistics: one record per user with a valid night."""
        return f"{self.quarantine}/{night_file(NIGHTLY_STATS, self.night)}"


def _read(path: str) -> bytes | None:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return f.read()


def read_gzip_lines(path: str) -> list[str]:
    """The lines of a gzip text file the job wrote (a night's statistics, ledger...)."""
    import gzip

    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return gzip.decompress(f.read()).decode().splitlines()


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name, so readers see all of it or none."""
    from apache_beam.io.filesystems import FileSystems

    temporary = f"{path}.incomplete"
    with FileSystems.create(temporary) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


class SpanStore:
    """The index of ingested nights under one root directory."""

    def __init__(self, root: str):
        if not root:
            raise ValueError("the span store needs a root directory")
        self.root = root.rstrip("/")

    def _path(self, night: dt.date | str) -> str:
        return f"{self.root}/{INDEX_DIR}/{night}.json"

    def entry(self, night: dt.date | str) -> SpanEntry | None:
        """The night's entry, or None when it was never ingested."""
        data = _read(self._path(night))
        return None if data is None else SpanEntry(**json.loads(data))

    def entries(self, nights: list[dt.date]) -> dict[dt.date, SpanEntry]:
        """The entries of those nights that have one."""
        found = {n: self.entry(n) for n in nights}
        return {n: e for n, e in found.items() if e is not None}

    def commit(self, entry: SpanEntry) -> None:
        """Record an ingested night (replacing an earlier ingest of it)."""
        write_atomically(
            self._path(entry.night), json.dumps(asdict(entry), sort_keys=True).encode()
        )

    def latest_before(self, night: dt.date, nights: int) -> SpanEntry | None:
        """The latest entry among the ``nights`` nights before ``night`` (None if none)."""
        for back in range(1, nights + 1):
            entry = self.entry(night - dt.timedelta(days=back))
            if entry is not None:
                return entry
        return None


def night_fingerprint(input_root: str, night: dt.date) -> tuple[str, int]:
    """A fingerprint of one night's raw files (names, sizes, modification times) and their count.

    One listing of the night's folder: what changes when a file is added, re-sent or removed.
    """
    from apache_beam.io.filesystems import FileSystems

    pattern = f"{input_root.rstrip('/')}/{rf.NIGHTS_DIR}/{night.isoformat()}/*{rf.RAW_SUFFIX}"
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
    """The stored statistics files the ingested nights' history needs (nights not re-ingested)."""
    needed = sorted({h for n in ingest for h in history_nights(n)} - ingest)
    found = store.entries(needed)
    history = {n.isoformat(): e.stats_file for n, e in sorted(found.items())}
    missing = [n.isoformat() for n in needed if n not in found]
    return history, missing


def plan_ingest(
    store: SpanStore,
    input_root: str,
    night: dt.date,
    window_nights: int,
    late_nights: int = DEFAULT_LATE_NIGHTS,
) -> IngestPlan:
    """Decide which nights a run for ``night`` ingests (see the module's docstring).

    Costs a listing of the new night's and the lateness horizon's folders, and one index read
    per night of the window and its 28 history nights (a small file); a night without an entry
    is listed too.
    """
    if late_nights < 0 or window_nights < 1:
        raise ValueError("late_nights must be >= 0 and window_nights >= 1")
    # The window, and the 28 nights before it whose statistics its first nights' history reads.
    window = night_range(
        night - dt.timedelta(days=window_nights - 1 + fc.HISTORY_NIGHTS), night
    )
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
        else:
            continue
        fingerprints[d] = fp
    own = entries.get(night)
    ingest = {night: Reason.NEW if own is None else Reason.LATE}
    if own is not None and own.raw_fingerprint == fingerprints[night][0]:
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
