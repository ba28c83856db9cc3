"""The ovulation day NightlyPredictions publishes for each cycle that closed with tonight.

A user's cycle closes when a new period starts: tonight's prediction request then says cycle day 1,
and its newest previous cycle length is the closed cycle's (the cycle log as it stood at ingest).
For each such user the estimate (``components.ovulation.closed_cycle_estimate``, the function
``cyclecast evaluate --cohort`` scores) is computed from the closed cycle's nights' stored nightly
statistics in the span store: at most ``MAX_CYCLE_NIGHTS`` nights before tonight are read, each
night's statistics file once for every user closing a cycle tonight, so a night's cost never grows
with the history the store holds. A cycle gets a day (1-based cycle day and its date) or the
reason it has none (too few nights, no sustained shift: anovulatory-looking).
Pure Python and numpy besides the store's file reads: no TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from transforms import features as fc


@dataclass(frozen=True)
class ClosedCycle:
    """A user's cycle that closed with tonight: its first day and length."""

    user_key: str
    start: dt.date
    length_days: int


def _value(row: dict[str, list], name: str):
    (item,) = row[name]
    return item.decode("utf-8") if isinstance(item, bytes) else item


def closed_tonight(night: dt.date, requests: list[dict[str, list]]) -> list[ClosedCycle]:
    """The cycles tonight's requests (feature dicts) close, in user-key order.

    A request on cycle day 1 with at least one previous cycle closes the newest of them; a first
    cycle (no previous one logged) closes nothing.
    """
    out = []
    for row in requests:
        count = int(_value(row, fc.PREV_CYCLE_COUNT))
        if int(_value(row, fc.CYCLE_DAY)) != 1 or count < 1:
            continue
        length = int(round(float(row[fc.PREV_CYCLE_LENGTHS][count - 1])))
        out.append(
            ClosedCycle(_value(row, fc.USER_KEY), night - dt.timedelta(days=length), length)
        )
    return sorted(out, key=lambda c: c.user_key)


def cycle_temperatures(
    store, night: dt.date, cycles: list[ClosedCycle]
) -> tuple[dict[str, dict[dt.date, float]], int]:
    """The closing users' stored nightly skin temperatures over their closed cycles.

    Reads the statistics file of each ingested night from the earliest cycle start (at most
    ``MAX_CYCLE_NIGHTS`` back) to the night before ``night``, each checked against its index
    entry (``SpanStore.read_verified``). Returns them by user, and how many nights were read.
    """
    from components.file_io import gzip_lines
    from components.ovulation import ESTIMATOR_FEATURE, MAX_CYCLE_NIGHTS

    out: dict[str, dict[dt.date, float]] = {c.user_key: {} for c in cycles}
    if not cycles:
        return out, 0
    back = min(MAX_CYCLE_NIGHTS, max((night - c.start).days for c in cycles))
    read = 0
    for offset in range(back, 0, -1):
        day = night - dt.timedelta(days=offset)
        entry = store.entry(day)
        if entry is None:  # never ingested: a missing night
            continue
        read += 1
        for line in gzip_lines(store.read_verified(entry, entry.stats_file)):
            record = json.loads(line)
            if record[fc.USER_KEY] in out:
                out[record[fc.USER_KEY]][day] = float(record["features"][ESTIMATOR_FEATURE])
    return out, read


def ovulation_records(store, night: dt.date, requests: list[dict[str, list]]) -> list[dict]:
    """One record per cycle closed tonight: its estimated ovulation day or why there is none."""
    from components.ovulation import ESTIMATOR, closed_cycle_estimate

    cycles = closed_tonight(night, requests)
    temperatures, _ = cycle_temperatures(store, night, cycles)
    records = []
    for cycle in cycles:
        nights = temperatures[cycle.user_key]
        estimate = closed_cycle_estimate(nights, cycle.start, cycle.length_days)
        day = estimate.day
        records.append(
            {
                fc.USER_KEY: cycle.user_key,
                "closed_on": night.isoformat(),
                "cycle_start": cycle.start.isoformat(),
                "cycle_length_days": cycle.length_days,
                "nights_with_statistics": sum(
                    cycle.start <= d < night for d in nights
                ),
                "estimator": ESTIMATOR,
                "ovulation_cycle_day": day,
                "ovulation_date": None
                if day is None
                else (cycle.start + dt.timedelta(days=day - 1)).isoformat(),
                "no_estimate_reason": estimate.reason,
            }
        )
    return records
