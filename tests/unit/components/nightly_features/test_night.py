"""Row checks, night checks and feature extraction on hand-built nights with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from components.nightly_features.night import extract_features, parse_rows
from components.nightly_features.records import parse_night_path, process_raw_file
from tests.rawfiles import T0, row, steady_night, to_file
from transforms import raw_format as rf
from transforms.raw_format import UnreadableFile, assess_night, decode_raw

R = rf.RowReject


def parse(lines):
    return parse_rows(decode_raw(to_file(lines)))


def test_clean_rows_are_all_accepted():
    night = parse([row(T0), row(T0 + 10), row(T0 + 20)])
    assert night.rows_total == 3 and night.rows_accepted == 3 and night.rejected == []
    assert night.columns["timestamp"].tolist() == [T0, T0 + 10, T0 + 20]


ROW_CASES = [
    ("1,2,3", R.UNPARSEABLE),
    (row(T0 + 10, hr="abc"), R.UNPARSEABLE),
    (row(T0 + 10, hr=""), R.MISSING_VALUE),
    (row(T0 + 10, hrv="nan"), R.MISSING_VALUE),
    (row(T0 + 10, temp="93.20"), R.FAHRENHEIT),
    (row(T0 + 10, temp="22.00"), R.OUT_OF_RANGE),
    (row(T0 + 10, hr="250.0"), R.OUT_OF_RANGE),
    (row(T0 + 10, hr="0.0"), R.OUT_OF_RANGE),
    (row(T0 + 10, state="7"), R.OUT_OF_RANGE),
    (row(T0 + 10, state="1.5"), R.OUT_OF_RANGE),
    (row(T0 + 10, motion="-1"), R.OUT_OF_RANGE),
    (row(T0 + 10, hr="inf"), R.OUT_OF_RANGE),
    (row(T0 + 10.5), R.OUT_OF_RANGE),
    (row(T0), R.DUPLICATE_TIMESTAMP),
    (row(T0 - 10), R.OUT_OF_ORDER),
]


@pytest.mark.parametrize("bad_line, reason", ROW_CASES)
def test_each_row_check(bad_line, reason):
    night = parse([row(T0), bad_line, row(T0 + 20)])
    assert night.rows_accepted == 2
    assert [(r.line_no, r.reason, r.line) for r in night.rejected] == [(3, reason, bad_line)]


@pytest.mark.parametrize(
    "bad_line, reason", [(line, reason) for line, reason in ROW_CASES if reason != R.UNPARSEABLE]
)
def test_generator_manifest_gives_the_extractions_verdict(bad_line, reason):
    # the generator's manifest applies raw_format.row_reject_codes to its numeric table, with no
    # text parsing; it used to re-implement the checks and accepted a fractional timestamp the
    # extraction rejects
    lines = [row(T0), bad_line, row(T0 + 20)]
    table = np.array([[float(x) if x else np.nan for x in line.split(",")] for line in lines])
    codes = rf.row_reject_codes(table)
    assert [R.ALL[c] if c >= 0 else None for c in codes] == [None, reason, None]


def test_reasons_are_checked_in_order():
    # missing beats Fahrenheit, Fahrenheit beats out-of-range, value checks beat order checks
    night = parse(
        [
            row(T0),
            row(T0 + 10, hr="", temp="93.0"),
            row(T0 + 20, temp="93.0", hr="300"),
            row(T0, hr="300"),
        ]
    )
    assert [r.reason for r in night.rejected] == [R.MISSING_VALUE, R.FAHRENHEIT, R.OUT_OF_RANGE]


def test_swapped_rows_reject_one_and_duplicates_only_match_accepted_rows():
    lines = [row(T0), row(T0 + 20), row(T0 + 10), row(T0 + 30), row(T0 + 30), row(T0 + 10)]
    night = parse(lines)
    assert night.columns["timestamp"].tolist() == [T0, T0 + 20, T0 + 30]
    # T0+10 after T0+20 is out of order; T0+30 again is a duplicate; the second T0+10 was
    # never accepted, so it is out of order rather than a duplicate
    assert [r.reason for r in night.rejected] == [
        R.OUT_OF_ORDER,
        R.DUPLICATE_TIMESTAMP,
        R.OUT_OF_ORDER,
    ]
    assert night.reject_counts() == {R.OUT_OF_ORDER: 2, R.DUPLICATE_TIMESTAMP: 1}


def test_unreadable_files_are_classified():
    good = to_file([row(T0)] * 500)
    with pytest.raises(UnreadableFile) as e:
        decode_raw(good[: len(good) // 2])
    assert e.value.reason == rf.FileReject.TRUNCATED
    with pytest.raises(UnreadableFile) as e:
        decode_raw(b"PK\x03\x04 not gzip at all")
    assert e.value.reason == rf.FileReject.CORRUPT
    with pytest.raises(UnreadableFile) as e:
        parse_rows(decode_raw(to_file([row(T0)], header="time,hr")))
    assert e.value.reason == rf.FileReject.BAD_HEADER


@pytest.mark.parametrize(
    "path, ok",
    [
        ("nights/2026-01-05/u00001.csv.gz", True),
        ("nights/2026-02-30/u00001.csv.gz", False),
        ("nights/2026-01-05/u 1.csv.gz", False),
        ("nights/2026-01-05/u00001.csv", False),
        ("other/2026-01-05/u00001.csv.gz", False),
    ],
)
def test_night_paths(path, ok):
    if ok:
        assert parse_night_path(path) == ("u00001", "2026-01-05")
    else:
        with pytest.raises(UnreadableFile) as e:
            parse_night_path(path)
        assert e.value.reason == rf.FileReject.BAD_PATH


RULES = rf.NightRules()


def columns(lines):
    return parse(lines).columns


def test_valid_night_and_quality_hours():
    cols = columns(steady_night(1, state="0") + steady_night(5, start=T0 + 3600))
    a = assess_night(cols, RULES)
    assert a.valid and a.invalid_reason is None
    assert a.quality["worn_hours"] == pytest.approx(6.0)
    assert a.quality["sleep_hours"] == pytest.approx(5.0)
    assert a.quality["low_motion_sleep_hours"] == pytest.approx(5.0)


@pytest.mark.parametrize(
    "lines, reason",
    [
        ([], rf.NightInvalid.NO_VALID_ROWS),
        (steady_night(3.9), rf.NightInvalid.SHORT_WEAR),
        (
            steady_night(2, state="0") + steady_night(2.9, start=T0 + 7200),
            rf.NightInvalid.SHORT_SLEEP,
        ),
        # 2.5 h, a 2 h 10 min gap, then 2.5 h: worn 5 h but the gap is too long
        (steady_night(2.5) + steady_night(2.5, start=T0 + 9000 + 7800), rf.NightInvalid.LONG_GAP),
        (steady_night(5, motion="0.500"), rf.NightInvalid.NO_LOW_MOTION_SLEEP),
    ],
)
def test_invalid_nights(lines, reason):
    a = assess_night(columns(lines), RULES)
    assert not a.valid and a.invalid_reason == reason


def test_gap_of_exactly_two_hours_is_tolerated():
    lines = steady_night(2.5) + steady_night(2.5, start=T0 + 9000 - 10 + 7200)
    assert assess_night(columns(lines), RULES).valid


def test_features_use_only_asleep_low_motion_rows():
    n = 2000
    hr = np.linspace(50, 60, n)  # median 55.0, 10th percentile 51.0
    lines = [
        row(T0 + 10 * i, hr=f"{hr[i]:.4f}", temp="34.50", hrv="40.0", br="14.0", perf="0.900")
        for i in range(n)
    ]
    # artefacts that must not move the figures: high-motion and wake rows with extreme values
    lines += [row(T0 + 10 * (n + i), hr="150.0", temp="30.00", motion="1.500") for i in range(300)]
    lines += [row(T0 + 10 * (n + 300 + i), hr="110.0", hrv="5.0", state="0") for i in range(300)]
    feats = extract_features(columns(lines))
    assert feats["heart_rate"] == pytest.approx(55.0, abs=1e-3)
    assert feats["heart_rate_p10"] == pytest.approx(51.0, abs=1e-3)
    assert feats["skin_temp"] == pytest.approx(34.5)
    assert feats["hrv_rmssd"] == pytest.approx(40.0)
    assert feats["breathing_rate"] == pytest.approx(14.0)
    assert feats["perfusion"] == pytest.approx(0.9)


def test_features_need_a_valid_night():
    with pytest.raises(ValueError, match="assess the night"):
        extract_features(columns(steady_night(1, motion="0.9")))


def test_process_raw_file_end_to_end():
    lines = steady_night(5)
    lines.insert(10, lines[9])  # a duplicated row
    lines.insert(20, row(T0 + 500, hr=""))  # off-wrist epoch... out of order too, but missing first
    out = process_raw_file("nights/2026-01-05/u00042.csv.gz", to_file(lines), RULES)
    assert (out.user_id, out.night_date, out.valid) == ("u00042", "2026-01-05", True)
    assert out.rows_rejected == {R.DUPLICATE_TIMESTAMP: 1, R.MISSING_VALUE: 1}
    assert out.rows_total == 1802 and out.rows_accepted == 1800
    assert out.features["heart_rate"] == pytest.approx(60.0)


def test_process_raw_file_never_raises_on_bad_files():
    out = process_raw_file("nights/2026-01-05/u00042.csv.gz", b"\x1f\x8b garbage", RULES)
    assert out.file_reject == rf.FileReject.CORRUPT and not out.valid
    assert out.invalid_reason == rf.FileReject.CORRUPT and out.user_id == "u00042"
    out = process_raw_file("nights/2026-01-05/bad name.csv.gz", to_file([row(T0)]), RULES)
    assert out.file_reject == rf.FileReject.BAD_PATH and out.user_id is None
