"""Joining a user's nights with her cycle log: labels, causal history, splits, pseudonyms."""

from __future__ import annotations

import datetime as dt

import pytest

from components.nightly_features.records import (
    BadCycleRow,
    CycleRow,
    NightOutcome,
    parse_cycle_line,
)
from components.nightly_features.user_history import (
    NightStatus,
    build_user_examples,
    fertile_label,
    pseudonymise,
    split_for_user,
)
from transforms import features as fc

D0 = dt.date(2026, 1, 1)


def night(day_offset: int, temp: float = 34.0, valid: bool = True) -> NightOutcome:
    date = (D0 + dt.timedelta(days=day_offset)).isoformat()
    out = NightOutcome(f"nights/{date}/u1.csv.gz", "u1", date, rows_total=2000,
                       rows_accepted=2000, valid=valid)
    out.quality = {"worn_hours": 7.0, "sleep_hours": 6.0, "low_motion_sleep_hours": 5.0}
    if valid:
        out.features = {name: 1.0 for name in fc.NIGHTLY_FEATURES} | {"skin_temp": temp}
    else:
        out.invalid_reason = "short_wear"
    return out


CYCLES = [
    CycleRow("u1", 0, D0, 28, 14, 5),
    CycleRow("u1", 1, D0 + dt.timedelta(days=28), 30, None, 5),  # anovulatory
    CycleRow("u1", 2, D0 + dt.timedelta(days=58), None, None, 5),  # open, current cycle
]


@pytest.mark.parametrize("day, label", [(8, 0), (9, 1), (14, 1), (15, 0), (1, 0), (28, 0)])
def test_fertile_window_is_ovulation_day_and_five_before(day, label):
    assert fertile_label(CYCLES[0], day) == label


@pytest.mark.parametrize("ovulation_day", [3, 8, 14, 21])
def test_label_and_generator_share_one_fertile_window(ovulation_day):
    from synthetic.cycles import Cycle

    cycle = Cycle(0, D0, 30, ovulation_day, 5)
    row = CycleRow("u1", 0, D0, 30, ovulation_day, 5)
    labelled = [day for day in range(1, 31) if fertile_label(row, day)]
    assert labelled == list(cycle.fertile_days())
    assert len(labelled) == min(ovulation_day, fc.FERTILE_DAYS_BEFORE_OVULATION + 1)


def test_anovulatory_has_no_window_and_open_cycle_is_unknown():
    assert all(fertile_label(CYCLES[1], d) == 0 for d in range(1, 31))
    assert fertile_label(CYCLES[2], 3) is None


def test_examples_labels_and_every_night_accounted_for():
    nights = [night(i, temp=34.0 + i / 100) for i in range(0, 62)]
    nights[5] = night(5, valid=False)
    nights.append(night(-3))  # before the first logged cycle
    nights.append(night(10, temp=99.0))  # a second valid file for a night already used
    result = build_user_examples("u1", nights, CYCLES, "key1")
    statuses = [e["status"] for e in result.ledger]
    assert len(result.ledger) == len(nights)
    assert statuses.count(NightStatus.INVALID) == 1
    assert statuses.count(NightStatus.NO_CYCLE) == 1
    assert statuses.count(NightStatus.DUPLICATE) == 1
    assert statuses.count(NightStatus.UNLABELLED) == 4  # days 58..61 of the open cycle
    assert len(result.examples) == statuses.count(NightStatus.EXAMPLE) == 62 - 1 - 4
    by_date = {e[fc.NIGHT_DATE][0].decode(): e for e in result.examples}
    assert sum(e[fc.LABEL_KEY][0] for e in result.examples) == 6  # one ovulatory cycle
    ex = by_date[(D0 + dt.timedelta(days=13)).isoformat()]  # cycle 0, day 14 = ovulation
    assert ex[fc.LABEL_KEY] == [1] and ex[fc.CYCLE_DAY] == [14]
    assert ex[fc.PREV_CYCLE_COUNT] == [0] and ex[fc.PREV_CYCLE_LENGTHS] == [0.0] * fc.PREV_CYCLES
    ex = by_date[(D0 + dt.timedelta(days=40)).isoformat()]  # cycle 1 knows cycle 0 ended
    assert ex[fc.PREV_CYCLE_COUNT] == [1] and ex[fc.PREV_CYCLE_LENGTHS][0] == 28.0
    assert ex[fc.USER_KEY] == [b"key1"]
    assert ex[fc.CYCLE_REGULARITY] == [b"unknown"]


