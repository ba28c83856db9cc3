"""Example rows grouped back into cycles, and the cycle log keyed as the examples see it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from components.example_cycles import cycle_log_by_id, group_cycles
from components.nightly_features.records import CycleRow
from components.nightly_features.user_history import pseudonymise
from transforms import features as fc


def row(user: str, night: str, cycle_day: int, prev: list[float]) -> dict[str, list]:
    return {
        fc.USER_KEY: [user.encode()],
        fc.NIGHT_DATE: [night.encode()],
        fc.CYCLE_DAY: [cycle_day],
        fc.PREV_CYCLE_LENGTHS: prev + [0.0] * (fc.PREV_CYCLES - len(prev)),
        fc.PREV_CYCLE_COUNT: [len(prev)],
    }


def test_nights_are_grouped_by_user_and_cycle_start_in_cycle_day_order():
    rows = [
        row("b", "2026-02-03", 3, [28.0, 29.0]),
        row("a", "2026-01-31", 2, [30.0]),  # a's second cycle started on 2026-01-30
        row("b", "2026-02-01", 1, [28.0, 29.0]),
        row("a", "2026-01-05", 5, []),  # a's first cycle started on 2026-01-01
        row("a", "2026-01-30", 1, [30.0]),
    ]
    cycles = group_cycles(rows)
    assert [(c.user_key, c.start_date.isoformat()) for c in cycles] == [
        ("a", "2026-01-01"),
        ("a", "2026-01-30"),
        ("b", "2026-02-01"),
    ]
    assert [c.rows for c in cycles] == [(3,), (4, 1), (2, 0)]
    assert [c.cycle_days for c in cycles] == [(5,), (1, 2), (1, 3)]
    assert [c.prev_lengths for c in cycles] == [(), (30.0,), (28.0, 29.0)]
    assert [c.regularity for c in cycles] == ["unknown", "unknown", "regular"]
    nights = cycles[2].nights(np.array([34.4, 34.0, 34.1, 34.0, 34.2]), length_days=28)
    assert nights.cycle_days.tolist() == [1, 3] and nights.values.tolist() == [34.1, 34.4]


def test_a_night_twice_or_disagreeing_previous_lengths_are_refused():
    with pytest.raises(ValueError, match="two examples of user a for the night of 2026-01-05"):
        group_cycles([row("a", "2026-01-05", 5, []), row("a", "2026-01-05", 5, [])])
    with pytest.raises(ValueError, match=r"2026-01-06 of user a gives previous cycle lengths"):
        group_cycles([row("a", "2026-01-05", 5, []), row("a", "2026-01-06", 6, [29.0])])


def test_the_cycle_log_is_keyed_by_pseudonym_and_start_and_open_cycles_are_left_out():
    salt = b"0123456789abcdef"
    closed = CycleRow("u00001", 0, dt.date(2026, 1, 1), 29, 15, 5)
    still_open = CycleRow("u00001", 1, dt.date(2026, 1, 30), None, None, 5)
    log = cycle_log_by_id([closed, still_open], salt)
    assert log == {(pseudonymise("u00001", salt), dt.date(2026, 1, 1)): closed}
