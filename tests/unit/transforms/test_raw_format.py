"""The night's window: which row timestamps belong to a night's file, and when a file is another
night's (issue 23: rows a year old or 10^12 s ahead were scored as tonight's)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from components.nightly_features.night import parse_rows
from components.nightly_features.records import process_raw_file
from tests.rawfiles import T0, row, steady_night, to_file
from transforms import raw_format as rf
from transforms.raw_format import decode_raw

R = rf.RowReject
NIGHT = dt.date(2026, 1, 5)  # T0 is 22:00 UTC on its evening
MIDNIGHT = T0 - 22 * 3600
YEAR = 365 * 86400


def test_the_window_covers_noon_to_noon_in_every_zone_and_the_clock_tolerance():
    first, last = rf.night_window(NIGHT)
    # local noon on the 5th at UTC+14 is 22:00 UTC on the 4th; local noon on the 6th at UTC-12
    # is midnight UTC on the 7th; one hour of clock error either side
    assert first == MIDNIGHT - 2 * 3600 - rf.NIGHT_CLOCK_TOLERANCE_S
    assert last == MIDNIGHT + 48 * 3600 + rf.NIGHT_CLOCK_TOLERANCE_S
    assert rf.NIGHT_CLOCK_TOLERANCE_S == 3600


def _verdicts(timestamps: list[int], night: dt.date | None = NIGHT) -> list[str | None]:
    night_rows = parse_rows(decode_raw(to_file([row(t) for t in timestamps])), night)
    by_line = {r.line_no: r.reason for r in night_rows.rejected}
    return [by_line.get(i + 2) for i in range(len(timestamps))]


@pytest.mark.parametrize(
    "ts",
    [T0 - YEAR, 10**12, 0, MIDNIGHT - 3 * 3600 - 1, MIDNIGHT + 49 * 3600 + 1],
    ids=["a-year-old", "1e12", "epoch", "just-before", "just-after"],
)
def test_a_row_outside_the_window_is_rejected_and_moves_no_later_row(ts):
    # the later rows are in order with the night's own: a far-future row must not make them
    # out of order, nor an old one a duplicate
    assert _verdicts([T0, ts, T0 + 10, T0 + 20]) == [None, R.OUTSIDE_NIGHT, None, None]


@pytest.mark.parametrize(
    "ts",
    [MIDNIGHT - 3 * 3600, MIDNIGHT + 12 * 3600, MIDNIGHT + 49 * 3600],
    ids=["first-second", "next-noon", "last-second"],
)
def test_a_row_inside_the_window_with_its_tolerance_is_kept(ts):
    assert _verdicts([ts]) == [None]


def test_value_checks_come_first_and_no_night_means_no_window():
    # a year-old Fahrenheit row is a Fahrenheit row: the value checks keep their order
    assert _verdicts([T0 - YEAR], NIGHT) == [R.OUTSIDE_NIGHT]
    night = parse_rows(decode_raw(to_file([row(T0 - YEAR, temp="93.20")])), NIGHT)
    assert [r.reason for r in night.rejected] == [R.FAHRENHEIT]
    assert _verdicts([T0 - YEAR], None) == [None]  # a table checked on its own


def test_the_table_rule_gives_the_same_verdict():
    # the generator's manifest calls row_reject_codes on its table with the night, as parse_rows
    table = np.array([[float(x) for x in row(t).split(",")] for t in (T0, 10**12, T0 + 10)])
    codes = rf.row_reject_codes(table, night=NIGHT)
    assert [R.ALL[c] if c >= 0 else None for c in codes] == [None, R.OUTSIDE_NIGHT, None]


RULES = rf.NightRules()


def test_a_file_mostly_outside_its_night_is_an_invalid_night_of_its_own_reason():
    genuine = steady_night(5)
    old = steady_night(5, start=T0 - YEAR)
    out = process_raw_file("nights/2026-01-05/u1.csv.gz", to_file(old), RULES)
    assert out.invalid_reason == rf.NightInvalid.WRONG_NIGHT and not out.valid
    assert out.rows_rejected == {R.OUTSIDE_NIGHT: len(old)}
    # a clock 10^12 s ahead for all but a few rows
    future = [row(10**12 + 10 * i) for i in range(len(genuine))]
    out = process_raw_file("nights/2026-01-05/u1.csv.gz", to_file(genuine[:10] + future), RULES)
    assert out.invalid_reason == rf.NightInvalid.WRONG_NIGHT
    # a few stray rows from another night: rejected one by one, the night stands
    out = process_raw_file("nights/2026-01-05/u1.csv.gz", to_file(old[:50] + genuine), RULES)
    assert out.valid and out.rows_rejected == {R.OUTSIDE_NIGHT: 50}
    assert out.rows_accepted == len(genuine)
    # the same genuine file under a folder a year later is another night
    out = process_raw_file("nights/2027-01-05/u1.csv.gz", to_file(genuine), RULES)
    assert out.invalid_reason == rf.NightInvalid.WRONG_NIGHT


def test_more_than_half_outside_makes_the_night_wrong():
    columns = {name: np.array([]) for name in rf.RAW_COLUMNS}
    assess = rf.assess_night
    assert assess(columns, RULES, rows_total=10, rows_outside=6).invalid_reason == "wrong_night"
    assert assess(columns, RULES, rows_total=10, rows_outside=5).invalid_reason == "no_valid_rows"


def test_the_online_path_applies_the_same_rule(tmp_path):
    from pipeline.serving.online import BadUpload, upload_request

    old = to_file(steady_night(5, start=T0 - YEAR))
    with pytest.raises(BadUpload, match="not a valid night: wrong_night.*outside_night="):
        upload_request(old, "u1", NIGHT, tmp_path / "cycles.csv", str(tmp_path), b"s" * 32)
