"""Ingest once: nights ingested one by one equal one backfill; late uploads, gaps and crashes.

The Beam job runs on the DirectRunner in this process, without TFX: the nightly component and
``cyclecast backfill`` both call ``components.nightly_features.ingest.ingest``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from components.spans.dates import night_range
from components.spans.plan import Reason, plan_ingest
from components.spans.store import SpanStore
from transforms import raw_format as rf

SALT = b"span-ingest-salt-0123456789"
BEAM_ARGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
START = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from synthetic.generate import generate_dataset

    root = tmp_path_factory.mktemp("span") / "data"
    generate_dataset(root, users=8, cycles=2, seed=5, start_date=START, progress=False)
    return root


def _pipeline():
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    return beam.Pipeline(options=PipelineOptions(BEAM_ARGS))


def _nightly(data: Path, store: SpanStore, night: dt.date, out: Path, late: int = 7):
    """What NightlyFeatureGen's executor does for one night."""
    from components.nightly_features.beam_job import FeatureJobConfig
    from components.nightly_features.ingest import ingest

    plan = plan_ingest(store, str(data), night, window_nights=365, late_nights=late)
    run = out / night.isoformat()
    summary = ingest(
        plan, FeatureJobConfig(input_root=str(data), salt=SALT), str(run / "examples"),
        str(run / "quarantine"), store, "code-1", _pipeline)
    return plan, summary


def _night_files(store: SpanStore, night: dt.date) -> dict[str, str]:
    """The sha256 of each file that holds one night's outputs, by name."""
    entry = store.entry(night)
    paths = [p for split in ("train", "eval", "test")
             for p in Path(entry.examples, f"Split-{split}").glob(f"{entry.night}-*")]
    paths += list(Path(entry.quarantine).glob(f"*-{entry.night}.jsonl.gz"))
    return {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(paths)}


def _examples(store: SpanStore, nights) -> list[dict]:
    from transforms.tf_example import read_examples

    out = []
    for night in nights:
        entry = store.entry(night)
        for split in ("train", "eval", "test"):
            out += read_examples(entry.example_files(split))
    return sorted(out, key=lambda e: (e["night_date"], e["user_key"]))


def _users(data: Path) -> list[str]:
    return sorted({p.name[: -len(rf.RAW_SUFFIX)] for p in (data / "nights").glob("*/*.csv.gz")})


@pytest.mark.e2e
def test_nights_one_by_one_equal_one_backfill(generated, tmp_path):
    from components.nightly_features.job import run_backfill

    data = tmp_path / "data"
    shutil.copytree(generated, data)
    nights = sorted(dt.date.fromisoformat(p.name) for p in (data / "nights").iterdir())
    first, last = nights[-40], nights[-31]  # ten nights every user is recording
    missing, late_night, joins = first + dt.timedelta(days=3), first + dt.timedelta(days=2), \
        first + dt.timedelta(days=5)
    shutil.rmtree(data / "nights" / missing.isoformat())  # nobody uploaded that night
    joiner, late_user = _users(data)[:2]
    for night in nights:  # a user who joins mid-window: no nights before `joins`
        if night < joins:
            (data / rf.night_path(night.isoformat(), joiner)).unlink(missing_ok=True)
    held = data / rf.night_path(late_night.isoformat(), late_user)
    assert held.exists()
    held_bytes = held.read_bytes()

    # store A: everything before `first` in one backfill, then one night at a time
    a = SpanStore(str(tmp_path / "a"))
    run_backfill(str(data), a.root, nights[0].isoformat(), (first - dt.timedelta(days=1))
                 .isoformat(), SALT, BEAM_ARGS, "code-1")
    read = {}
    for night in night_range(first, last):
        if night == late_night:
            held.unlink()  # this upload arrives two nights late
        if night == late_night + dt.timedelta(days=2):
            held.write_bytes(held_bytes)
        plan, summary = _nightly(data, a, night, tmp_path / "nightly")
        read[night] = (plan, summary)
        # the raw files a night reads are the planned nights' files, nothing else
        assert summary["files"] == sum(plan.fingerprints[n][1] for n in plan.ingest)

    # a quiet night reads one night's files; history comes from 28 stored nights
    quiet_plan, quiet = read[first + dt.timedelta(days=1)]
    assert quiet_plan.ingest == {(first + dt.timedelta(days=1)).isoformat(): Reason.NEW}
    assert len(quiet_plan.history) == 28
    # the late upload re-ingests its night and the nights whose history it changes, up to now
    late_plan, _ = read[late_night + dt.timedelta(days=2)]
    assert late_plan.ingest == {
        late_night.isoformat(): Reason.LATE,
        (late_night + dt.timedelta(days=1)).isoformat(): Reason.HISTORY,
        (late_night + dt.timedelta(days=2)).isoformat(): Reason.NEW,
    }
    # the night nobody uploaded is ingested (and recorded) with no files
    assert read[missing][1]["files"] == 0 and a.entry(missing).raw_files == 0

    # store B: the same nights in one backfill over the final data
    b = SpanStore(str(tmp_path / "b"))
    run_backfill(str(data), b.root, nights[0].isoformat(), (first - dt.timedelta(days=1))
                 .isoformat(), SALT, BEAM_ARGS, "code-1")
    summary = run_backfill(str(data), b.root, first.isoformat(), last.isoformat(), SALT,
                           BEAM_ARGS, "code-1")
    window = night_range(first, last)
    one_by_one, backfilled = _examples(a, window), _examples(b, window)
    assert one_by_one == backfilled  # feature for feature
    assert len(backfilled) > 40
    for night in window:  # and byte for byte, file for file
        assert _night_files(a, night) == _night_files(b, night), night
    joined = {e["night_date"][0].decode() for e in backfilled
              if e["hist_valid"] and sum(e["hist_valid"]) < 28}
    assert joined  # the joiner's first nights have partial history, identically on both paths

    # the ledger adds up: every valid night is an example or a counted reason
    status = summary["night_status"]
    assert summary["valid_nights"] == sum(v for k, v in status.items() if k != "invalid")
    assert sum(summary["examples_by_split"].values()) == status["example"] == len(backfilled)
    assert summary["files"] == sum(e.raw_files for e in b.entries(window).values())


