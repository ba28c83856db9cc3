"""Fault injection over the raw inputs: each fault's outcome, what was kept, and nothing lost.

One hand-built data root holds a clean user and one user (or device batch) per fault, so every
expected count is known exactly. The Beam feature job (the code NightlyFeatureGen runs) processes
it once; each test checks one fault: the job completed, what the quarantine kept and counted, and
that the user's valid nights all became examples.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections import Counter
from pathlib import Path

import pytest

from components.nightly_features.job import run_feature_job
from components.nightly_features.user_history import pseudonymise
from tests.rawfiles import T0, read_jsonl, row, steady_night, to_file
from transforms import raw_format as rf
from transforms.tf_example import read_examples

pytestmark = pytest.mark.e2e

SALT = b"fault-injection-salt-0123456789"
FIRST = dt.date(2026, 1, 5)
NIGHTS = 4
HOURS = 5.0
ROWS = int(HOURS * 3600 / rf.SAMPLE_PERIOD_S)  # 1800 rows a night
BATCH = ("f1", "f2", "f3")  # one device batch, all reporting Fahrenheit
USERS = ("clean", "corrupt", "truncated", "empty", "clockback", "clockfwd", "reupload",
         *BATCH, "onenight", "folder", "linked", "lastyear", "strayrows",
         "cold")
# a cycle-log line with a byte that is not UTF-8 (the app's export mangled one character)
NON_UTF8_CYCLE_LINE = b"ghost,0,2026-01-05,28,14,\xe95\n"
YEAR = 365 * 86400


def _night_start(k: int) -> int:
    return T0 + 86400 * k


def _path(data: Path, user: str, k: int, name: str | None = None) -> Path:
    p = data / "nights" / (FIRST + dt.timedelta(days=k)).isoformat() / f"{name or user}.csv.gz"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _build(data: Path) -> None:
    data.mkdir(parents=True)
    (data / "cycles.csv").write_text(
        ",".join(rf.CYCLES_COLUMNS) + "\n"
        + "".join(f"{u},0,{FIRST.isoformat()},28,14,5\n" for u in USERS))
    for user in USERS:
        for k in range(1 if user == "onenight" else NIGHTS):
            _path(data, user, k).write_bytes(to_file(steady_night(HOURS, start=_night_start(k))))
    k = 2  # the faulty night of each single-user fault
    clean = to_file(steady_night(HOURS, start=_night_start(k)))
    _path(data, "corrupt", k).write_bytes(clean[:40] + b"\x00garbage\xff" * 50 + clean[-40:])
    _path(data, "truncated", k).write_bytes(clean[: len(clean) // 2])
    _path(data, "empty", k).write_bytes(to_file([]))  # the app uploaded a header and no rows
    _path(data, "empty", 3).write_bytes(b"")  # and a zero-byte file the next night

    # the phone's clock jumps back 30 min 5 s in the middle of the night, then runs on
    start = _night_start(k)
    lines = [row(start + 10 * i - (1805 if i >= 900 else 0)) for i in range(ROWS)]
    _path(data, "clockback", k).write_bytes(to_file(lines))
    # the clock jumps 3 h forward after 2.5 h: a gap no valid night may have
    lines = [row(start + 10 * i + (3 * 3600 if i >= 900 else 0)) for i in range(ROWS)]
    _path(data, "clockfwd", k).write_bytes(to_file(lines))
    # the app re-sent the night's buffer: every row twice in the file...
    night = steady_night(HOURS, start=start)
    _path(data, "reupload", k).write_bytes(to_file(night + night))
    # ...and saved a second copy under another name, which no user id can have
    _path(data, "reupload", k, name="reupload (1)").write_bytes(clean)
    # named like uploads, but no files: a directory, and a symbolic link whose target is gone
    _path(data, "folder", k).unlink()
    _path(data, "folder", k).mkdir()
    _path(data, "linked", k).unlink()
    _path(data, "linked", k).symlink_to(data / "gone.csv.gz")
    with (data / "cycles.csv").open("ab") as f:
        f.write(NON_UTF8_CYCLE_LINE)
    # a phone uploads last year's buffer as tonight's night: every row outside the night
    _path(data, "lastyear", k).write_bytes(to_file(steady_night(HOURS, start=start - YEAR)))
    # five rows whose clock read 10^12 s among a genuine night: rejected, the night kept
    stray = [row(10**12 + 10 * i) for i in range(5)]
    _path(data, "strayrows", k).write_bytes(to_file(night[:100] + stray + night[100:]))
    # one night read 5 C low (34 C -> 29 C): every row is a plausible skin temperature, but the
    # night's median is below the schema's 30 C
    _path(data, "cold", k).write_bytes(to_file(steady_night(HOURS, start=start, temp="29.00")))
    for user in BATCH:  # the whole batch reports Fahrenheit (34 C = 93.2 F), every night
        for n in range(NIGHTS):
            _path(data, user, n).write_bytes(
                to_file(steady_night(HOURS, start=_night_start(n), temp="93.20")))


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    data, out = root / "data", root / "out"
    _build(data)
    stale = _earlier_output(out)
    summary = run_feature_job(str(data), str(out), SALT, ["--runner=DirectRunner"])
    q = out / "quarantine"
    ledger = read_jsonl(q, "nights")
    examples = read_examples(str(out / "examples" / "Split-*" / "*.gz"))
    key_of = {pseudonymise(u, SALT): u for u in USERS}
    by_user: dict[str, list[dict]] = {u: [] for u in USERS}
    for e in ledger:
        if e["user_key"]:
            by_user[key_of[e["user_key"]]].append(e)
    examples_by_user = Counter(key_of[e["user_key"][0].decode()] for e in examples)
    return {
        "summary": summary,
        "ledger": by_user,
        "bad_path_ledger": [e for e in ledger if e["user_key"] is None],
        "examples": examples_by_user,
        "rows": read_jsonl(q, "rejected_rows"),
        "files": read_jsonl(q, "rejected_files"),
        "not_scored": read_jsonl(q, "not_scored"),
        "key": {u: k for k, u in key_of.items()},
        "cycles": read_jsonl(q, "rejected_cycle_rows"),
        "stale": [p for p in stale if p.exists()],
        "shards_on_disk": read_examples(str(out / "examples" / "*" / "*")),
        "quarantine": q,
    }


def _earlier_output(out: Path) -> list[Path]:
    """What an earlier run of the job left in the output folder: a shard of one example (named
    so that only ``shards_on_disk`` reads it) and a ledger file."""
    import tensorflow as tf

    stale = [out / "examples" / "Split-train" / "1999-01-01-data_tfrecord-00000-of-00001",
             out / "quarantine" / "nights-1999-01-01.jsonl"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(stale[0]), options="GZIP") as writer:
        writer.write(tf.train.Example().SerializeToString())
    stale[1].write_text("{}\n")
    return stale


def _status(job, user: str) -> Counter:
    return Counter(e["status"] for e in job["ledger"][user])


def _night(job, user: str, k: int = 2) -> dict:
    date = (FIRST + dt.timedelta(days=k)).isoformat()
    (entry,) = [e for e in job["ledger"][user] if e["night_date"] == date]
    return entry


def _rejected_rows(job, user: str) -> Counter:
    return Counter(r["reason"] for r in job["rows"] if r["user_key"] == job["key"][user])


def test_clean_user_is_untouched(job):
    assert _status(job, "clean") == {"example": NIGHTS} and job["examples"]["clean"] == NIGHTS
    assert not _rejected_rows(job, "clean")


@pytest.mark.parametrize("user,reason", [("corrupt", rf.FileReject.CORRUPT),
                                         ("truncated", rf.FileReject.TRUNCATED)])
def test_damaged_upload_is_quarantined_and_the_other_nights_kept(job, user, reason):
    assert _night(job, user)["invalid_reason"] == reason
    (kept,) = [f for f in job["files"] if f["user_key"] == job["key"][user]]
    assert kept["reason"] == reason and kept["bytes"] > 0 and kept["error"]
    assert job["examples"][user] == NIGHTS - 1  # the user's valid nights all became examples


def test_empty_nights_are_counted_invalid(job):
    assert _night(job, "empty", 2)["invalid_reason"] == rf.NightInvalid.NO_VALID_ROWS
    assert _night(job, "empty", 3)["invalid_reason"] == rf.FileReject.BAD_HEADER  # zero bytes
    assert job["examples"]["empty"] == NIGHTS - 2


def test_clock_jumping_back_rejects_only_the_replayed_half_hour(job):
    assert _rejected_rows(job, "clockback") == {rf.RowReject.OUT_OF_ORDER: 180}
    night = _night(job, "clockback")
    assert night["status"] == "example" and night["rows_accepted"] == ROWS - 180
    assert job["examples"]["clockback"] == NIGHTS


def test_clock_jumping_forward_makes_a_gap_the_night_rules_reject(job):
    night = _night(job, "clockfwd")
    assert night["invalid_reason"] == rf.NightInvalid.LONG_GAP
    assert night["rows_accepted"] == ROWS  # every row was fine; the night is not
    assert job["examples"]["clockfwd"] == NIGHTS - 1


def test_duplicated_uploads(job):
    # rows sent twice: the copies are rejected as duplicates and the night is kept
    assert _rejected_rows(job, "reupload") == {rf.RowReject.DUPLICATE_TIMESTAMP: ROWS}
    assert _night(job, "reupload")["status"] == "example"
    assert job["examples"]["reupload"] == NIGHTS
    # the copy saved under another name is kept for a person to look at: whose copy (her
    # pseudonym) and which file (its night folder and a pseudonym of its name), never the raw
    # name, which holds her user id (issue 23)
    (copy,) = [f for f in job["files"] if f["reason"] == rf.FileReject.BAD_PATH]
    name_key = pseudonymise("reupload (1).csv.gz", SALT)
    assert copy["path"] == f"nights/2026-01-07/file-{name_key}"
    assert copy["user_key"] == job["key"]["reupload"] and "reupload" not in copy["error"]
    assert len(job["bad_path_ledger"]) == 1
    kept = "".join(gzip.open(p, "rt").read() for p in job["quarantine"].glob("*.jsonl.gz"))
    assert "reupload" not in kept and str(job["quarantine"].parent.parent) not in kept


def test_rows_outside_the_night_are_rejected_and_a_file_of_another_night_is_invalid(job):
    night = _night(job, "lastyear")
    assert night["invalid_reason"] == rf.NightInvalid.WRONG_NIGHT
    assert _rejected_rows(job, "lastyear") == {rf.RowReject.OUTSIDE_NIGHT: ROWS}
    assert job["examples"]["lastyear"] == NIGHTS - 1
    assert _rejected_rows(job, "strayrows") == {rf.RowReject.OUTSIDE_NIGHT: 5}
    night = _night(job, "strayrows")
    assert night["status"] == "example" and night["rows_accepted"] == ROWS
    assert job["examples"]["strayrows"] == NIGHTS


def test_a_device_batch_in_fahrenheit_is_rejected_row_by_row(job):
    for user in BATCH:
        assert _status(job, user) == {"invalid": NIGHTS}
        assert {e["invalid_reason"] for e in job["ledger"][user]} == {
            rf.NightInvalid.NO_VALID_ROWS}
        assert _rejected_rows(job, user) == {rf.RowReject.FAHRENHEIT: NIGHTS * ROWS}
        assert job["examples"][user] == 0
    assert job["summary"]["rows_rejected_by_reason"][rf.RowReject.FAHRENHEIT] == (
        len(BATCH) * NIGHTS * ROWS)


def test_a_night_outside_the_schema_is_quarantined_and_her_other_nights_are_examples(job):
    assert _status(job, "cold") == {"example": NIGHTS - 1, "invalid": 1}
    assert job["examples"]["cold"] == NIGHTS - 1
    assert not _rejected_rows(job, "cold")  # every row passed the row rules
    entry = _night(job, "cold")
    assert entry["invalid_reason"] == "feature_out_of_range"
    assert entry["invalid_detail"] == "skin_temp 29 < 30 (the schema's minimum)"
    assert job["summary"]["nights_invalid_by_reason"]["feature_out_of_range"] == 1
    (skipped,) = [
        r
        for r in job["not_scored"]
        if r["user_key"] == job["key"]["cold"] and r["night_date"] == entry["night_date"]
    ]
    assert skipped == {
        "user_key": job["key"]["cold"],
        "night_date": entry["night_date"],
        "reason": "no_valid_night",
        "invalid_reason": "feature_out_of_range",
        "detail": "skin_temp 29 < 30 (the schema's minimum)",
    }


def test_a_user_with_one_night_gets_one_example_with_empty_history(job):
    assert _status(job, "onenight") == {"example": 1} and job["examples"]["onenight"] == 1


def test_nothing_valid_is_lost(job):
    s = job["summary"]
    files_written = sum(1 for u in USERS for _ in job["ledger"][u]) + 1  # + the bad-path copy
    assert s["files"] == files_written == len(USERS) * NIGHTS - (NIGHTS - 1) + 1
    # every file is a night in the ledger; valid nights = examples + counted non-examples
    assert s["valid_nights"] + s["night_status"]["invalid"] == s["files"]
    not_examples = sum(n for k, n in s["night_status"].items() if k not in ("example", "invalid"))
    assert s["valid_nights"] == sum(s["examples_by_split"].values()) + not_examples
    assert sum(s["examples_by_split"].values()) == sum(job["examples"].values())
    # rows: read = accepted + every rejected row, each kept in the quarantine
    assert s["rows_total"] == s["rows_accepted"] + sum(s["rows_rejected_by_reason"].values())
    assert len(job["rows"]) == sum(s["rows_rejected_by_reason"].values())


def test_entries_that_are_no_files_are_invalid_nights_of_their_users(job):
    for user in ("folder", "linked"):
        assert _night(job, user)["invalid_reason"] == rf.FileReject.NOT_A_FILE
        (kept,) = [f for f in job["files"] if f["user_key"] == job["key"][user]]
        assert kept["reason"] == rf.FileReject.NOT_A_FILE
        assert kept["path"].startswith("nights/") and user not in kept["path"]  # a pseudonym
        assert job["examples"][user] == NIGHTS - 1
    assert job["summary"]["files_rejected_by_reason"][rf.FileReject.NOT_A_FILE] == 2
    assert job["summary"]["nights_invalid_by_reason"][rf.FileReject.NOT_A_FILE] == 2


def test_a_non_utf8_cycle_line_is_quarantined_and_counted(job):
    (kept,) = job["cycles"]
    assert kept["reason"] == "not UTF-8 text: byte 0xe9 at column 26"
    assert kept["line_without_user_id"] == "0,2026-01-05,28,14,\\xe95"
    assert kept["user_key"] == pseudonymise("ghost", SALT)
    assert job["summary"]["cycle_rows_rejected"] == 1


def test_an_earlier_output_in_the_folder_is_replaced(job):
    assert job["stale"] == []  # nothing of the earlier run is left beside the new files
    on_disk = len(job["shards_on_disk"])
    assert on_disk == sum(job["summary"]["examples_by_split"].values()) == sum(
        job["examples"].values())
