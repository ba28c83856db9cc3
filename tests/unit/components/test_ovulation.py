"""The retrospective ovulation-day estimators and their scoring, on hand-built cycles."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from components import ovulation as ov
from transforms import features as fc

LENGTH = 28
DAYS = np.arange(1, LENGTH + 1)


def shifted(first_high: int, rise: float = 0.4, base: float = 34.0) -> np.ndarray:
    """A clean temperature curve: ``base`` before ``first_high``, ``base + rise`` from it on."""
    return np.where(DAYS >= first_high, base + rise, base)


def window_probabilities(ovulation_day: int, inside: float = 0.9, outside: float = 0.1):
    """Probabilities high on the fertile window of ``ovulation_day`` and low elsewhere."""
    return np.where(fc.in_fertile_window(DAYS, ovulation_day), inside, outside)


def test_a_clear_shift_gives_the_last_low_night():
    cycle = ov.CycleNights(DAYS, shifted(17), LENGTH)
    assert ov.temperature_shift(cycle) == ov.OvulationEstimate(16)
    assert ov.temperature_step(cycle) == ov.OvulationEstimate(16)


def test_the_offset_is_counted_from_the_first_raised_night():
    cycle = ov.CycleNights(DAYS, shifted(17), LENGTH)
    assert ov.temperature_shift(cycle, offset_days=0).day == 17
    assert ov.temperature_step(cycle, offset_days=2).day == 15


def test_a_missing_night_is_skipped_not_counted_as_low():
    keep = ~np.isin(DAYS, [15, 16])  # the two nights before the rise were not recorded
    cycle = ov.CycleNights(DAYS[keep], shifted(17)[keep], LENGTH)
    assert ov.temperature_shift(cycle).day == 16
    assert ov.temperature_step(cycle).day == 16


def test_nights_given_out_of_order_are_sorted_by_cycle_day():
    order = np.random.default_rng(0).permutation(LENGTH)
    cycle = ov.CycleNights(DAYS[order], shifted(17)[order], LENGTH)
    assert cycle.cycle_days.tolist() == DAYS.tolist()
    assert ov.temperature_step(cycle).day == 16


def test_no_shift_gives_no_estimate_with_its_reason():
    flat = ov.CycleNights(DAYS, np.full(LENGTH, 34.0), LENGTH)
    assert ov.temperature_shift(flat) == ov.OvulationEstimate(None, ov.NoEstimate.NO_SHIFT)
    assert ov.temperature_step(flat) == ov.OvulationEstimate(None, ov.NoEstimate.NO_SHIFT)


def test_a_rise_smaller_than_the_threshold_is_no_shift():
    small = ov.CycleNights(DAYS, shifted(17, rise=0.1), LENGTH)
    assert ov.temperature_step(small).reason == ov.NoEstimate.NO_SHIFT
    assert ov.temperature_step(small, min_rise_c=0.05).day == 16
    tiny = ov.CycleNights(DAYS, shifted(17, rise=0.04), LENGTH)  # under the 0.05 C margin
    assert ov.temperature_shift(tiny).reason == ov.NoEstimate.NO_SHIFT
    assert ov.temperature_shift(tiny, margin_c=0.0).day == 16


def test_a_rise_that_does_not_last_three_nights_is_no_shift():
    t = np.full(LENGTH, 34.0)
    t[[16, 17]] = 34.5  # two warm nights, then back down
    cycle = ov.CycleNights(DAYS, t, LENGTH)
    assert ov.temperature_shift(cycle).reason == ov.NoEstimate.NO_SHIFT


def test_too_few_nights_gives_no_estimate():
    few = DAYS[10:18]  # 8 nights: fewer than six low and three high
    cycle = ov.CycleNights(few, shifted(17)[10:18], LENGTH)
    too_few = ov.OvulationEstimate(None, ov.NoEstimate.TOO_FEW_NIGHTS)
    assert ov.temperature_shift(cycle) == too_few
    assert ov.temperature_step(ov.CycleNights(DAYS[:7], shifted(5)[:7], LENGTH)) == too_few
    probabilities = ov.CycleNights(few, window_probabilities(16)[10:18], LENGTH)
    assert ov.probability_window(probabilities) == too_few


def test_the_premenstrual_fade_does_not_move_the_step():
    t = shifted(17)
    t[-ov.STEP_FADE_NIGHTS :] = 34.0  # the last nights fall back before menses
    assert ov.temperature_step(ov.CycleNights(DAYS, t, LENGTH)).day == 16


def test_a_step_tie_takes_the_earliest_split():
    # 34 34 34 34 | 34.2 | 34.4 ...: splitting before or after the middle night fits equally
    t = np.array([34.0] * 4 + [34.2] + [34.4] * 4)
    cycle = ov.CycleNights(np.arange(1, 10), t, 11)
    assert ov.temperature_step(cycle, offset_days=0).day == 5


def test_the_probability_window_finds_the_window_the_model_saw():
    cycle = ov.CycleNights(DAYS, window_probabilities(15), LENGTH)
    assert ov.probability_window(cycle) == ov.OvulationEstimate(15)


def test_no_window_likelier_than_none_is_anovulatory_looking():
    cycle = ov.CycleNights(DAYS, np.full(LENGTH, 0.1), LENGTH)
    assert ov.probability_window(cycle) == ov.OvulationEstimate(None, ov.NoEstimate.NO_WINDOW)
    # a single confident night is not enough evidence for a window either
    one = np.full(LENGTH, 0.1)
    one[14] = 0.9
    assert ov.probability_window(ov.CycleNights(DAYS, one, LENGTH)).day is None


def test_tied_windows_take_the_middle_day():
    # fertile nights 12-13 seen, nights 8-11 and 14-17 missing: the windows ending on days 13..17
    # all hold exactly the two fertile nights and no other, so they tie; the middle one is day 15
    p = np.where((DAYS >= 12) & (DAYS <= 13), 0.99, 0.01)
    keep = ~np.isin(DAYS, [8, 9, 10, 11, 14, 15, 16, 17])
    cycle = ov.CycleNights(DAYS[keep], p[keep], LENGTH)
    assert ov.probability_window(cycle) == ov.OvulationEstimate(15)


def test_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ov.probability_window(ov.CycleNights(DAYS, np.full(LENGTH, 1.5), LENGTH))


@pytest.mark.parametrize(
    ("days", "values", "length", "match"),
    [
        ([1, 2], [34.0], 28, "one value per night"),
        ([0, 2], [34.0, 34.0], 28, "1..28"),
        ([2, 2], [34.0, 34.0], 28, "twice"),
        ([1, 2], [34.0, np.nan], 28, "finite"),
        ([1], [34.0], 0, "at least 1"),
    ],
)
def test_bad_cycles_are_refused_naming_the_problem(days, values, length, match):
    with pytest.raises(ValueError, match=match):
        ov.CycleNights(np.array(days), np.array(values), length)


def test_an_estimate_has_a_day_or_a_reason():
    with pytest.raises(ValueError, match="either a day or a reason"):
        ov.OvulationEstimate(None)
    with pytest.raises(ValueError, match="either a day or a reason"):
        ov.OvulationEstimate(14, ov.NoEstimate.NO_SHIFT)


def test_the_calendar_estimate_is_the_calendar_rules_day():
    assert ov.calendar_estimate([28, 30]) == ov.OvulationEstimate(15)  # 29 - 14
    assert ov.calendar_estimate([28, 29]) == ov.OvulationEstimate(15)  # 28.5 - 14, half up
    assert ov.calendar_estimate([]) == ov.OvulationEstimate(15)  # 29.3 - 14 = 15.3
    # the same day the calendar rule's fertile window ends on
    window = fc.calendar_fertile(DAYS, 29.0)
    assert DAYS[window].max() == ov.calendar_estimate([29]).day


def test_scoring_counts_error_coverage_and_false_detections():
    truths = [14, 16, 20, None, None, 12]
    estimates = [
        ov.OvulationEstimate(15),  # 1 day off
        ov.OvulationEstimate(13),  # 3 days off
        ov.OvulationEstimate(None, ov.NoEstimate.NO_SHIFT),  # ovulatory, missed
        ov.OvulationEstimate(None, ov.NoEstimate.NO_SHIFT),  # anovulatory, rightly none
        ov.OvulationEstimate(18),  # anovulatory, falsely estimated
        ov.OvulationEstimate(14),  # 2 days off
    ]
    rows = ov.ovulation_stat_rows(truths, estimates)
    assert rows.shape == (6, len(ov.OVULATION_STATS))
    metrics = ov.ovulation_metrics(rows.sum(axis=0))
    assert metrics["mae_days"] == pytest.approx((1 + 3 + 2) / 3)
    assert metrics["within_1d"] == pytest.approx(1 / 3)
    assert metrics["within_2d"] == pytest.approx(2 / 3)
    assert metrics["coverage"] == pytest.approx(3 / 4)
    assert metrics["false_detection"] == pytest.approx(1 / 2)


def test_scoring_is_nan_without_a_denominator_and_refuses_mismatched_lengths():
    rows = ov.ovulation_stat_rows([None], [ov.OvulationEstimate(None, ov.NoEstimate.NO_SHIFT)])
    metrics = ov.ovulation_metrics(rows.sum(axis=0))
    assert np.isnan(metrics["mae_days"]) and np.isnan(metrics["coverage"])
    assert metrics["false_detection"] == 0
    with pytest.raises(ValueError, match="2 true days but 1 estimates"):
        ov.ovulation_stat_rows([14, 15], [ov.OvulationEstimate(14)])


def test_metrics_of_resampled_totals_are_elementwise():
    rows = ov.ovulation_stat_rows([14, 16], [ov.OvulationEstimate(15), ov.OvulationEstimate(16)])
    stacked = np.stack([rows[0], rows[1], rows.sum(axis=0)])  # three "resamples"
    assert ov.ovulation_metrics(stacked)["mae_days"].tolist() == [1.0, 0.0, 0.5]


def test_an_anovulatory_noisy_cycle_mostly_gets_no_estimate():
    """On pure nightly noise (docs/DOMAIN.md: SD 0.13 C), the step fit rarely claims a rise."""
    rng = np.random.default_rng(3)
    claimed = [
        ov.temperature_step(ov.CycleNights(DAYS, 34.0 + 0.13 * rng.standard_normal(LENGTH), 28)).day
        is not None
        for _ in range(200)
    ]
    assert np.mean(claimed) < 0.1


def test_a_closed_cycle_is_estimated_from_dated_nights_with_the_published_estimator():
    start = dt.date(2026, 3, 1)
    temps = shifted(17)
    nights = {
        start + dt.timedelta(days=int(d) - 1): float(t) for d, t in zip(DAYS, temps, strict=True)
    }
    nights[start - dt.timedelta(days=1)] = 40.0  # the previous cycle's night is left out
    nights[start + dt.timedelta(days=LENGTH)] = 30.0  # and the next cycle's
    assert ov.closed_cycle_estimate(nights, start, LENGTH) == ov.ESTIMATORS[ov.ESTIMATOR](
        ov.CycleNights(DAYS, temps, LENGTH)
    )
    assert ov.closed_cycle_estimate(nights, start, LENGTH).day == 16
    three_nights = dict(list(nights.items())[:3])
    assert ov.closed_cycle_estimate(three_nights, start, LENGTH).reason == (
        ov.NoEstimate.TOO_FEW_NIGHTS
    )
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        ov.closed_cycle_estimate(nights, start, LENGTH, "nope")
