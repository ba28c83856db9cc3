"""The feature contract: every stage imports its names, shapes and label from here.

A nightly example describes one valid user-night. It carries tonight's robust nightly statistics,
the same statistics for the user's previous ``HISTORY_NIGHTS`` calendar nights (oldest first, with a
mask for nights that were missing or invalid), the cycle day and the user's previous cycle lengths:
exactly what the app holds on that night, so serving needs nothing the training data did not have.

This module imports nothing heavy: the CLI, the Beam job and the tests all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

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
# the population mean cycle length (DESIGN.md domain table, Bull et al. 2019), used when no cycle
# is known yet, and the 14-day luteal phase of the calendar rule ("What good looks like").
POPULATION_CYCLE_DAYS = 29.3
CALENDAR_LUTEAL_DAYS = 14.0

LABEL_KEY = "fertile"  # 1 when tonight is in the fertile window: ovulation day and the 5 before
FERTILE_DAYS_BEFORE_OVULATION = 5

# Identifiers: never model inputs. The user key is a salted pseudonym, never the raw user id.
USER_KEY = "user_key"
NIGHT_DATE = "night_date"  # ISO date of the evening the night starts


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


def serving_spec() -> dict[str, FeatureSpec]:
    """The features of a serving request (``SERVING_FEATURES``) with dtypes and lengths."""
    spec = example_spec(with_label=False)
    return {name: spec[name] for name in SERVING_FEATURES}
