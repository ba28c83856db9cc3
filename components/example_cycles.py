"""Labelled nightly examples grouped back into their users' completed cycles.

An example carries its pseudonymous user key, its night and its cycle day, so the night's cycle
starts on ``night_date - (cycle_day - 1)``: one (user key, start date) pair per cycle. The
cycle's confirmed ovulation day and length come from the cycle log
(``components.nightly_features.records.CycleRow``), matched on the same pair once its user id is
pseudonymised with the salt the feature job used. Pure Python and numpy: no TensorFlow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from components.nightly_features.records import CycleRow
from components.nightly_features.user_history import pseudonymise
from components.ovulation import CycleNights
from transforms import features as fc

CycleId = tuple[str, dt.date]  # (user key, first day of the cycle)


@dataclass(frozen=True)
class ExampleCycle:
    """One cycle's labelled nights: where they are in the example rows, and what they share."""

    user_key: str
    start_date: dt.date
    rows: tuple[int, ...]  # indices into the example rows, in cycle-day order
    cycle_days: tuple[int, ...]
    prev_lengths: tuple[float, ...]  # the previous cycles' lengths known in this cycle
    regularity: str  # transforms.features.cycle_regularity's class of those lengths

    @property
    def cycle_id(self) -> CycleId:
        """The (user key, start date) pair the cycle log is matched on."""
        return (self.user_key, self.start_date)

    def nights(self, values: np.ndarray, length_days: int) -> CycleNights:
        """The cycle's nights with one value per example row (``values`` over every row)."""
        return CycleNights(
            np.array(self.cycle_days), np.asarray(values)[list(self.rows)], length_days
        )


def feature_text(value: list) -> str:
    """A bytes feature's single value as text."""
    (item,) = value
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def group_cycles(rows: Sequence[dict[str, list]]) -> list[ExampleCycle]:
    """Group example rows (feature dicts) by cycle, in (user key, start date) order.

    Raises ``ValueError`` naming the night when two examples of a user claim the same night, or
    when the nights of one cycle disagree on its previous cycle lengths.
    """
    grouped: dict[CycleId, list[tuple[int, int]]] = {}
    prev: dict[CycleId, tuple[float, ...]] = {}
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        user_key, night = feature_text(row[fc.USER_KEY]), feature_text(row[fc.NIGHT_DATE])
        if (user_key, night) in seen:
            raise ValueError(f"two examples of user {user_key} for the night of {night}")
        seen.add((user_key, night))
        cycle_day = int(row[fc.CYCLE_DAY][0])
        start = dt.date.fromisoformat(night) - dt.timedelta(days=cycle_day - 1)
        count = int(row[fc.PREV_CYCLE_COUNT][0])
        lengths = tuple(float(x) for x in row[fc.PREV_CYCLE_LENGTHS][:count])
        key = (user_key, start)
        if prev.setdefault(key, lengths) != lengths:
            raise ValueError(
                f"the night of {night} of user {user_key} gives previous cycle lengths "
                f"{lengths}, the cycle's other nights {prev[key]}"
            )
        grouped.setdefault(key, []).append((cycle_day, i))
    out = []
    for key in sorted(grouped):
        nights = sorted(grouped[key])
        lengths = prev[key]
        out.append(
            ExampleCycle(
                user_key=key[0],
                start_date=key[1],
                rows=tuple(i for _, i in nights),
                cycle_days=tuple(d for d, _ in nights),
                prev_lengths=lengths,
                regularity=fc.cycle_regularity([int(x) for x in lengths]),
            )
        )
    return out


def cycle_log_by_id(cycles: Iterable[CycleRow], salt: bytes) -> dict[CycleId, CycleRow]:
    """The cycle log's completed cycles keyed as the examples see them (pseudonym, start date)."""
    return {
        (pseudonymise(c.user_id, salt), c.start_date): c
        for c in cycles
        if c.length_days is not None
    }
