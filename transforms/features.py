"""The feature contract: every stage imports its names, shapes and label from here.

A nightly example describes one valid user-night. It carries tonight's robust nightly statistics,
the same statistics for the user's previous ``HISTORY_NIGHTS`` calendar nights (oldest first, with a
mask for nights that were missing or invalid), the cycle day and the user's previous cycle lengths:
exactly what the app holds on that night, so serving needs nothing the training data did not have.

This module imports nothing heavy: the CLI, the Beam job and the tests all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Tonight's nightly statistics, computed over the accepted, asleep, low-motion rows of the night.
# name -> (raw column, statistic)
NIGHTLY_STATS: dict[str, tuple[str, str]] = {
    "skin_temp": ("skin_temp_c", "median"),
    "heart_rate": ("heart_rate", "median"),
    "heart_rate_p10": ("heart_rate", "p10"),
    "hrv_rmssd": ("hrv_rmssd", "median"),
    "breathing_rate": ("breathing_rate", "median"),
    "perfusion": ("perfusion", "median"),
}
NIGHTLY_FEATURES: tuple[str, ...] = tuple(NIGHTLY_STATS)

# Night-quality figures, kept on every example (useful for slicing and for the skew checks).
QUALITY_FEATURES: tuple[str, ...] = ("worn_hours", "sleep_hours", "low_motion_sleep_hours")

# History: the previous nights' nightly statistics, one fixed-length list per statistic.
HISTORY_NIGHTS = 28
HISTORY_PREFIX = "hist_"
HISTORY_MASK = "hist_valid"  # 1 where that previous night was recorded and valid, else 0

# Previous cycles: lengths of the most recent completed cycles (newest last), with a count.
PREV_CYCLES = 6
PREV_CYCLE_LENGTHS = "prev_cycle_lengths"
PREV_CYCLE_COUNT = "prev_cycle_count"
CYCLE_DAY = "cycle_day"  # 1-based day of the current cycle (the app knows the last period start)

# Slicing only (never a model input): how regular her previous cycles were, known on the night.
CYCLE_REGULARITY = "cycle_regularity"  # b"regular", b"irregular" or b"unknown"
IRREGULAR_RANGE_DAYS = 7  # previous cycle lengths spanning more than this: irregular
MIN_CYCLES_FOR_REGULARITY = 2

# The calendar's assumptions, shared by the calendar-rule baseline and the model's timing features:
# the population mean cycle length (docs/DOMAIN.md domain table, Bull et al. 2019), used when no
# cycle is known yet, and the 14-day luteal phase of the calendar rule (docs/DOMAIN.md).
POPULATION_CYCLE_DAYS = 29.3
CALENDAR_LUTEAL_DAYS = 14.0

LABEL_KEY = "fertile"  # 1 when tonight is in the fertile window: ovulation day and the 5 before
FERTILE_DAYS_BEFORE_OVULATION = 5

# Identifiers: never model inputs. The user key is a salted pseudonym, never the raw user id.
USER_KEY = "user_key"
NIGHT_DATE = "night_date"  # ISO date of the evening the night starts


# The fertile window and the calendar rule, written once for every caller. The functions use
# operators only (+, -, //, comparisons, &), which plain Python numbers, numpy arrays and TensorFlow
# tensors all implement: the label, the generator, the numpy calendar scorer and the model's
# ``calendar_window`` feature in the tf.Transform graph therefore run the very same expressions.
Days = Any  # a number of days: a Python number, a numpy array or a TF tensor


def fertile_window(ovulation_day: Days) -> tuple[Days, Days]:
    """First and last cycle day of the fertile window: the ovulation day and the 5 days before.

    Takes a number, a numpy array or a TF tensor of ovulation days; returns ``(first, last)``.
    """
    return ovulation_day - FERTILE_DAYS_BEFORE_OVULATION, ovulation_day


def in_fertile_window(cycle_day: Days, ovulation_day: Days) -> Days:
    """Whether ``cycle_day`` lies in the fertile window of ``ovulation_day`` (bool, elementwise)."""
    first, last = fertile_window(ovulation_day)
    return (cycle_day >= first) & (cycle_day <= last)


def mean_cycle_length(length_sum: Days, count: Days, where: Callable[..., Days]) -> Days:
    """The mean of the user's previous cycle lengths; ``POPULATION_CYCLE_DAYS`` when she has none.

    ``length_sum`` is the sum of her ``count`` known previous lengths. ``where`` is the array
    library's select (``np.where`` or ``tf.where``): the one operation Python has no operator for.
    """
    known = count > 0
    return where(known, length_sum / where(known, count, 1.0), POPULATION_CYCLE_DAYS)


def calendar_ovulation_day(mean_length: Days) -> Days:
    """The calendar rule's ovulation day: the mean previous cycle length minus 14, to a whole day.

    The estimate is rounded half up (28.5 - 14 = 14.5 gives day 15). Half-to-even, what
    ``np.round`` and ``tf.round`` do, would send 27.5 and 28.5 both to day 14 and 29.5 to day 16:
    the window would stand still for one extra day of mean length and jump two days for the next.
    Half up moves it exactly one day per day of mean length, and is the rounding a person applies.
    ``x // 1`` is floor for Python numbers, numpy arrays and TF tensors alike.
    """
    return (mean_length - CALENDAR_LUTEAL_DAYS + 0.5) // 1


def calendar_fertile(cycle_day: Days, mean_length: Days) -> Days:
    """The calendar rule's call: whether ``cycle_day`` is in the window of the estimated ovulation.

    ``mean_length`` is ``mean_cycle_length``'s: the mean of the user's previous cycle lengths, or
    ``POPULATION_CYCLE_DAYS`` when none is known.
    """
    return in_fertile_window(cycle_day, calendar_ovulation_day(mean_length))


def cycle_regularity(prev_lengths: list[int]) -> str:
    """Classify previous cycle lengths: regular, irregular (range over 7 days) or unknown."""
    if len(prev_lengths) < MIN_CYCLES_FOR_REGULARITY:
        return "unknown"
    spread = max(prev_lengths) - min(prev_lengths)
    return "irregular" if spread > IRREGULAR_RANGE_DAYS else "regular"


def history_key(feature: str) -> str:
    """Return the name of the history list for a nightly feature."""
    return f"{HISTORY_PREFIX}{feature}"


HISTORY_FEATURES: tuple[str, ...] = tuple(history_key(f) for f in NIGHTLY_FEATURES)


@dataclass(frozen=True)
class FeatureSpec:
    """One feature's storage type and fixed shape in a tf.Example."""

    dtype: str  # "float", "int" or "bytes"
    length: int = 1


