"""The span store: which artifacts hold each ingested night.

Every night the feature job ingests gets one small index entry, ``<store>/index/<YYYY-MM-DD>.json``,
naming the examples and quarantine directories that hold that night's outputs, the fingerprint of
the raw files it was made from, the feature code's fingerprint, and every file of the night with
the sha256 of its bytes (``files``). Entries are written only after the job has written
everything (each to a temporary name, then renamed) into folders no entry names yet (a nightly
run's fresh artifacts, a backfill's new generation), so a crash at any point leaves each night's
entry naming either its old files or its new ones, all of them complete; a re-run completes it.

Every reader checks the files it reads against the entry (``SpanStore.read_verified``,
``check_digest``): a missing or damaged file stops it with ``StoredFileError``, which names the
night and its repair (``cyclecast backfill --from N --to N``), on the batch and online paths
alike. Entries written before digests were recorded (``files`` empty) still read: their files
are checked for existence only (a backfill over them records digests).

The index is what later runs read, on every orchestrator and runner:
- the history features of a new night come from the stored nightly statistics of the 28 nights
  before it (``nightly_stats-<night>.jsonl.gz``, one small record per user), never from their raw
  files;
- the training window is the range of entries ending with the new night
  (``components.training_window``);
- DriftGate compares the new night with the previous indexed night;
- NightlyPredictions scores the new night's request shards, found by the same per-night layout.

What a run ingests is decided in ``components.spans.plan``. Paths go through Beam's file systems
(``components.file_io``), so the store can live on any file system Beam reads (local, ``gs://``,
``s3://``, HDFS) without TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from components.file_io import read_bytes, sha256_of, write_atomically
from components.quarantine_layout import NIGHTLY_STATS, night_file

INDEX_DIR = "index"
REQUESTS_SPLIT = "serving"  # the one split of a requests artifact: every scorable night


def split_dir(uri: str, split: str) -> str:
    """The folder of one split in an Examples artifact: ``<uri>/Split-<split>``.

    TFX's naming (``tfx.types.artifact_utils.get_split_uri``), written out here for the Beam code
    and the span store, which must not import ``tfx.types``; a unit test pins the two together.
    """
    return f"{uri}/Split-{split}"


def night_shards(split_uri: str, night: str) -> str:
    """The pattern of one night's shards in a split folder (the night leads each file's name)."""
    return f"{split_uri}/{night}-*"


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
    # Every file of the night (examples, requests, quarantine) -> the sha256 of its bytes at
    # commit. Empty in entries written before digests were recorded.
    files: dict = field(default_factory=dict)

    def example_files(self, split: str) -> str:
        """The pattern of this night's example shards of one split."""
        return night_shards(split_dir(self.examples, split), self.night)

    @property
    def request_files(self) -> str:
        """The pattern of this night's prediction requests (serving features, no label)."""
        return night_shards(split_dir(self.requests, REQUESTS_SPLIT), self.night)

    @property
    def stats_file(self) -> str:
        """The night's stored nightly statistics: one record per user with a valid night."""
        return f"{self.quarantine}/{night_file(NIGHTLY_STATS, self.night)}"

    def find_files(self) -> list[str]:
        """The night's files as they are on disk now (what ``files`` records at commit)."""
        from apache_beam.io.filesystems import FileSystems

        # the night's splits as its counts name them (each a narrow listing on object stores)
        splits = sorted(self.counts.get("examples_by_split", {})) or ["*"]
        patterns = [night_shards(split_dir(self.examples, s), self.night) for s in splits]
        patterns.append(f"{self.quarantine}/*-{self.night}.jsonl.gz")
        if self.requests:
            patterns.append(self.request_files)
        return sorted(
            m.path
            for result in FileSystems.match(patterns)
            for m in result.metadata_list
            if not m.path.endswith(".incomplete")
        )

    def split_files(self, split: str) -> list[str]:
        """The night's example shards of one split: those recorded (found, for old entries)."""
        folder = split_dir(self.examples, split) + "/"
        if self.files:
            return sorted(
                p for p in self.files if p.startswith(folder) and "/" not in p[len(folder) :]
            )
        from apache_beam.io.filesystems import FileSystems

        matched = FileSystems.match([self.example_files(split)])[0].metadata_list
        return sorted(m.path for m in matched)


class StoredFileError(LookupError):
    """A file a span-store entry names is missing or damaged; the message names the repair."""

    def __init__(self, night: str, problem: str):
        super().__init__(
            f"the span store's night {night} is damaged: {problem}. Nothing of it was used; "
            f"re-ingest that night with `{repair_command(night)}` (add --data-root and "
            "--workdir as for the run), then run again."
        )
        self.night = night


def repair_command(night: str) -> str:
    """The command that re-ingests one night into the span store."""
    return f"cyclecast backfill --from {night} --to {night}"


def check_digest(entry: SpanEntry, path: str, digest: str | None) -> None:
    """Raise ``StoredFileError`` unless ``digest`` (None: no file) is what ``entry`` recorded."""
    if digest is None:
        raise StoredFileError(entry.night, f"{path} is missing")
    if not entry.files:  # an entry from before digests: existence is all it can tell
        return
    if path not in entry.files:
        raise StoredFileError(entry.night, f"{path} is not among the files its entry recorded")
    if entry.files[path] != digest:
        raise StoredFileError(
            entry.night, f"{path} does not match the sha256 recorded when it was committed"
        )


def file_digests(paths: list[str]) -> dict[str, str]:
    """The sha256 of each file (what ``SpanEntry.files`` records at commit)."""
    return {p: sha256_of(p) for p in paths}


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
        data = read_bytes(self._path(night))
        if data is None:
            return None
        try:
            return SpanEntry(**json.loads(data))
        except (ValueError, TypeError) as e:  # not JSON, or not an entry's fields
            raise StoredFileError(
                str(night), f"its index entry {self._path(night)} is unreadable ({e})"
            ) from None

    def entries(self, nights: list[dt.date]) -> dict[dt.date, SpanEntry]:
        """The entries of those nights that have one."""
        found = {n: self.entry(n) for n in nights}
        return {n: e for n, e in found.items() if e is not None}

    def commit(self, entry: SpanEntry) -> None:
        """Record an ingested night (replacing an earlier ingest of it)."""
        write_atomically(
            self._path(entry.night), json.dumps(asdict(entry), sort_keys=True).encode()
        )

    def read_verified(self, entry: SpanEntry, path: str) -> bytes:
        """The bytes of one of ``entry``'s files, checked against its entry."""
        import hashlib

        data = read_bytes(path)
        check_digest(entry, path, None if data is None else hashlib.sha256(data).hexdigest())
        return data

    def verify(self, entry: SpanEntry, paths: list[str] | None = None) -> None:
        """Check ``paths`` (default: every file ``entry`` names) against the entry.

        Raises ``StoredFileError`` on the first missing or damaged one. An entry from before
        digests names no files: its statistics file is checked for existence.
        """
        for path in paths or sorted(entry.files) or [entry.stats_file]:
            check_digest(entry, path, sha256_of(path))

    def latest_before(self, night: dt.date, nights: int) -> SpanEntry | None:
        """The latest entry among the ``nights`` nights before ``night`` (None if none)."""
        for back in range(1, nights + 1):
            entry = self.entry(night - dt.timedelta(days=back))
            if entry is not None:
                return entry
        return None
