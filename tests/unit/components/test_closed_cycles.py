"""The ovulation records published for the cycles that close with a night."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from components import closed_cycles as cc
from components.ovulation import MAX_CYCLE_NIGHTS, NoEstimate
from transforms import features as fc

NIGHT = dt.date(2026, 5, 1)


def request(user: str, cycle_day: int, prev: list[float]) -> dict[str, list]:
    return {
        fc.USER_KEY: [user.encode()],
        fc.NIGHT_DATE: [NIGHT.isoformat().encode()],
        fc.CYCLE_DAY: [cycle_day],
        fc.PREV_CYCLE_LENGTHS: prev + [0.0] * (fc.PREV_CYCLES - len(prev)),
        fc.PREV_CYCLE_COUNT: [len(prev)],
    }


class Entry:
    def __init__(self, night: dt.date):
        self.night = night
        self.stats_file = f"stats-{night}"


class Store:
    """A span store of every night from 2025-01-01 on, whose statistics say who had which skin
    temperature; it records the nights whose statistics were read."""

    def __init__(self, temperature_of):
        self.temperature_of = temperature_of  # (user, night) -> float or None
        self.read: list[dt.date] = []

    def entry(self, night: dt.date):
        return Entry(night) if night >= dt.date(2025, 1, 1) else None

    def read_verified(self, entry: Entry, path: str) -> bytes:
        assert path == entry.stats_file
        self.read.append(entry.night)
        lines = []
        for user in ("a", "b", "c"):
            t = self.temperature_of(user, entry.night)
            if t is not None:
                lines.append(json.dumps({fc.USER_KEY: user, fc.NIGHT_DATE: str(entry.night),
                                         "features": {"skin_temp": t, "heart_rate": 60.0}}))
        return gzip.compress("\n".join(lines).encode())


def test_a_request_on_cycle_day_one_closes_the_newest_previous_cycle():
    requests = [request("b", 1, [27.0, 30.0]), request("a", 9, [28.0]), request("c", 1, [])]
    assert cc.closed_tonight(NIGHT, requests) == [
        cc.ClosedCycle("b", NIGHT - dt.timedelta(days=30), 30)
    ]


def test_each_closed_cycle_gets_its_day_or_the_reason_from_its_own_nights():
    start = NIGHT - dt.timedelta(days=28)

    def temperature(user, night):
        day = (night - start).days + 1
        if user == "a":  # a rise from cycle day 15 on: ovulation on day 14
            return 34.0 + (0.4 if day >= 15 else 0.0)
        if user == "b":  # flat: anovulatory-looking
            return 34.0
        return None  # c has no valid night

    store = Store(temperature)
    requests = [request(u, 1, [28.0]) for u in ("a", "b", "c")] + [request("x", 5, [28.0])]
    records = {r[fc.USER_KEY]: r for r in cc.ovulation_records(store, NIGHT, requests)}
    assert set(records) == {"a", "b", "c"}
    assert records["a"]["ovulation_cycle_day"] == 14
    assert records["a"]["ovulation_date"] == (start + dt.timedelta(days=13)).isoformat()
    assert records["a"]["cycle_start"] == start.isoformat()
    assert records["a"]["nights_with_statistics"] == 28
    assert records["a"]["no_estimate_reason"] is None
    assert records["b"]["ovulation_cycle_day"] is None
    assert records["b"]["no_estimate_reason"] == NoEstimate.NO_SHIFT
    assert records["c"]["no_estimate_reason"] == NoEstimate.TOO_FEW_NIGHTS
    # only the closed cycle's nights were read, each once: 28 nights, not the store's history
    assert sorted(store.read) == [start + dt.timedelta(days=i) for i in range(28)]


def test_a_long_cycle_reads_at_most_the_bounded_number_of_nights():
    store = Store(lambda user, night: 34.0)
    cc.ovulation_records(store, NIGHT, [request("a", 1, [90.0])])
    assert len(store.read) == MAX_CYCLE_NIGHTS
    assert min(store.read) == NIGHT - dt.timedelta(days=MAX_CYCLE_NIGHTS)


def test_no_cycle_closing_reads_nothing():
    store = Store(lambda user, night: 34.0)
    assert cc.ovulation_records(store, NIGHT, [request("a", 3, [28.0])]) == []
    assert store.read == []


def test_published_ovulation_reads_back_and_refuses_a_night_that_is_not_a_date(tmp_path):
    from components.published_predictions import OVULATION_FILE, published_ovulation

    assert published_ovulation(str(tmp_path), "2026-05-01") == []  # no cycle closed
    folder = tmp_path / "2026-05-01"
    folder.mkdir()
    record = {fc.USER_KEY: "k", "ovulation_cycle_day": 14, "no_estimate_reason": None}
    (folder / OVULATION_FILE).write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    assert published_ovulation(str(tmp_path), "2026-05-01") == [record]
    with pytest.raises(ValueError):
        published_ovulation(str(tmp_path), "../elsewhere")