# What the app sends at serving time: the model's raw inputs (SERVING environment in the schema).
SERVING_FEATURES: tuple[str, ...] = (
    NIGHTLY_FEATURES
    + HISTORY_FEATURES
    + (HISTORY_MASK, PREV_CYCLE_LENGTHS, PREV_CYCLE_COUNT, CYCLE_DAY)
)


def example_spec(with_label: bool = True) -> dict[str, FeatureSpec]:
    """Return every feature of a nightly example with its dtype and length.

    ``with_label=False`` gives the serving input: what the app sends, without the label.
    """
    spec: dict[str, FeatureSpec] = {}
    for name in NIGHTLY_FEATURES + QUALITY_FEATURES:
        spec[name] = FeatureSpec("float")
    for name in HISTORY_FEATURES:
        spec[name] = FeatureSpec("float", HISTORY_NIGHTS)
    spec[HISTORY_MASK] = FeatureSpec("int", HISTORY_NIGHTS)
    spec[PREV_CYCLE_LENGTHS] = FeatureSpec("float", PREV_CYCLES)
    spec[PREV_CYCLE_COUNT] = FeatureSpec("int")
    spec[CYCLE_DAY] = FeatureSpec("int")
    spec[CYCLE_REGULARITY] = FeatureSpec("bytes")
    spec[USER_KEY] = FeatureSpec("bytes")
    spec[NIGHT_DATE] = FeatureSpec("bytes")
    if with_label:
        spec[LABEL_KEY] = FeatureSpec("int")
    return spec


def request_spec() -> dict[str, FeatureSpec]:
    """A prediction request as the feature job writes it and the online path builds it.

    Every feature of a nightly example but the label: the serving features the model reads, plus
    the night's quality figures and cycle regularity (for slicing and skew checks) and the keys
    (pseudonym and night) the published predictions are keyed by, which the model ignores.
    """
    return example_spec(with_label=False)


def serving_spec() -> dict[str, FeatureSpec]:
    """The features of a serving request (``SERVING_FEATURES``) with dtypes and lengths."""
    spec = example_spec(with_label=False)
    return {name: spec[name] for name in SERVING_FEATURES}
