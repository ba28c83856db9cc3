"""The nightly-feature job as Beam transforms: the one implementation for every runner.

``RawRecordingsToExamples`` turns the selected nights' raw files, the cycle log and the stored
nightly statistics of the nights before them (for history features) into serialized tf.Examples
per split plus the quarantine (rejected rows, files and cycle-log lines, a ledger of every night,
and the nights' own statistics for later nights' history). ``WriteFeatureOutputs`` writes them,
one set of files per night, and a summary. The same transforms run in the
TFX component (``component.py``) and in ``cyclecast features``, on the DirectRunner here and on
Dataflow, Flink or Spark at scale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components.nightly_features.records import (
    BadCycleRow,
    NightOutcome,
    parse_cycle_line,
    process_raw_file,
)
from components.nightly_features.sorted_shards import WriteSortedTFRecords, write_gzip_file
from components.nightly_features.user_history import (
    NightStatus,
    build_user_examples,
    pseudonymise,
    split_for_user,
)
from components.nightly_features.window import NightSelection
from components.quarantine_layout import (
    NIGHT_LEDGER,
    NIGHTLY_STATS,
    NOT_SCORED,
    REJECTED_CYCLES,
    REJECTED_FILES,
    REJECTED_ROWS,
    SUMMARY_FILE,
    night_file,
)
from transforms import features as fc
from transforms import raw_format as rf

NAMESPACE = "cyclecast"
DEFAULT_SPLITS: dict[str, int] = {"train": 14, "eval": 3, "test": 3}
REQUESTS = "requests"  # prediction requests: every valid night that can be scored, no label
REQUESTS_SPLIT = "serving"
REQUEST_SPEC = fc.example_spec(with_label=False)  # keyed by pseudonym and night, no label
NO_UPLOAD = "no_upload"  # a user with stored history who uploaded nothing on the night


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
        try:
            with FileSystems.open(
                metadata.path, compression_type=CompressionTypes.UNCOMPRESSED
            ) as f:
                data = f.read()
        except OSError as e:  # a file that vanished or can't be opened is rejected, not fatal
            data = b""
            outcome = NightOutcome(
                rel,
                None,
                None,
                file_reject=rf.FileReject.CORRUPT,
                file_error=f"could not open: {e}",
                invalid_reason=rf.FileReject.CORRUPT,
            )
        else:
            outcome = process_raw_file(rel, data, cfg.rules)
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
            yield beam.pvalue.TaggedOutput(
                REJECTED_FILES,
                {
                    fc.USER_KEY: user_key,
                    fc.NIGHT_DATE: outcome.night_date,
                    # a bad path can't be pseudonymised; it is kept so a person can find the file
                    "path": rel if outcome.user_id is None else None,
                    "reason": outcome.file_reject,
                    "error": outcome.file_error,
                    "bytes": len(data),
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


def stored_history(line: str) -> tuple[str, NightOutcome]:
    """A stored nightly-statistics record as a valid night of history, keyed by the pseudonym."""
    record = json.loads(line)
    night = NightOutcome("", None, record[fc.NIGHT_DATE], valid=True, stored=True)
    night.features = record["features"]
    return record[fc.USER_KEY], night


class _ParseCycleFn(beam.DoFn):
    def __init__(self, salt: bytes):
        self._salt = salt

    def process(self, line: str):
        if not line.strip():
            return
        try:
            row = parse_cycle_line(line)
        except BadCycleRow as e:
            beam.metrics.Metrics.counter(NAMESPACE, "cycle_rows_rejected").inc()
            user, _, rest = line.partition(",")
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
        yield pseudonymise(row.user_id, self._salt), row


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
                serialized = to_serialized_example(request, REQUEST_SPEC)
                yield beam.pvalue.TaggedOutput(REQUESTS, (night, order_key(request), serialized))
        for night, reason in sorted(result.not_scored.items()):
            if selection.emits(night):
                yield beam.pvalue.TaggedOutput(
                    NOT_SCORED, {fc.USER_KEY: user_key, fc.NIGHT_DATE: night, "reason": reason}
                )


class RawRecordingsToExamples(beam.PTransform):
    """PBegin -> {"examples": {split: PCollection}, and the quarantine PCollections}.

    Examples are ``(night, order key, serialized example)``. The quarantine's rejected rows are
    ``(night, JSON-lines text)``, one element per file; the other quarantine outputs are dicts,
    one per rejected file, cycle-log line, night, or user-night's statistics.
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
            | "MatchRaw" >> fileio.MatchAll(EmptyMatchTreatment.ALLOW)
            | "Reshuffle" >> beam.Reshuffle()
            | "ProcessNights"
            >> beam.ParDo(_ProcessNightFn(cfg)).with_outputs(
                REJECTED_ROWS, REJECTED_FILES, NIGHT_LEDGER, main="outcomes"
            )
        )
        cycles = (
            pbegin
            | "ReadCycles" >> beam.io.ReadFromText(f"{root}/{rf.CYCLES_FILE}", skip_header_lines=1)
            | "ParseCycles"
            >> beam.ParDo(_ParseCycleFn(cfg.salt)).with_outputs(REJECTED_CYCLES, main="cycles")
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
        }