@pytest.mark.e2e
def test_a_crash_mid_ingest_leaves_earlier_spans_and_a_rerun_completes(generated, tmp_path,
                                                                       monkeypatch):
    import components.nightly_features.beam_job as job

    data = generated
    nights = sorted(dt.date.fromisoformat(p.name) for p in (data / "nights").iterdir())
    night = nights[-35]
    store = SpanStore(str(tmp_path / "store"))
    from components.nightly_features.job import run_backfill

    run_backfill(str(data), store.root, nights[0].isoformat(),
                 (night - dt.timedelta(days=1)).isoformat(), SALT, BEAM_ARGS, "code-1")
    index = {p.name: p.read_bytes() for p in (tmp_path / "store" / "index").iterdir()}
    real = job.read_raw_file
    calls = []

    def crash_on_third(rel, read, rules, *ranges):
        calls.append(rel)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return real(rel, read, rules, *ranges)

    monkeypatch.setattr(job, "read_raw_file", crash_on_third)
    with pytest.raises(Exception, match="worker lost"):
        _nightly(data, store, night, tmp_path / "crashed")
    assert store.entry(night) is None  # the crashed night was never committed
    assert {p.name: p.read_bytes() for p in (tmp_path / "store" / "index").iterdir()} == index
    monkeypatch.setattr(job, "read_raw_file", real)
    plan, summary = _nightly(data, store, night, tmp_path / "rerun")
    assert plan.ingest == {night.isoformat(): Reason.NEW}
    assert store.entry(night).raw_files == summary["files"] > 0
    ledger = [json.loads(line) for line in gzip.open(
        Path(store.entry(night).quarantine) / f"nights-{night}.jsonl.gz")]
    assert len(ledger) == summary["files"]  # every file of the night accounted for


# A backfill killed by SIGKILL at the `kill_at`-th file rename (every file the job, the summary,
# the plan and the index entries write is renamed into place from a temporary name).
KILLED_BACKFILL = """
import os, signal, sys
from apache_beam.io.filesystems import FileSystems
data, store, code, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real, calls = FileSystems.rename, [0]
def rename(sources, destinations):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(sources, destinations)
FileSystems.rename = staticmethod(rename)
from components.nightly_features.job import run_backfill
run_backfill(data, store, "2026-01-05", "2026-01-10", sys.argv[5].encode(),
             ["--runner=DirectRunner", "--direct_running_mode=in_memory"], code)
print("not killed")
"""


