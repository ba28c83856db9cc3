"""A night whose files could not all be read is read again though its listing did not change
(issue 23, item 4: fixing a permission or I/O error changes no name, size or time)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from components.spans.plan import Reason, night_fingerprint, plan_ingest, retry_marker
from components.spans.store import SpanEntry, SpanStore
from transforms import raw_format as rf

D5, D6, D7 = (dt.date(2026, 1, d) for d in (5, 6, 7))


def _store(tmp_path, unreadable: dict[dt.date, int]) -> tuple[SpanStore, str]:
    """Raw files for the 5th to the 7th, the 5th and 6th ingested with those unreadable counts."""
    root = tmp_path / "data"
    for night in (D5, D6, D7):
        path = root / rf.night_path(night.isoformat(), "u1")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"listed only")
    store = SpanStore(str(tmp_path / "spans"))
    for night in (D5, D6):
        fingerprint, files = night_fingerprint(str(root), night)
        n = unreadable.get(night, 0)
        counts = {"files_rejected_by_reason": {rf.FileReject.UNREADABLE: n} if n else {}}
        quarantine = str(tmp_path / "q")
        entry = SpanEntry(night.isoformat(), "/ex", quarantine, fingerprint, files, "c", counts)
        Path(entry.stats_file).parent.mkdir(parents=True, exist_ok=True)
        Path(entry.stats_file).write_bytes(b"")  # the history a plan checks (entry without digests)
        store.commit(entry)
    return store, str(root)


def test_an_unchanged_night_with_an_unreadable_file_is_retried(tmp_path):
    store, root = _store(tmp_path, {D6: 1})
    plan = plan_ingest(store, root, D7, window_nights=3, late_nights=7)
    assert plan.ingest == {"2026-01-07": Reason.NEW, "2026-01-06": Reason.RETRY}
    # the same night re-run is retried too, and a night read whole is not
    assert plan_ingest(store, root, D6, window_nights=2).ingest == {"2026-01-06": Reason.RETRY}
    assert plan_ingest(store, root, D5, window_nights=1).ingest == {"2026-01-05": Reason.NEW}


def test_retries_stay_within_the_lateness_horizon(tmp_path):
    # beyond it a night is not read every night for ever: a backfill reads it again
    store, root = _store(tmp_path, {D5: 1})
    plan = plan_ingest(store, root, D7, window_nights=3, late_nights=1)
    assert plan.ingest == {"2026-01-07": Reason.NEW}


def test_a_night_with_an_unreadable_file_is_never_served_from_cache(tmp_path):
    store, _ = _store(tmp_path, {D6: 1})
    assert retry_marker(store.root, [D5]) == "" and retry_marker(None, [D6]) == ""
    first, second = retry_marker(store.root, [D7, D6]), retry_marker(store.root, [D7, D6])
    assert first.startswith("retry_unreadable:2026-01-06@") and first != second
