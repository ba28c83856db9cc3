"""The span store: which artifacts hold each ingested night.

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

from components.file_io import read_bytes, write_atomically
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
