"""Write the feature job's outputs, one set of files per night, and its summary.

``WriteFeatureOutputs`` takes what ``beam_job.RawRecordingsToExamples`` returns: each night's
examples per split and prediction requests as sorted gzip TFRecord shards
(``sorted_shards``), each quarantine output as ``<output>-<night>.jsonl.gz`` (sorted lines), and
one ``summary.json`` with the totals and each night's counts (``by_night``), which the span store's
entries and the CLI read.
"""

from __future__ import annotations

import json

import apache_beam as beam

from components.nightly_features.beam_job import NOT_SCORED, REQUESTS
from components.nightly_features.sorted_shards import WriteSortedTFRecords, write_gzip_file
from components.nightly_features.user_history import NightStatus
from components.quarantine_layout import (
    NIGHT_LEDGER,
    NIGHTLY_STATS,
    REJECTED_CYCLES,
    REJECTED_FILES,
    REJECTED_ROWS,
    SUMMARY_FILE,
    night_file,
)
from components.spans.store import REQUESTS_SPLIT, split_dir
from transforms import features as fc
from transforms import raw_format as rf


def quarantine_line(record: dict) -> str:
    """One record as a line of its quarantine file (the online store keeps the same lines)."""
    return json.dumps(record, sort_keys=True)


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
                split_dir(self._examples_dir, split), nights, self._num_shards
            )
            counts.append(
                pcoll | f"Count{split}" >> beam.Map(lambda e, s=split: ((e[0], f"examples/{s}"), 1))
            )
        if self._requests_dir:  # prediction requests, per night like the examples
            _ = outputs[REQUESTS] | "WriteRequests" >> WriteSortedTFRecords(
                split_dir(self._requests_dir, REQUESTS_SPLIT), nights, self._num_shards
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
                >> beam.Map(lambda d, n=name: ((n, d.get(fc.NIGHT_DATE)), quarantine_line(d)))
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
