"""The nightly-feature job as Beam transforms: the one implementation for every runner.

``RawRecordingsToExamples`` turns the selected nights' raw files, the cycle log and the stored
nightly statistics of the nights before them (for history features) into serialized tf.Examples
per split plus the quarantine (rejected rows, files and cycle-log lines, a ledger of every night,
and the nights' own statistics for later nights' history); ``feature_outputs.WriteFeatureOutputs``
writes them. The same transforms run in the TFX component (``component.py``), ``cyclecast
backfill`` and ``cyclecast features``, on the DirectRunner here and on Dataflow, Flink or Spark at
scale.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems

from components.nightly_features.prediction_request import serialize_request, stored_history
from components.nightly_features.records import (
    BadCycleRow,
    NightOutcome,
    parse_cycle_line,
    read_raw_file,
)
from components.nightly_features.redact import file_reference, file_replacements, owner_key, scrub
from components.nightly_features.selection import NightSelection
from components.nightly_features.user_history import (
    NightStatus,
    build_user_examples,
    pseudonymise,
    split_for_user,
)
from components.online_store.base import keyed_cycle_line
from components.quarantine_layout import (
    NIGHT_LEDGER,
    NIGHTLY_STATS,
    NOT_SCORED,
    REJECTED_CYCLES,
    REJECTED_FILES,
    REJECTED_ROWS,
)
from transforms import features as fc
from transforms import night_ranges
from transforms import raw_format as rf
from transforms.raw_format import UnreadableFile

NAMESPACE = "cyclecast"
DEFAULT_SPLITS: dict[str, int] = {"train": 14, "eval": 3, "test": 3}
REQUESTS = "requests"  # prediction requests: every valid night that can be scored, no label
NO_UPLOAD = "no_upload"  # a user with stored history who uploaded nothing on the night
CYCLE_LINES = "cycle_lines"  # every valid cycle-log line, (user key, raw line): the online store


@dataclass(frozen=True)
class FeatureJobConfig:
    """What the job needs to know; the salt is read from configuration by the caller."""

    input_root: str
    salt: bytes
    split_buckets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    rules: rf.NightRules = rf.NightRules()
    # The nights to ingest: only their raw files are read.
    selection: NightSelection = NightSelection()
    # Stored nightly statistics of earlier nights (span store files) the history features read.
    history_files: tuple[str, ...] = ()
    # The schema's ranges a night's own figures must fall in (transforms.night_ranges), read
    # where the job is built, so workers need no schema file.
    feature_ranges: dict[str, tuple] = field(default_factory=night_ranges.night_ranges)
    # The online store the job stages its rows in (its URL; "" for none), under the run's id.
    online_store: str = ""
    online_run: str = ""

    def __post_init__(self):
        if not self.salt:
            raise ValueError("the user-id salt is empty: configure one (see README, 'Privacy')")
        if not self.split_buckets or any(w < 0 for w in self.split_buckets.values()):
            raise ValueError(f"bad split weights: {self.split_buckets}")


def _rel_path(path: str, root: str) -> str:
    root = root.rstrip("/") + "/"
    return path[len(root) :] if path.startswith(root) else path


class _ProcessNightFn(beam.DoFn):
    """Read one raw file and emit its outcome; rejected rows and files go to tagged outputs."""

    def __init__(self, config: FeatureJobConfig):
        self._config = config

    def process(self, metadata):
        cfg = self._config
        rel = _rel_path(metadata.path, cfg.input_root)

        def read() -> bytes:
            what = not_a_file(metadata.path)
            if what:
                raise UnreadableFile(rf.FileReject.NOT_A_FILE, f"{what}, not a file")
            with FileSystems.open(
                metadata.path, compression_type=CompressionTypes.UNCOMPRESSED
            ) as f:
                return f.read()

        # A bad path is never read; a file that can't be read is rejected, not fatal.
        outcome, size = read_raw_file(rel, read, cfg.rules, cfg.feature_ranges)
        user_key = pseudonymise(outcome.user_id, cfg.salt) if outcome.user_id else None
        beam.metrics.Metrics.counter(NAMESPACE, "files").inc()
        beam.metrics.Metrics.counter(NAMESPACE, "rows_total").inc(outcome.rows_total)
        for reason, n in outcome.rows_rejected.items():
            beam.metrics.Metrics.counter(NAMESPACE, f"rows_rejected_{reason}").inc(n)
        if outcome.rejected_rows:
            # One element per file, its rejected rows as JSON lines: a row per element would put
            # tens of thousands of tiny elements through the runner for 1-2% of the rows.
            yield beam.pvalue.TaggedOutput(
                REJECTED_ROWS,
                (
                    outcome.night_date,
                    "\n".join(
                        json.dumps(
                            {
                                fc.USER_KEY: user_key,
                                fc.NIGHT_DATE: outcome.night_date,
                                "line_no": row.line_no,
                                "reason": row.reason,
                                "line": row.line,
                            },
                            sort_keys=True,
                        )
                        for row in outcome.rejected_rows
                    ),
                ),
            )
        outcome.rejected_rows = []  # emitted above; the counts stay in rows_rejected
        if outcome.file_reject:
            beam.metrics.Metrics.counter(NAMESPACE, f"files_rejected_{outcome.file_reject}").inc()
            # No raw id or local path is written: the file is named by its night folder and a
            # pseudonym of its name (redact.file_reference), and whose it is by the pseudonym of
            # the user id its name stands for, a re-sent copy's included.
            yield beam.pvalue.TaggedOutput(
                REJECTED_FILES,
                {
                    fc.USER_KEY: user_key or owner_key(rel, cfg.salt),
                    fc.NIGHT_DATE: outcome.night_date,
                    "path": file_reference(rel, cfg.salt),
                    "reason": outcome.file_reject,
                    "error": scrub(
                        outcome.file_error, file_replacements(metadata.path, rel, cfg.salt)
                    ),
                    "bytes": size,
                },
            )
        if outcome.user_id is None:
            yield beam.pvalue.TaggedOutput(
                NIGHT_LEDGER,
                {
                    fc.USER_KEY: None,
                    fc.NIGHT_DATE: None,
                    "status": NightStatus.INVALID,
                    "invalid_reason": outcome.invalid_reason,
                },
            )
        else:
            yield user_key, outcome


def not_a_file(path: str) -> str | None:
    """What a local path named like a raw file is when it is no file, else None.

    A directory, or a symbolic link whose target is gone; an object store has neither.
    """
    if "://" in path:
        return None
    if os.path.isdir(path):
        return "a directory"
    if os.path.islink(path) and not os.path.exists(path):
        return "a symbolic link whose target does not exist"
    return None


def match_raw_entries(pattern: str) -> Iterator[FileMetadata]:
    """Every entry a raw-file pattern matches, so each gets its ledger line.

    Beam's match lists the files; on a local file system it skips what matches the name but is
    no file (a directory, a broken symbolic link), so those are added here, to be recorded as
    ``not_a_file`` (``not_a_file`` tells them apart when they are processed).
    """
    matched = FileSystems.match([pattern])[0].metadata_list
    yield from matched
    if "://" in pattern:
        return
    for path in sorted(glob.glob(pattern)):
        if not_a_file(path):
            yield FileMetadata(path, 0)


class _ParseCycleFn(beam.DoFn):
    def __init__(self, salt: bytes):
        self._salt = salt

    def process(self, line: bytes):
        if not line.strip():
            return
        try:
            row = parse_cycle_line(line)
        except BadCycleRow as e:
            beam.metrics.Metrics.counter(NAMESPACE, "cycle_rows_rejected").inc()
            text = line.decode("utf-8", errors="backslashreplace")  # a bad byte shown as \xNN
            user, _, rest = text.partition(",")
            user = user.strip()
            key = pseudonymise(user, self._salt) if rf.USER_ID_PATTERN.match(user) else None
            yield beam.pvalue.TaggedOutput(
                REJECTED_CYCLES,
                {
                    fc.USER_KEY: key,
                    "reason": str(e),
                    "line_without_user_id": rest,
                },
            )
            return
        key = pseudonymise(row.user_id, self._salt)
        yield key, row
        # the online store's rows, the raw user id replaced by her pseudonym
        yield beam.pvalue.TaggedOutput(CYCLE_LINES, (key, keyed_cycle_line(key, line)))


def order_key(example: dict[str, list]) -> bytes:
    """Where an example sorts in its split's files: a digest of its content without the pseudonym.

    The pseudonym is an HMAC of a deployment's secret salt; ordering by it would make the training
    order, and so the trained model, differ between deployments of the same data. A SHA-256 of
    everything else orders the examples instead: the same on every deployment, 32 bytes per
    example while a shard is sorted in memory (two identical examples, the only tie, then fall
    back to the records' bytes).
    """
    content = sorted((k, v) for k, v in example.items() if k != fc.USER_KEY)
    text = json.dumps(content, default=lambda b: b.decode() if isinstance(b, bytes) else str(b))
    return hashlib.sha256(text.encode()).digest()


def _no_upload_nights(nights: list[NightOutcome], selection: NightSelection) -> list[str]:
    """The selected nights a user sent nothing for, though she had a valid night in the 28 before.

    The same nights whether they are ingested one at a time or in one backfill: her uploads
    come from the selected nights' files, her earlier valid nights from either source.
    """
    if selection.nights is None:
        return []
    uploaded = {n.night_date for n in nights if not n.stored}
    valid = sorted(dt.date.fromisoformat(n.night_date) for n in nights if n.valid)
    out = []
    for night in sorted(selection.nights):
        if night.isoformat() in uploaded:
            continue
        if any(night - dt.timedelta(days=fc.HISTORY_NIGHTS) <= d < night for d in valid):
            out.append(night.isoformat())
    return out


class _BuildExamplesFn(beam.DoFn):
    def __init__(self, config: FeatureJobConfig):
        self._config = config

    def process(self, element):
        from transforms.tf_example import to_serialized_example

        user_key, grouped = element
        nights = list(grouped["nights"])
        # The raw user id, known only from a night read tonight: a user with stored history
        # alone has nothing to ingest.
        user_id = next((n.user_id for n in nights if n.user_id), None)
        selection = self._config.selection
        for night in _no_upload_nights(nights, selection):
            yield beam.pvalue.TaggedOutput(
                NOT_SCORED, {fc.USER_KEY: user_key, fc.NIGHT_DATE: night, "reason": NO_UPLOAD}
            )
        if user_id is None:  # stored history alone: nothing of hers to ingest
            return
        result = build_user_examples(user_id, nights, list(grouped["cycles"]), user_key)
        split = split_for_user(user_id, self._config.split_buckets)
        for entry in result.ledger:
            if not selection.emits(entry[fc.NIGHT_DATE]):
                continue
            entry["split"] = split
            beam.metrics.Metrics.counter(NAMESPACE, f"nights_{entry['status']}").inc()
            yield beam.pvalue.TaggedOutput(NIGHT_LEDGER, entry)
            if entry["status"] not in (NightStatus.INVALID, NightStatus.DUPLICATE):
                yield beam.pvalue.TaggedOutput(
                    NIGHTLY_STATS,
                    {
                        fc.USER_KEY: user_key,
                        fc.NIGHT_DATE: entry[fc.NIGHT_DATE],
                        "features": entry["features"],
                    },
                )
        for example in result.examples:
            night = example[fc.NIGHT_DATE][0].decode()
            if not selection.emits(night):
                continue
            yield beam.pvalue.TaggedOutput(
                split, (night, order_key(example), to_serialized_example(example))
            )
        for request in result.requests:
            night = request[fc.NIGHT_DATE][0].decode()
            if selection.emits(night):
                serialized = serialize_request(request)
                yield beam.pvalue.TaggedOutput(REQUESTS, (night, order_key(request), serialized))
        invalid = {e[fc.NIGHT_DATE]: e for e in result.ledger if e["status"] == NightStatus.INVALID}
        for night, reason in sorted(result.not_scored.items()):
            if selection.emits(night):
                record = {fc.USER_KEY: user_key, fc.NIGHT_DATE: night, "reason": reason}
                if night in invalid:  # which night rule it failed, as the ledger says
                    record["invalid_reason"] = invalid[night]["invalid_reason"]
                    if invalid[night].get("invalid_detail"):
                        record["detail"] = invalid[night]["invalid_detail"]
                yield beam.pvalue.TaggedOutput(NOT_SCORED, record)


class RawRecordingsToExamples(beam.PTransform):
    """PBegin -> {"examples": {split: PCollection}, and the quarantine PCollections}.

    Examples are ``(night, order key, serialized example)``. The quarantine's rejected rows are
    ``(night, JSON-lines text)``, one element per file; the other quarantine outputs are dicts,
    one per rejected file, cycle-log line, night, or user-night's statistics; ``cycle_lines``
    are the valid cycle-log lines by pseudonym, for the online store.
    """

    def __init__(self, config: FeatureJobConfig):
        super().__init__()
        self._config = config

    def expand(self, pbegin):
        """Build the graph: match raw files, process nights, join the cycle log, build examples."""
        cfg = self._config
        root = cfg.input_root.rstrip("/")
        nights = (
            pbegin
            | "RawPatterns" >> beam.Create([f"{root}/{p}" for p in cfg.selection.raw_patterns()])
            | "MatchRaw" >> beam.FlatMap(match_raw_entries)
            | "Reshuffle" >> beam.Reshuffle()
            | "ProcessNights"
            >> beam.ParDo(_ProcessNightFn(cfg)).with_outputs(
                REJECTED_ROWS, REJECTED_FILES, NIGHT_LEDGER, main="outcomes"
            )
        )
        cycles = (
            pbegin
            | "ReadCycles"
            >> beam.io.ReadFromText(  # as bytes: a non-UTF-8 line is quarantined by ParseCycles
                f"{root}/{rf.CYCLES_FILE}", skip_header_lines=1, coder=coders.BytesCoder()
            )
            | "ParseCycles"
            >> beam.ParDo(_ParseCycleFn(cfg.salt)).with_outputs(
                REJECTED_CYCLES, CYCLE_LINES, main="cycles"
            )
        )
        history = (
            pbegin
            | "HistoryFiles" >> beam.Create(sorted(cfg.history_files))
            | "ReadHistory" >> beam.io.ReadAllFromText(compression_type=CompressionTypes.GZIP)
            | "ParseHistory" >> beam.Map(stored_history)
        )
        splits = list(cfg.split_buckets)
        nights_and_history = (nights.outcomes, history) | "WithHistory" >> beam.Flatten()
        built = (
            {"nights": nights_and_history, "cycles": cycles.cycles}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "BuildExamples"
            >> beam.ParDo(_BuildExamplesFn(cfg)).with_outputs(
                NIGHT_LEDGER, NIGHTLY_STATS, REQUESTS, NOT_SCORED, *splits
            )
        )
        ledger = (nights[NIGHT_LEDGER], built[NIGHT_LEDGER]) | "Ledger" >> beam.Flatten()
        return {
            "examples": {s: built[s] for s in splits},
            REJECTED_ROWS: nights[REJECTED_ROWS],
            REJECTED_FILES: nights[REJECTED_FILES],
            REJECTED_CYCLES: cycles[REJECTED_CYCLES],
            NIGHT_LEDGER: ledger,
            NIGHTLY_STATS: built[NIGHTLY_STATS],
            REQUESTS: built[REQUESTS],
            NOT_SCORED: built[NOT_SCORED],
            CYCLE_LINES: cycles[CYCLE_LINES],
        }
