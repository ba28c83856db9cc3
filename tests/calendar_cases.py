"""The calendar rule's cases, shared by its unit tests and its tf.Transform test.

Previous cycle lengths with non-integer means and the fertile days the calendar calls for each, on
cycle days 1-40.
"""

from __future__ import annotations

import numpy as np

from transforms import features as fc

DAYS = np.arange(1, 41)
# previous cycle lengths -> the calendar's fertile days (ovulation = round half up (mean - 14))
CASES: dict[str, tuple[list[float], range]] = {
    "no cycle known: population mean 29.3": ([], range(10, 16)),  # 15.3 -> 15
    "29.3": ([29.3], range(10, 16)),
    "27.5 (half: up)": ([27.0, 28.0], range(9, 15)),  # 13.5 -> 14 (half-to-even: 14 too)
    "28.5 (half: up)": ([28.0, 29.0], range(10, 16)),  # 14.5 -> 15 (half-to-even: 14)
    "30.25": ([30.0, 30.0, 30.0, 31.0], range(11, 17)),  # 16.25 -> 16
    "31.5 (half: up, six cycles)": ([30.0, 33.0, 31.0, 32.0, 30.0, 33.0], range(13, 19)),
    "26.6": ([26.0, 27.0, 27.0, 26.0, 27.0], range(8, 14)),  # 12.6 -> 13
}


def case_arrays(prev: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cycle day 1-40 of one user with these previous cycle lengths, as the examples hold."""
    n = DAYS.size
    lengths = np.zeros((n, fc.PREV_CYCLES))
    lengths[:, : len(prev)] = prev
    return DAYS.copy(), lengths, np.full(n, len(prev))
