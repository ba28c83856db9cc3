"""The nightly-feature job as Beam transforms: the one implementation for every runner.

``RawRecordingsToExamples`` turns a data root (raw nights and the cycle log) into serialized
tf.Examples per split plus the quarantine (rejected rows, files and cycle-log lines, and a ledger of
every night). ``WriteFeatureOutputs`` writes them and a summary. The same transforms run in the
TFX component (``component.py``) and in ``cyclecast features``, on the DirectRunner here and on
Dataflow, Flink or Spark at scale.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components.nightly_features.records import (
    BadCycleRow,
    NightOutcome,
    parse_cycle_line,
    process_raw_file,
)
from components.nightly_features.sorted_shards import WriteSortedTFRecords
from components.nightly_features.user_history import (
    NightStatus,
    build_user_examples,
    pseudonymise,
    split_for_user,
)
from components.nightly_features.window import NightWindow
from components.quarantine_layout import (
    NIGHT_LEDGER,
    REJECTED_CYCLES,
    REJECTED_FILES,
    REJECTED_ROWS,
    SUMMARY_FILE,
)
from transforms import features as fc
from transforms import raw_format as rf

NAMESPACE = "cyclecast"
DEFAULT_SPLITS: dict[str, int] = {"train": 14, "eval": 3, "test": 3}



@dataclass(frozen=True)
class FeatureJobConfig:
    """What the job needs to know; the salt is read from configuration by the caller."""

    input_root: str
    salt: bytes
    split_buckets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    rules: rf.NightRules = rf.NightRules()
    nights_pattern: str = rf.NIGHTS_GLOB  # relative to input_root
    # The nights to emit; the nights before it are read for history only.
    window: NightWindow = NightWindow()

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
        if not cfg.window.emits(outcome.night_date):
            # History for the window's first nights; counted by the run whose window held it.
            if outcome.user_id is not None:
                outcome.rejected_rows = []
                yield outcome.user_id, outcome
            return
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
            yield outcome.user_id, outcome


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
        yield row.user_id, row


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


class _BuildExamplesFn(beam.DoFn):
    def __init__(self, config: FeatureJobConfig):
        self._config = config

    def process(self, element):
        from transforms.tf_example import to_serialized_example

        user_id, grouped = element
        nights = list(grouped["nights"])
        if not nights:
            return
        user_key = pseudonymise(user_id, self._config.salt)
        result = build_user_examples(user_id, nights, list(grouped["cycles"]), user_key)
        split = split_for_user(user_id, self._config.split_buckets)
        window = self._config.window
        for entry in result.ledger:
            if not window.emits(entry[fc.NIGHT_DATE]):
                continue
            entry["split"] = split
            beam.metrics.Metrics.counter(NAMESPACE, f"nights_{entry['status']}").inc()
            yield beam.pvalue.TaggedOutput(NIGHT_LEDGER, entry)
        for example in result.examples:
            if not window.emits(example[fc.NIGHT_DATE][0].decode()):
                continue
            yield beam.pvalue.TaggedOutput(
                split, (order_key(example), to_serialized_example(example))
            )


class RawRecordingsToExamples(beam.PTransform):
    """PBegin -> {"examples": {split: PCollection[bytes]}, and the quarantine PCollections}.

    The quarantine's rejected rows are JSON-lines text, one element per file; the other
    quarantine outputs are dicts, one per rejected file, cycle-log line or night.
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
            | "MatchRaw" >> fileio.MatchFiles(f"{root}/{cfg.nights_pattern}")
            | "InWindow" >> beam.Filter(lambda m: cfg.window.reads(_rel_path(m.path, root)))
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
        splits = list(cfg.split_buckets)
        built = (
            {"nights": nights.outcomes, "cycles": cycles.cycles}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "BuildExamples"
            >> beam.ParDo(_BuildExamplesFn(cfg)).with_outputs(NIGHT_LEDGER, *splits)
        )
        ledger = (nights[NIGHT_LEDGER], built[NIGHT_LEDGER]) | "Ledger" >> beam.Flatten()
        return {
            "examples": {s: built[s] for s in splits},
            REJECTED_ROWS: nights[REJECTED_ROWS],
            REJECTED_FILES: nights[REJECTED_FILES],
            REJECTED_CYCLES: cycles[REJECTED_CYCLES],
            NIGHT_LEDGER: ledger,
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
    }


class WriteFeatureOutputs(beam.PTransform):
    """Write examples per split (gzip TFRecords) and the quarantine, and a summary JSON."""

    def __init__(
        self, examples_dir: str, quarantine_dir: str, splits: list[str], num_shards: int = 1
    ):
        super().__init__()
        self._num_shards = num_shards
        self._examples_dir = examples_dir.rstrip("/")
        self._quarantine_dir = quarantine_dir.rstrip("/")
        self._splits = splits

    def expand(self, outputs):
        """Write every output; return the written summary's file names."""
        q = self._quarantine_dir
        count_streams = []
        for split, pcoll in outputs["examples"].items():
            _ = pcoll | f"Write{split}" >> WriteSortedTFRecords(
                f"{self._examples_dir}/Split-{split}", self._num_shards
            )
            count_streams.append(
                pcoll | f"Count{split}" >> beam.Map(lambda _, s=split: (f"examples/{s}", 1))
            )
        for name in (REJECTED_ROWS, REJECTED_FILES, REJECTED_CYCLES, NIGHT_LEDGER):
            lines = outputs[name]
            if name != REJECTED_ROWS:  # rejected rows come as JSON lines already
                lines = lines | f"Json{name}" >> beam.Map(lambda d: json.dumps(d, sort_keys=True))
            _ = lines | f"Write{name}" >> beam.io.WriteToText(
                f"{q}/{name}",
                file_name_suffix=".jsonl.gz",
                compression_type=CompressionTypes.GZIP,
            )
        count_streams.append(outputs[NIGHT_LEDGER] | "CountNights" >> beam.FlatMap(_summary_counts))
        count_streams.append(
            outputs[REJECTED_FILES]
            | "CountFiles" >> beam.Map(lambda d: (f"files_rejected/{d['reason']}", 1))
        )
        count_streams.append(
            outputs[REJECTED_CYCLES]
            | "CountCycles" >> beam.Map(lambda _: ("cycle_rows_rejected", 1))
        )
        splits = self._splits
        return (
            count_streams
            | "AllCounts" >> beam.Flatten()
            | "Sum" >> beam.CombinePerKey(sum)
            | "ToDict" >> beam.combiners.ToDict()
            | "Summary"
            >> beam.Map(
                lambda c: json.dumps(summary_from_counts(c, splits), indent=2, sort_keys=True)
            )
            | "WriteSummary"
            >> beam.io.WriteToText(f"{q}/{SUMMARY_FILE}", num_shards=1, shard_name_template="")
        )