def _summary_counts(entry: dict) -> list[tuple[str, int]]:
    out = [("nights", 1), (f"night_status/{entry['status']}", 1)]
    if entry.get("invalid_reason"):
        out.append((f"nights_invalid/{entry['invalid_reason']}", 1))
    out.append(("rows_total", entry.get("rows_total", 0)))
    out.append(("rows_accepted", entry.get("rows_accepted", 0)))
    out.extend((f"rows_rejected/{r}", n) for r, n in entry.get("rows_rejected", {}).items())
    return out


def summary_from_counts(counts: dict[str, int], splits: list[str]) -> dict:
    """Turn flat ``group/key`` counts into the job summary the CLI prints."""

    def group(prefix: str) -> dict[str, int]:
        return {
            k.split("/", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith(prefix + "/")
        }

    status = group("night_status")
    return {
        "files": counts.get("nights", 0),
        "nights": counts.get("nights", 0) - group("files_rejected").get(rf.FileReject.BAD_PATH, 0),
        "valid_nights": counts.get("nights", 0) - status.get(NightStatus.INVALID, 0),
        "night_status": status,
        "nights_invalid_by_reason": group("nights_invalid"),
        "rows_total": counts.get("rows_total", 0),
        "rows_accepted": counts.get("rows_accepted", 0),
        "rows_rejected_by_reason": group("rows_rejected"),
        "files_rejected_by_reason": group("files_rejected"),
        "cycle_rows_rejected": counts.get("cycle_rows_rejected", 0),
        "examples_by_split": {s: group("examples").get(s, 0) for s in splits},
        "prediction_requests": counts.get("requests", 0),
        "not_scored_by_reason": group("not_scored"),
    }


def summary_by_night(night_counts: list[tuple[str, str, int]], splits: list[str]) -> dict:
    """The job summary: totals over every ingested night, and each night's own (``by_night``)."""
    totals: dict[str, int] = {}
    per_night: dict[str, dict[str, int]] = {}
    for night, key, n in night_counts:
        totals[key] = totals.get(key, 0) + n
        if night is not None:
            per_night.setdefault(night, {})[key] = n
    summary = summary_from_counts(totals, splits)
    summary["by_night"] = {
        night: summary_from_counts(c, splits) for night, c in sorted(per_night.items())
    }
    return summary


class _WriteNightFileFn(beam.DoFn):
    """Write one quarantine output of one night: its JSON lines, sorted, gzip, then renamed."""

    def __init__(self, directory: str):
        self._directory = directory

    def process(self, element):
        (name, night), grouped = element
        lines = sorted(line for line in grouped["lines"] if line is not None)
        path = f"{self._directory}/{night_file(name, night)}"
        write_gzip_file(path, [f"{line}\n".encode() for line in lines])
        yield path


class WriteFeatureOutputs(beam.PTransform):
    """Write each ingested night's examples per split (gzip TFRecords), quarantine and statistics.

    Every file holds one night (``<night>-...`` under ``Split-<split>/``, ``<output>-<night>``
    in the quarantine), is sorted and written under a temporary name first, so a night's files
    are byte-identical whichever run or backfill wrote them. ``nights`` lists the nights that
    get files even when empty (None: the nights found in the ledger). A summary JSON closes it.
    """

    def __init__(
        self,
        examples_dir: str,
        quarantine_dir: str,
        splits: list[str],
        nights: list[str] | None = None,
        num_shards: int = 1,
        requests_dir: str | None = None,
    ):
        super().__init__()
        self._num_shards = num_shards
        self._requests_dir = requests_dir.rstrip("/") if requests_dir else None
        self._examples_dir = examples_dir.rstrip("/")
        self._quarantine_dir = quarantine_dir.rstrip("/")
        self._splits = splits
        self._nights = nights

    def expand(self, outputs):
        """Write every output; return the written summary's file name."""
        q = self._quarantine_dir
        p = outputs[NIGHT_LEDGER].pipeline
        found = (
            outputs[NIGHT_LEDGER]
            | "LedgerNights" >> beam.Map(lambda e: e[fc.NIGHT_DATE])
            | "Dated" >> beam.Filter(lambda n: n is not None)
        )
        listed = p | "ListedNights" >> beam.Create(sorted(self._nights or []))
        nights = (found, listed) | "AllNights" >> beam.Flatten() | "Distinct" >> beam.Distinct()
        counts = []  # (night, key, 1 or n)
        for split, pcoll in outputs["examples"].items():
            _ = pcoll | f"Write{split}" >> WriteSortedTFRecords(
                f"{self._examples_dir}/Split-{split}", nights, self._num_shards
            )
            counts.append(
                pcoll | f"Count{split}" >> beam.Map(lambda e, s=split: ((e[0], f"examples/{s}"), 1))
            )
        if self._requests_dir:  # prediction requests, per night like the examples
            _ = outputs[REQUESTS] | "WriteRequests" >> WriteSortedTFRecords(
                f"{self._requests_dir}/Split-{REQUESTS_SPLIT}", nights, self._num_shards
            )
        counts.append(
            outputs[REQUESTS] | "CountRequests" >> beam.Map(lambda e: ((e[0], "requests"), 1))
        )
        counts.append(
            outputs[NOT_SCORED]
            | "CountNotScored"
            >> beam.Map(lambda d: ((d[fc.NIGHT_DATE], f"not_scored/{d['reason']}"), 1))
        )
        lines = [
            outputs[REJECTED_ROWS]
            | "RowsLines" >> beam.Map(lambda nt: ((REJECTED_ROWS, nt[0]), nt[1]))
        ]
        for name in (REJECTED_FILES, REJECTED_CYCLES, NIGHT_LEDGER, NIGHTLY_STATS, NOT_SCORED):
            lines.append(
                outputs[name]
                | f"Json{name}"
                >> beam.Map(
                    lambda d, n=name: ((n, d.get(fc.NIGHT_DATE)), json.dumps(d, sort_keys=True))
                )
            )
        # Every night gets a ledger and a statistics file, even empty: the span store reads them.
        always = nights | "EveryNightFile" >> beam.FlatMap(
            lambda n: [((NIGHT_LEDGER, n), None), ((NIGHTLY_STATS, n), None)]
        )
        _ = (
            {"lines": lines | "AllLines" >> beam.Flatten(), "always": always}
            | "GroupFiles" >> beam.CoGroupByKey()
            | "WriteFiles" >> beam.ParDo(_WriteNightFileFn(q))
        )
        counts.append(
            outputs[NIGHT_LEDGER]
            | "CountNights"
            >> beam.FlatMap(lambda e: [((e[fc.NIGHT_DATE], k), n) for k, n in _summary_counts(e)])
        )
        counts.append(
            outputs[REJECTED_FILES]
            | "CountFiles"
            >> beam.Map(lambda d: ((d[fc.NIGHT_DATE], f"files_rejected/{d['reason']}"), 1))
        )
        counts.append(
            outputs[REJECTED_CYCLES]
            | "CountCycles" >> beam.Map(lambda _: ((None, "cycle_rows_rejected"), 1))
        )
        splits = self._splits
        return (
            counts
            | "AllCounts" >> beam.Flatten()
            | "Sum" >> beam.CombinePerKey(sum)
            | "Flat" >> beam.Map(lambda kv: (kv[0][0], kv[0][1], kv[1]))
            | "Collect" >> beam.combiners.ToList()
            | "Summary"
            >> beam.Map(lambda c: json.dumps(summary_by_night(c, splits), indent=2, sort_keys=True))
            | "WriteSummary"
            >> beam.io.WriteToText(f"{q}/{SUMMARY_FILE}", num_shards=1, shard_name_template="")
        )