@pytest.mark.parametrize("lengths, expected", [
    ([], "unknown"), ([29], "unknown"), ([28, 35], "regular"), ([27, 35], "irregular"),
    ([26, 30, 29], "regular"),
])
def test_cycle_regularity(lengths, expected):
    assert fc.cycle_regularity(lengths) == expected


def test_history_is_causal_and_masks_missing_and_invalid_nights():
    nights = [night(i, temp=30.0 + i) for i in range(0, 40) if i != 20]
    nights[24] = night(25, valid=False)  # index 24 is day 25 since day 20 is missing
    result = build_user_examples("u1", nights, CYCLES, "k")
    ex = next(e for e in result.examples if e[fc.NIGHT_DATE][0] == b"2026-01-31")  # day 30
    hist = ex[fc.history_key("skin_temp")]
    mask = ex[fc.HISTORY_MASK]
    assert len(hist) == len(mask) == fc.HISTORY_NIGHTS
    # oldest first: day 2 .. day 29; nothing from tonight (day 30) or later
    assert hist[-1] == 59.0 and hist[0] == 32.0 and max(hist) < 30.0 + 30
    assert mask[20 - 2] == 0 and hist[20 - 2] == 0.0  # missing night
    assert mask[25 - 2] == 0  # invalid night
    assert sum(mask) == fc.HISTORY_NIGHTS - 2
    first = next(e for e in result.examples if e[fc.NIGHT_DATE][0] == b"2026-01-01")
    assert sum(first[fc.HISTORY_MASK]) == 0


def test_split_depends_only_on_user_and_is_roughly_proportional():
    buckets = {"train": 14, "eval": 3, "test": 3}
    splits = [split_for_user(f"u{i:05d}", buckets) for i in range(4000)]
    assert splits == [split_for_user(f"u{i:05d}", buckets) for i in range(4000)]
    assert abs(splits.count("train") / 4000 - 0.7) < 0.03
    assert abs(splits.count("eval") / 4000 - 0.15) < 0.03


def test_pseudonym_depends_on_salt_and_hides_the_id():
    a, b = pseudonymise("u00001", b"salt-one-0123456"), pseudonymise("u00001", b"salt-two-0123456")
    assert a != b and len(a) == 16 and "u00001" not in a
    assert a == pseudonymise("u00001", b"salt-one-0123456")
    with pytest.raises(ValueError, match="salt"):
        pseudonymise("u00001", b"")


def test_cycle_lines():
    row = parse_cycle_line("u00001,2,2026-01-05,29,15,5")
    assert row == CycleRow("u00001", 2, dt.date(2026, 1, 5), 29, 15, 5)
    assert parse_cycle_line("u00001,0,2026-01-05,29,,5").ovulation_day is None
    for bad, message in [
        ("u00001,0,2026-01-05,29,15", "expected 6 fields"),
        ("u00001,0,05/01/2026,29,15,5", "start_date"),
        ("u00001,0,2026-01-05,29,31,5", "ovulation_day 31 outside"),
        ("u00001,0,2026-01-05,x,15,5", "length_days is not a whole number"),
        ("u00001,-1,2026-01-05,29,15,5", "cycle_index"),
    ]:
        with pytest.raises(BadCycleRow, match=message):
            parse_cycle_line(bad)
