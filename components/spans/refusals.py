"""Gate refusals beside the span store: nights a dataset-level gate refused never train.

NightlyFeatureGen commits a night's index entry before the gates judge it (the entry is what the
gates and the next nights read). When a gate refuses the nights it judged (AnomalyGate: tonight's
ingest breaks the schema; DriftGate: tonight drifted), it records that here, one small file per
night and gate, ``<store>/refused/<night>.<gate>.json``, and TrainingWindow leaves those nights
out of every later window and says so. A record names the index entry it judged (a digest of the
entry): when the night is ingested again (a late upload, a backfill) the entry changes and the
refusal no longer applies; a gate that passes the night again removes its record.

Kept apart from ``store.py`` so the index's own format and commit are untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict

from components.file_io import read_bytes, write_atomically
from components.spans.store import SpanEntry, SpanStore

REFUSED_DIR = "refused"


def entry_digest(entry: SpanEntry) -> str:
    """A digest of an index entry's content: what a refusal was about."""
    return hashlib.sha256(json.dumps(asdict(entry), sort_keys=True).encode()).hexdigest()[:32]


def _path(store_root: str, night: str, gate: str) -> str:
    return f"{store_root.rstrip('/')}/{REFUSED_DIR}/{night}.{gate}.json"


def record_refusal(store_root: str, nights: list[str], gate: str, reason: str) -> list[str]:
    """Record that ``gate`` refused ``nights`` (those with an index entry); return them."""
    store = SpanStore(store_root)
    recorded = []
    for night in sorted(nights):
        entry = store.entry(night)
        if entry is None:
            continue
        record = {"night": night, "gate": gate, "reason": reason, "entry": entry_digest(entry)}
        write_atomically(_path(store_root, night, gate), json.dumps(record, indent=2).encode())
        recorded.append(night)
    return recorded


def clear_refusal(store_root: str, nights: list[str], gate: str) -> None:
    """Remove ``gate``'s refusal of ``nights``: it judged them again and passed them."""
    from apache_beam.io.filesystems import FileSystems

    paths = [_path(store_root, night, gate) for night in nights]
    present = [p for p in paths if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)


def refusals(store_root: str, entries: dict[dt.date, SpanEntry]) -> dict[dt.date, list[dict]]:
    """The refusals that apply to these index entries (made about the entry as it is now)."""
    from apache_beam.io.filesystems import FileSystems

    pattern = f"{store_root.rstrip('/')}/{REFUSED_DIR}/*.json"
    found: dict[dt.date, list[dict]] = {}
    for match in sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list):
        data = read_bytes(match)
        if data is None:
            continue
        record = json.loads(data)
        night = dt.date.fromisoformat(record["night"])
        entry = entries.get(night)
        if entry is not None and record["entry"] == entry_digest(entry):
            found.setdefault(night, []).append(record)
    return found
