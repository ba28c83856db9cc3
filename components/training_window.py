"""TrainingWindow: the rolling range of ingested nights the model trains on, from the span store.

NightlyFeatureGen ingests one night a run and commits it to the span store. This component takes
the window of ``window_nights`` nights ending with that night and gathers their example files (as
the store's index names them) into one Examples artifact: a copy of files already written, never
a re-reading of raw recordings. The window is resolved here, in the executor, because TFX 1.16's
Kubeflow v2 compiler compiles only latest-artifact resolvers, not span ranges: the same code then
serves the local runner and Kubeflow.

A night a gate refused (AnomalyGate, DriftGate: ``components.spans.refusals``) is never
gathered: the report lists it under ``nights_refused`` with the gate's reason.

Cadence: with ``train_every`` N > 1 only every N-th night (by span number) trains; other nights
write an empty window with ``train`` = 0, and the pipeline's condition skips Transform, Trainer,
Evaluator and Pusher.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import datetime as dt
import json

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import defaults
from components.artifact_properties import FIRST_NIGHT_PROPERTY, LAST_NIGHT_PROPERTY

WINDOW_FILE = "window.json"
TRAIN_PROPERTY = "train"


def trains_tonight(span: int, train_every: int) -> bool:
    """Whether the night of ``span`` retrains (every ``train_every``-th span; 1: every night)."""
    if train_every < 1:
        raise ValueError(f"train_every must be at least 1, got {train_every}")
    return span % train_every == 0


def gather_window(
    store_root: str, last: dt.date, window_nights: int, split_uris: dict[str, str]
) -> dict:
    """Copy the example files of the window's indexed nights into ``split_uris`` (split -> folder).

    Copies exactly the files each entry recorded, checking each against its sha256 as it is
    copied (one read): a missing or damaged file raises ``StoredFileError`` naming the night
    and its repair, instead of training on fewer examples than the window counts. Entries from
    before digests were recorded copy the files found for the night.

    Nights a gate refused (``components.spans.refusals``) are left out and listed in the report
    with the gate and its reason. Returns the window's report.
    """
    from apache_beam.io.filesystems import FileSystems

    from components.file_io import copy_with_digest
    from components.spans.dates import night_range
    from components.spans.refusals import refusals
    from components.spans.store import SpanStore, check_digest

    store = SpanStore(store_root)
    nights = night_range(last - dt.timedelta(days=window_nights - 1), last)
    entries = store.entries(nights)
    refused = refusals(store_root, entries)
    entries = {n: e for n, e in entries.items() if n not in refused}
    code_versions: dict[str, int] = {}
    examples = dict.fromkeys(split_uris, 0)
    for directory in split_uris.values():
        FileSystems.mkdirs(directory)
    for _, entry in sorted(entries.items()):
        code_versions[entry.code_version] = code_versions.get(entry.code_version, 0) + 1
        for split, directory in split_uris.items():
            for source in entry.split_files(split):
                copied = copy_with_digest(source, f"{directory}/{source.rsplit('/', 1)[-1]}")
                check_digest(entry, source, copied)
            examples[split] += entry.counts.get("examples_by_split", {}).get(split, 0)
    return {
        FIRST_NIGHT_PROPERTY: nights[0].isoformat(),
        LAST_NIGHT_PROPERTY: last.isoformat(),
        "nights": len(entries),
        "nights_missing": [n.isoformat() for n in nights if n not in entries and n not in refused],
        "nights_refused": {
            n.isoformat(): [f"{r['gate']}: {r['reason']}" for r in records]
            for n, records in sorted(refused.items())
        },
        "code_versions": code_versions,
        "examples_by_split": examples,
    }


@component
def TrainingWindow(  # noqa: N802
    examples: InputArtifact[standard_artifacts.Examples],
    window: OutputArtifact[standard_artifacts.Examples],
    span_store: Parameter[str],
    window_nights: Parameter[int] = defaults.WINDOW_NIGHTS,
    train_every: Parameter[int] = 1,
    # The fingerprint of this module's code (pipeline.code_version), for the cache key.
    code_version: Parameter[str] = "",
) -> None:
    """Gather the training window ending with the ingested night (empty on a night off)."""
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    from components.spans.dates import night_of

    span = int(examples.span)
    splits = artifact_utils.decode_split_names(examples.split_names)
    window.split_names = examples.split_names
    window.span = span
    train = trains_tonight(span, train_every)
    window.set_int_custom_property(TRAIN_PROPERTY, int(train))
    if train:
        split_uris = {s: artifact_utils.get_split_uri([window], s) for s in splits}
        report = gather_window(span_store, night_of(span), window_nights, split_uris)
    else:
        report = {LAST_NIGHT_PROPERTY: night_of(span).isoformat(), "nights": 0, "skipped": True}
    report["train"] = train
    io_utils.write_string_file(f"{window.uri}/{WINDOW_FILE}", json.dumps(report, indent=2))
    for key in (FIRST_NIGHT_PROPERTY, LAST_NIGHT_PROPERTY):
        if key in report:
            window.set_string_custom_property(key, report[key])
    window.set_int_custom_property("nights", report["nights"])
    window.set_int_custom_property("nights_missing", len(report.get("nights_missing", [])))
    window.set_int_custom_property("nights_refused", len(report.get("nights_refused", {})))
    for split, n in report.get("examples_by_split", {}).items():
        window.set_int_custom_property(f"examples_{split}", n)
    window.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    window.set_string_custom_property("file_format", "tfrecords_gzip")
