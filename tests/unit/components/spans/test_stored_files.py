"""Every file a span-store entry names is checked: a missing or damaged one names its repair.

A hand-built store of three committed nights (no Beam job): the ingest plan (which verifies the
history the Beam job reads), TrainingWindow's copy and DriftGate stop on the same damage with the
same message; the online path, which reads the online store's copy of the statistics, stops when
that copy was built from another file than the entry records.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from components.spans.store import SpanEntry, SpanStore, StoredFileError, file_digests
from transforms import features as fc

NIGHTS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(3)]
USER = "k1"


def _gz(lines: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(r, sort_keys=True) + "\n" for r in lines).encode(),
                         mtime=0)


def _commit(store: SpanStore, root: Path, night: dt.date, digests: bool = True) -> SpanEntry:
    """Write one night's files as the feature job lays them out, and commit its entry."""
    n = night.isoformat()
    gen = root / "gen" / n
    shard = gen / "examples" / "Split-train" / f"{n}-data_tfrecord-00000-of-00001.gz"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(gzip.compress(n.encode(), mtime=0))
    (shard.parent / f"{shard.name}.incomplete").write_bytes(b"left by a crash")  # not the night's
    quarantine = gen / "quarantine"
    quarantine.mkdir()
    features = dict.fromkeys(fc.NIGHTLY_FEATURES, 1.0)
    stats = {fc.USER_KEY: USER, fc.NIGHT_DATE: n, "features": features}
    (quarantine / f"nightly_stats-{n}.jsonl.gz").write_bytes(_gz([stats]))
    ledger = {fc.NIGHT_DATE: n, "status": "example"}
    (quarantine / f"nights-{n}.jsonl.gz").write_bytes(_gz([ledger]))
    entry = SpanEntry(n, str(gen / "examples"), str(quarantine), "fp", 1, "code",
                      counts={"examples_by_split": {"train": 1}})
    if digests:
        entry = SpanEntry(**{**entry.__dict__, "files": file_digests(entry.find_files())})
    store.commit(entry)
    return entry


@pytest.fixture
def store(tmp_path) -> SpanStore:
    s = SpanStore(str(tmp_path / "spans"))
    for night in NIGHTS:
        _commit(s, tmp_path, night)
    return s


def _online_history(store: SpanStore, tmp_path: Path) -> list[str]:
    """The nights of history the online path reads for the night after the store's."""
    from components.online_store import open_store
    from components.online_store.seed import seed_nights
    from pipeline.serving.online import stored_state

    online = open_store(f"sqlite:///{tmp_path}/online.sqlite", create=True)
    if not online.nights():
        seed_nights(online, store.root, NIGHTS)
    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    history, _ = stored_state(online, store.root, tonight, USER)
    return [o.night_date for o in history]


def _batch_error(store: SpanStore, tmp_path: Path) -> str:
    """The error the ingest plan gives for the night after the store's."""
    from components.spans.plan import plan_backfill

    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    with pytest.raises(StoredFileError) as e:
        plan_backfill(store, str(tmp_path / "raw"), tonight, tonight)
    return str(e.value)


def test_an_entry_records_the_sha256_of_each_of_its_files(store):
    entry = store.entry(NIGHTS[0])
    assert sorted(Path(p).name for p in entry.files) == sorted([
        "2026-03-01-data_tfrecord-00000-of-00001.gz", "nights-2026-03-01.jsonl.gz",
        "nightly_stats-2026-03-01.jsonl.gz"])  # the leftover .incomplete is not one of them
    assert all(len(d) == 64 for d in entry.files.values())
    store.verify(entry)
    assert entry.split_files("train") == [p for p in sorted(entry.files) if "/Split-train/" in p]


def test_a_missing_statistics_file_stops_ingest(store, tmp_path):
    from components.spans.plan import plan_backfill

    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    assert _online_history(store, tmp_path) == [n.isoformat() for n in NIGHTS]
    assert len(plan_backfill(store, str(tmp_path / "raw"), tonight, tonight).history) == 3
    Path(store.entry(NIGHTS[1]).stats_file).unlink()
    batch = _batch_error(store, tmp_path)
    assert "night 2026-03-02 is damaged" in batch and "is missing" in batch
    assert "`cyclecast backfill --from 2026-03-02 --to 2026-03-02`" in batch
    # the online store's copy was built from the committed file (its digest): still good
    assert _online_history(store, tmp_path) == [n.isoformat() for n in NIGHTS]


