"""Every file a span-store entry names is checked: a missing or damaged one names its repair.

A hand-built store of three committed nights (no Beam job): the ingest plan (which verifies the
history the Beam job reads), TrainingWindow's copy, DriftGate and the online path all stop on
the same damage with the same message.
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


def _batch_and_online(store: SpanStore, tmp_path: Path) -> list[str]:
    """The errors the ingest plan and the online path give for the night after the store's."""
    from components.spans.plan import plan_backfill
    from pipeline.serving.online import stored_nights

    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    errors = []
    for read in (lambda: plan_backfill(store, str(tmp_path / "raw"), tonight, tonight),
                 lambda: stored_nights(store.root, tonight, USER)):
        with pytest.raises(StoredFileError) as e:
            read()
        errors.append(str(e.value))
    return errors


def test_an_entry_records_the_sha256_of_each_of_its_files(store):
    entry = store.entry(NIGHTS[0])
    assert sorted(Path(p).name for p in entry.files) == sorted([
        "2026-03-01-data_tfrecord-00000-of-00001.gz", "nights-2026-03-01.jsonl.gz",
        "nightly_stats-2026-03-01.jsonl.gz"])  # the leftover .incomplete is not one of them
    assert all(len(d) == 64 for d in entry.files.values())
    store.verify(entry)
    assert entry.split_files("train") == [p for p in sorted(entry.files) if "/Split-train/" in p]


def test_a_missing_statistics_file_stops_ingest_and_online_alike(store, tmp_path):
    from components.spans.plan import plan_backfill
    from pipeline.serving.online import stored_nights

    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    assert [o.night_date for o in stored_nights(store.root, tonight, USER)] == [
        n.isoformat() for n in NIGHTS]
    assert len(plan_backfill(store, str(tmp_path / "raw"), tonight, tonight).history) == 3
    Path(store.entry(NIGHTS[1]).stats_file).unlink()
    batch, online = _batch_and_online(store, tmp_path)
    assert batch == online  # one message, batch and online
    assert "night 2026-03-02 is damaged" in batch and "is missing" in batch
    assert "`cyclecast backfill --from 2026-03-02 --to 2026-03-02`" in batch


def test_a_damaged_statistics_file_stops_ingest_and_online_alike(store, tmp_path):
    stats = Path(store.entry(NIGHTS[0]).stats_file)
    stats.write_bytes(_gz([{fc.USER_KEY: USER, fc.NIGHT_DATE: "2026-03-01", "features": {}}]))
    batch, online = _batch_and_online(store, tmp_path)
    assert batch == online
    assert "does not match the sha256 recorded" in batch
    assert "`cyclecast backfill --from 2026-03-01 --to 2026-03-01`" in batch


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
    from pipeline.serving.online import stored_nights

    store = SpanStore(str(tmp_path / "spans"))
    for night in NIGHTS:
        _commit(store, tmp_path, night, digests=False)
    assert store.entry(NIGHTS[0]).files == {}
    tonight = NIGHTS[-1] + dt.timedelta(days=1)
    assert len(stored_nights(store.root, tonight, USER)) == 3
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
