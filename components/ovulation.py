"""A completed cycle's ovulation day in hindsight, from its nights, and how such estimates score.

Four estimators, each returning an ``OvulationEstimate`` (a 1-based cycle day, or no estimate
with the reason):

- ``temperature_shift``: the sustained rise of the nightly skin temperature after ovulation
  (docs/DOMAIN.md: +0.30 to +0.45 C, starting on or after ovulation in 86% of cycles), found by a
  three-over-six rule: the first three nights all above the highest of the six nights before;
  ovulation is the last low night;
- ``temperature_step``: the same rise found as the best two-level fit of the cycle's nights (the
  change point), which uses every night rather than nine;
- ``probability_window``: the model's nightly probabilities, the fertile window (the ovulation day
  and the 5 before) that makes them likeliest, kept when it is likelier than no window at all;
- ``calendar_estimate``: the calendar rule's day (the mean previous cycle length minus 14,
  ``transforms.features``), which always gives one.

An anovulatory cycle has no rise and no fertile window, so a good estimator gives it no estimate.
Scoring (``ovulation_stat_rows`` then ``ovulation_metrics``) works on per-cycle counts that add up
over users, so the bootstrap (``pipeline.serving.bootstrap``) resamples the same sums.
Pure numpy: no TensorFlow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transforms import features as fc


class NoEstimate:
    """Why a cycle gets no ovulation day."""

    TOO_FEW_NIGHTS = "too_few_nights"  # fewer valid nights than the estimator needs
    NO_SHIFT = "no_sustained_shift"  # the temperature never rose and stayed up: anovulatory-looking
    NO_WINDOW = "no_fertile_window"  # no window likelier than none: anovulatory-looking


@dataclass(frozen=True)
class OvulationEstimate:
    """An estimated ovulation day (1-based cycle day), or ``None`` with the reason."""

    day: int | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.day is None) == (self.reason is None):
            raise ValueError("an estimate has either a day or a reason for having none")


@dataclass(frozen=True)
class CycleNights:
    """One completed cycle's valid nights: their 1-based cycle days and one value per night.

    ``values`` is the nightly skin temperature for the temperature estimators, the model's
    probability for ``probability_window``. ``length_days`` is the cycle's length.
    """

    cycle_days: np.ndarray
    values: np.ndarray
    length_days: int

    def __post_init__(self) -> None:
        days = np.asarray(self.cycle_days)
        values = np.asarray(self.values, dtype=float)
        if days.shape != values.shape or days.ndim != 1:
            raise ValueError(
                f"cycle_days {days.shape} and values {values.shape} must be one value per night"
            )
        if self.length_days < 1:
            raise ValueError(f"length_days {self.length_days} must be at least 1")
        if days.size and (days.min() < 1 or days.max() > self.length_days):
            raise ValueError(f"cycle days must lie in 1..{self.length_days}")
        if np.unique(days).size != days.size:
            raise ValueError("a cycle day appears twice: one value per night")
        if not np.isfinite(values).all():
            raise ValueError("a night's value is not a finite number")
        order = np.argsort(days, kind="stable")
        object.__setattr__(self, "cycle_days", days[order].astype(int))
        object.__setattr__(self, "values", values[order])


# three-over-six: the six nights before the rise and the three raised nights.
LOW_NIGHTS = 6
HIGH_NIGHTS = 3
# Every raised night must clear the highest low night by this much (wrist noise SD about 0.13 C,
# docs/DOMAIN.md; the max of six such nights sits about 0.16 C over their mean).
SHIFT_MARGIN_C = 0.05
# The step fit: at least this many nights on each side, and the upper level at least this far
# over the lower one (half the smallest rise of docs/DOMAIN.md, +0.30 C).
STEP_MIN_SIDE = 4
STEP_MIN_RISE_C = 0.15
# The luteal shift fades over the last nights of a cycle (synthetic.physiology's assumption and
# what wrist temperature does before menses): the step fit leaves them out.
STEP_FADE_NIGHTS = 2
# Ovulation is this many days before the first raised night: the last low night.
TEMPERATURE_OFFSET_DAYS = 1
# probability_window: fewer valid nights than this give no estimate; probabilities are clipped
# away from 0 and 1 so one confident night cannot veto a window; and the best window must be
# likelier than no window by this log-likelihood ratio (a factor of about 20).
MIN_CYCLE_NIGHTS = 10
PROBABILITY_CLIP = 1e-3
MIN_LOG_LIKELIHOOD_RATIO = 3.0


def temperature_shift(
    cycle: CycleNights,
    margin_c: float = SHIFT_MARGIN_C,
    offset_days: int = TEMPERATURE_OFFSET_DAYS,
) -> OvulationEstimate:
    """Ovulation by the three-over-six rule on the cycle's nightly skin temperatures.

    Over the valid nights in order (a missing night is skipped, as in fertility-awareness
    practice): the first night that starts ``HIGH_NIGHTS`` nights all more than ``margin_c``
    above the highest of the ``LOW_NIGHTS`` nights before it. Ovulation is ``offset_days`` before
    that first raised night. No estimate when the cycle has fewer than nine valid nights, or no
    such shift.
    """
    t = cycle.values
    n = t.size
    if n < LOW_NIGHTS + HIGH_NIGHTS:
        return OvulationEstimate(None, NoEstimate.TOO_FEW_NIGHTS)
    # windows[i] = the LOW_NIGHTS nights before night i + LOW_NIGHTS
    lows = np.lib.stride_tricks.sliding_window_view(t[: n - HIGH_NIGHTS], LOW_NIGHTS).max(axis=1)
    highs = np.lib.stride_tricks.sliding_window_view(t[LOW_NIGHTS:], HIGH_NIGHTS).min(axis=1)
    found = np.flatnonzero(highs > lows + margin_c)
    if not found.size:
        return OvulationEstimate(None, NoEstimate.NO_SHIFT)
    first_high = int(cycle.cycle_days[found[0] + LOW_NIGHTS])
    return OvulationEstimate(max(1, first_high - offset_days))


def temperature_step(
    cycle: CycleNights,
    min_rise_c: float = STEP_MIN_RISE_C,
    offset_days: int = TEMPERATURE_OFFSET_DAYS,
) -> OvulationEstimate:
    """Ovulation from the best two-level (step) fit of the cycle's nightly skin temperatures.

    The last ``STEP_FADE_NIGHTS`` cycle days are left out (the premenstrual fade). Every split of
    the remaining valid nights with at least ``STEP_MIN_SIDE`` on each side is fitted by its two
    means; the split with the least squared error wins (the earliest on a tie). It must rise by
    at least ``min_rise_c``; ovulation is ``offset_days`` before its first upper night.
    """
    keep = cycle.cycle_days <= cycle.length_days - STEP_FADE_NIGHTS
    days, t = cycle.cycle_days[keep], cycle.values[keep]
    n = t.size
    if n < 2 * STEP_MIN_SIDE:
        return OvulationEstimate(None, NoEstimate.TOO_FEW_NIGHTS)
    t = t - t.mean()  # centred, so the cumulative sums lose no precision
    k = np.arange(STEP_MIN_SIDE, n - STEP_MIN_SIDE + 1)  # nights in the lower part
    cum = np.concatenate([[0.0], np.cumsum(t)])
    lower_mean = cum[k] / k
    upper_mean = (cum[n] - cum[k]) / (n - k)
    # least squared error <=> largest between-part sum of squares
    explained = k * lower_mean**2 + (n - k) * upper_mean**2
    best = int(np.argmax(explained))  # the first of equal values: the earliest split
    if upper_mean[best] - lower_mean[best] < min_rise_c:
        return OvulationEstimate(None, NoEstimate.NO_SHIFT)
    first_high = int(days[k[best]])
    return OvulationEstimate(max(1, first_high - offset_days))


def probability_window(
    cycle: CycleNights,
    min_nights: int = MIN_CYCLE_NIGHTS,
    min_ratio: float = MIN_LOG_LIKELIHOOD_RATIO,
) -> OvulationEstimate:
    """Ovulation as the fertile window that best explains the model's nightly probabilities.

    Each candidate day ``d`` (1..cycle length) claims its window (``d`` and the 5 days before,
    ``transforms.features.in_fertile_window``) fertile and every other night not; its
    log-likelihood is the sum of ``log p`` over the nights in the window and ``log(1 - p)`` over
    the rest. The likeliest day is the estimate (the middle one of tied days), provided it beats
    the no-window (anovulatory) hypothesis by ``min_ratio``; otherwise no estimate.
    """
    if cycle.values.size < min_nights:
        return OvulationEstimate(None, NoEstimate.TOO_FEW_NIGHTS)
    if (cycle.values < 0).any() or (cycle.values > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    p = np.clip(cycle.values, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    gain = np.log(p) - np.log1p(-p)  # what a night adds when its window claims it
    candidates = np.arange(1, cycle.length_days + 1)
    inside = fc.in_fertile_window(cycle.cycle_days[None, :], candidates[:, None])
    ratio = inside.astype(float) @ gain  # log-likelihood over the no-window hypothesis
    best = ratio.max()
    if best < min_ratio:
        return OvulationEstimate(None, NoEstimate.NO_WINDOW)
    tied = candidates[np.isclose(ratio, best, rtol=0.0, atol=1e-9)]
    return OvulationEstimate(int(tied[(tied.size - 1) // 2]))


def calendar_estimate(prev_lengths: Sequence[float]) -> OvulationEstimate:
    """The calendar rule's ovulation day: the mean of the previous cycle lengths minus 14.

    With no previous cycle, the population mean length (``transforms.features``); the same
    expressions as the calendar rule's fertile window, so it always gives a day.
    """
    lengths = np.asarray(prev_lengths, dtype=float)
    mean_length = fc.mean_cycle_length(lengths.sum(), lengths.size, np.where)
    return OvulationEstimate(max(1, int(fc.calendar_ovulation_day(mean_length))))


# Per-cycle counts that add up over cycles and users (ovulation_stat_rows' columns).
OVULATION_STATS: tuple[str, ...] = (
    "ovulatory",  # the cycle ovulated (the cycle log's confirmed day)
    "estimated",  # ... and got an estimate
    "abs_error",  # |estimate - truth| in days, on an estimated ovulatory cycle
    "within_1d",
    "within_2d",
    "anovulatory",  # the cycle did not ovulate
    "anovulatory_estimated",  # ... and still got an estimate (a false detection)
)


def ovulation_stat_rows(
    true_days: Sequence[int | None], estimates: Sequence[OvulationEstimate]
) -> np.ndarray:
    """One row of ``OVULATION_STATS`` counts per cycle: ``[n_cycles, len(OVULATION_STATS)]``.

    ``true_days`` holds each cycle's confirmed ovulation day, ``None`` when it was anovulatory.
    """
    if len(true_days) != len(estimates):
        raise ValueError(f"{len(true_days)} true days but {len(estimates)} estimates")
    rows = np.zeros((len(true_days), len(OVULATION_STATS)))
    for i, (truth, estimate) in enumerate(zip(true_days, estimates, strict=True)):
        if truth is None:
            rows[i, 5] = 1
            rows[i, 6] = estimate.day is not None
            continue
        rows[i, 0] = 1
        if estimate.day is not None:
            error = abs(estimate.day - truth)
            rows[i, 1:5] = (1, error, error <= 1, error <= 2)
    return rows


def ovulation_metrics(totals: np.ndarray) -> dict[str, np.ndarray]:
    """The ovulation-day figures from summed ``OVULATION_STATS`` counts (``[..., 7]``).

    ``mae_days``, ``within_1d`` and ``within_2d`` are over the ovulatory cycles given an
    estimate; ``coverage`` is the share of ovulatory cycles given one; ``false_detection`` the
    share of anovulatory cycles given one. NaN where the denominator is 0.
    """
    totals = np.asarray(totals, dtype=float)
    ovulatory, estimated, abs_error, within_1d, within_2d, anovulatory, false = np.moveaxis(
        totals, -1, 0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "mae_days": abs_error / estimated,
            "within_1d": within_1d / estimated,
            "within_2d": within_2d / estimated,
            "coverage": estimated / ovulatory,
            "false_detection": false / anovulatory,
        }


# The estimator cyclecast publishes and `cyclecast evaluate --cohort` scores as the model's, chosen
# by measurement on a fresh cohort (MODEL.md, "The ovulation day"). Its input is each night's skin
# temperature (the stored nightly statistic), so a cycle's estimate needs only that cycle's nights.
ESTIMATOR = "temperature_step"
ESTIMATORS = {  # the candidates, by name
    "temperature_step": temperature_step,
    "temperature_shift": temperature_shift,
    "probability_window": probability_window,
}
ESTIMATOR_FEATURE = "skin_temp"  # transforms.features.NIGHTLY_STATS' name of its input
# The longest cycle an estimate reads the nights of: cycles longer than this are read from their
# last MAX_CYCLE_NIGHTS nights only, so a closed cycle's cost is bounded whatever its length.
MAX_CYCLE_NIGHTS = 60


def closed_cycle_estimate(
    nights: dict[dt.date, float],
    start: dt.date,
    length_days: int,
    estimator: str = ESTIMATOR,
) -> OvulationEstimate:
    """The estimate of one completed cycle from one value per dated night.

    ``nights`` maps a night's date to its value (the skin temperature for ``ESTIMATOR``, the
    model's probability for ``probability_window``); nights outside the cycle are ignored.
    ``start`` is the cycle's first day and ``length_days`` its length. The one function both the
    nightly publishing and ``cyclecast evaluate --cohort`` call.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}: one of {', '.join(ESTIMATORS)}")
    if length_days < 1:
        raise ValueError(f"length_days {length_days} must be at least 1")
    days, values = [], []
    for night, value in sorted(nights.items()):
        day = (night - start).days + 1
        if 1 <= day <= length_days:
            days.append(day)
            values.append(value)
    cycle = CycleNights(np.array(days, dtype=int), np.array(values, dtype=float), length_days)
    return ESTIMATORS[estimator](cycle)