def test_a_damaged_statistics_file_stops_ingest(store, tmp_path):
    stats = Path(store.entry(NIGHTS[0]).stats_file)
    stats.write_bytes(_gz([{fc.USER_KEY: USER, fc.NIGHT_DATE: "2026-03-01", "features": {}}]))
    batch = _batch_error(store, tmp_path)
    assert "does not match the sha256 recorded" in batch
    assert "`cyclecast backfill --from 2026-03-01 --to 2026-03-01`" in batch


def test_an_online_night_from_another_file_than_its_entry_stops_the_online_path(store, tmp_path):
    from components.online_store import open_store
    from pipeline.serving.online import BadUpload, stored_state

    assert len(_online_history(store, tmp_path)) == 3
    # the night re-ingested (a new file, a new entry) but its online rows never published
    entry = store.entry(NIGHTS[1])
    stats = Path(entry.stats_file)
    stats.write_bytes(_gz([{fc.USER_KEY: USER, fc.NIGHT_DATE: "2026-03-02", "features": {}}]))
    store.commit(SpanEntry(**{**entry.__dict__, "files": file_digests(entry.find_files())}))
    with pytest.raises(StoredFileError, match="night 2026-03-02 is damaged: the online store "
                       ".* holds its rows from another version of .*nightly_stats-2026-03-02"
                       r".*`cyclecast backfill --from 2026-03-02 --to 2026-03-02`"):
        _online_history(store, tmp_path)
    # a night the online store never got (a span store older than it) names the same repair
    online = open_store(f"sqlite:///{tmp_path}/other.sqlite", create=True)
    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    with pytest.raises(StoredFileError, match="2026-03-01 is damaged: the online store .* "
                       "holds no rows of it.*cyclecast backfill --from 2026-03-01"):
        stored_state(online, store.root, tonight, USER)
    # pruned nights: the store says which nights it keeps
    online.prune("2026-03-02")
    with pytest.raises(BadUpload, match="keeps the nights from 2026-03-02 on"):
        stored_state(online, store.root, tonight, USER)


def test_the_training_window_stops_on_a_missing_or_damaged_shard(store, tmp_path):
    from components.training_window import gather_window

    def window(name: str) -> dict:
        out = tmp_path / name / "Split-train"
        return gather_window(store.root, NIGHTS[-1], 3, {"train": str(out)})

    report = window("whole")
    assert report["examples_by_split"] == {"train": 3}
    assert len(list((tmp_path / "whole" / "Split-train").glob("*.gz"))) == 3  # no .incomplete
    shard = Path(store.entry(NIGHTS[2]).split_files("train")[0])
    shard.write_bytes(gzip.compress(b"other examples", mtime=0))
    with pytest.raises(StoredFileError, match="night 2026-03-03 is damaged: .* does not match"):
        window("damaged")
    shard.unlink()
    with pytest.raises(StoredFileError, match=r"2026-03-03 is damaged: .*\.gz is missing.*"
                                              r"`cyclecast backfill --from 2026-03-03"):
        window("missing")


def test_drift_gate_checks_the_previous_nights_statistics(store):
    from components.drift_gate import night_and_previous

    tonight = store.entry(NIGHTS[2])
    assert len(night_and_previous(tonight.quarantine, tonight.night, store.root)) == 2
    Path(store.entry(NIGHTS[1]).stats_file).write_bytes(_gz([]))
    with pytest.raises(StoredFileError, match="2026-03-02 is damaged"):
        night_and_previous(tonight.quarantine, tonight.night, store.root)


def test_entries_from_before_digests_still_read_and_missing_files_still_stop(tmp_path):
    from components.spans.plan import plan_backfill
    from components.training_window import gather_window

    store = SpanStore(str(tmp_path / "spans"))
    for night in NIGHTS:
        _commit(store, tmp_path, night, digests=False)
    assert store.entry(NIGHTS[0]).files == {}
    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    assert len(_online_history(store, tmp_path)) == 3  # published with no digest to check
    out = tmp_path / "window" / "Split-train"
    assert gather_window(store.root, NIGHTS[-1], 3, {"train": str(out)})["nights"] == 3
    Path(store.entry(NIGHTS[0]).stats_file).unlink()
    with pytest.raises(StoredFileError, match="2026-03-01 is damaged: .* is missing"):
        plan_backfill(store, str(tmp_path / "raw"), tonight, tonight)


def test_an_unreadable_index_entry_names_its_night_and_repair(store):
    Path(store.root, "index", "2026-03-02.json").write_text('{"night": "2026-03-02", ')
    with pytest.raises(StoredFileError, match="2026-03-02 is damaged: its index entry .* is "
                                              "unreadable.*cyclecast backfill --from 2026-03-02"):
        store.entry("2026-03-02")
