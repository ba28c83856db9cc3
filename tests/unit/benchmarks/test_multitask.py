"""The multi-task experiment's target: days to ovulation, from the labels alone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from benchmarks.multitask import days_to_ovulation
from benchmarks.run_data import Split

START = dt.date(2026, 3, 2)


def cycle_nights(user: str, start: dt.date, days: list[int], fertile: range) -> list[tuple]:
    """(user, night, cycle day, label) of the recorded nights of one cycle."""
    return [(user, (start + dt.timedelta(days=d - 1)).isoformat(), d, int(d in fertile))
            for d in days]


def split_of(rows: list[tuple]) -> Split:
    user, night, day, label = (np.array(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return Split(features={}, label=label, calendar=np.zeros(n, np.int64),
                 regularity=np.full(n, "regular"), cycle_day=day, user=user, night=night)


def test_the_ovulation_day_is_the_windows_end_when_recorded():
    rows = cycle_nights("a", START, list(range(1, 29)), range(10, 16))
    target, known = days_to_ovulation(split_of(rows))
    assert known.all()
    by_day = dict(zip([r[2] for r in rows], target.tolist(), strict=True))
    assert by_day[15] == 0.0 and by_day[12] == pytest.approx(3 / 7)
    assert by_day[1] == pytest.approx(14 / 7) and by_day[28] == pytest.approx(-13 / 7)


def test_a_window_whose_end_is_missing_counts_from_its_recorded_start():
    days = [d for d in range(1, 29) if d not in (14, 15, 16)]
    target, known = days_to_ovulation(split_of(cycle_nights("a", START, days, range(10, 16))))
    assert known.all()
    assert target[days.index(10)] == pytest.approx(5 / 7)


def test_cycles_without_a_placeable_window_have_no_target():
    both_ends_missing = [d for d in range(1, 29) if d not in (10, 14, 15)]
    rows = cycle_nights("a", START, both_ends_missing, range(10, 16))
    later = START + dt.timedelta(days=28)
    rows += cycle_nights("a", later, list(range(1, 30)), range(0))  # anovulatory
    rows += cycle_nights("b", START, list(range(1, 29)), range(12, 18))  # another user
    _, known = days_to_ovulation(split_of(rows))
    assert not known[: len(both_ends_missing) + 29].any()
    assert known[len(both_ends_missing) + 29:].all()