def _frames(path: str) -> int:
    """The number of records in a gzip TFRecord file (read without TensorFlow)."""
    import struct

    data, n, at = gzip.open(path).read(), 0, 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        at, n = at + 12 + length + 4, n + 1
    return n


def _check_every_entry(store: SpanStore, nights) -> dict[str, str]:
    """Each entry names exactly its night's files, all whole, and they hold what it counts."""
    from components.spans.store import StoredFileError

    versions = {}
    for night in nights:
        entry = store.entry(night)
        assert entry is not None, night
        try:
            store.verify(entry)  # every named file there, with the sha256 recorded at commit
        except StoredFileError as e:
            raise AssertionError(str(e)) from None
        assert sorted(entry.files) == entry.find_files(), night  # nothing more, nothing less
        for split, count in entry.counts["examples_by_split"].items():
            assert sum(_frames(p) for p in entry.split_files(split)) == count, (night, split)
        ledger = gzip.open(Path(entry.quarantine) / f"nights-{entry.night}.jsonl.gz").read()
        assert len(ledger.splitlines()) == entry.counts["files"], night
        versions[entry.night] = entry.code_version
    return versions


@pytest.mark.e2e
def test_a_backfill_killed_at_any_point_leaves_each_night_wholly_old_or_wholly_new(
    tmp_path, monkeypatch
):
    import os
    import signal
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parents[2])
    from apache_beam.io.filesystems import FileSystems

    from components.nightly_features.job import run_backfill
    from components.spans.store import StoredFileError
    from tests.rawfiles import write_steady_root

    data = tmp_path / "data"
    write_steady_root(data, nights=6, vary_heart_rate=True)
    nights = night_range(dt.date(2026, 1, 5), dt.date(2026, 1, 10))
    store = SpanStore(str(tmp_path / "store"))
    renamed = []  # the first backfill: every rename it makes, in order
    real = FileSystems.rename

    def recording(sources, destinations):
        renamed.extend(destinations)
        return real(sources, destinations)

    monkeypatch.setattr(FileSystems, "rename", staticmethod(recording))
    run_backfill(str(data), store.root, "2026-01-05", "2026-01-10", SALT, BEAM_ARGS, "code-0")
    monkeypatch.setattr(FileSystems, "rename", staticmethod(real))
    assert set(_check_every_entry(store, nights).values()) == {"code-0"}
    first_commit = next(i for i, p in enumerate(renamed, 1) if "/index/" in p)
    assert renamed[first_commit - 1:] == [f"{store.root}/index/{n}.json" for n in nights]

    # killed mid-job, with every file written but none committed, mid-commit, at the last commit
    for attempt, kill_at in enumerate((3, first_commit, first_commit + 2, len(renamed)), 1):
        before = _check_every_entry(store, nights)
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_BACKFILL, str(data), store.root, f"code-{attempt}",
             str(kill_at), SALT.decode()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": repo})
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
        after = _check_every_entry(store, nights)  # every entry against its files
        switched = [n for n in after if after[n] != before[n]]
        assert all(after[n] == f"code-{attempt}" for n in switched)
        assert switched == [n.isoformat() for n in nights[: max(0, kill_at - first_commit)]]
        # the dead backfill's lock record is still there; the next writer takes the lock over
        lock = json.loads((tmp_path / "store" / "writer.lock").read_text())
        assert lock["pid"] == proc.pid and lock["run"] == "backfill 2026-01-05..2026-01-10"

    # the first backfill's generation was never rewritten: nights still naming it read whole
    generations = {Path(store.entry(n).examples).parent for n in nights}
    assert len(generations) == 2  # code-4's (five nights) and code-0's (the last night)
    # a re-run completes: every night wholly new
    run_backfill(str(data), store.root, "2026-01-05", "2026-01-10", SALT, BEAM_ARGS, "code-5")
    assert set(_check_every_entry(store, nights).values()) == {"code-5"}

    # a history night's statistics file missing: the next ingest stops before its Beam job
    Path(store.entry(nights[2]).stats_file).unlink()
    with pytest.raises(StoredFileError, match=r"night 2026-01-07 is damaged: .* is missing.*"
                                              r"`cyclecast backfill --from 2026-01-07 --to "
                                              r"2026-01-07`"):
        run_backfill(str(data), store.root, "2026-01-10", "2026-01-10", SALT, BEAM_ARGS, "c")
    assert set(_check_every_entry(store, [nights[-1]]).values()) == {"code-5"}
