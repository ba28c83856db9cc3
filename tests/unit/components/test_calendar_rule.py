"""One calendar rule: the numpy scorer (CalendarBaseline) and the model's ``calendar_window`` agree.

Both follow ``transforms.features.calendar_fertile``: ovulation on the mean previous cycle length
minus 14 rounded half up to a whole day (the population mean 29.3 when no cycle is known), fertile
on that day and the 5 before. Checked night by night on cycle days 1-40 for non-integer means.
"""

from __future__ import annotations

import numpy as np
import pytest

from components.calendar_rule import calendar_predictions
from tests.calendar_cases import CASES, DAYS, case_arrays
from transforms import features as fc


def tf_calendar_window(cycle_day: np.ndarray, lengths: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``calendar_window`` as the preprocessing graph computes it (before scaling), on tensors."""
    import tensorflow as tf

    from transforms.preprocessing import cycle_features

    out = cycle_features(
        {
            fc.CYCLE_DAY: tf.constant(cycle_day[:, None], tf.int64),
            fc.PREV_CYCLE_LENGTHS: tf.constant(lengths, tf.float32),
            fc.PREV_CYCLE_COUNT: tf.constant(count[:, None], tf.int64),
        }
    )
    return out["calendar_window"].numpy().astype(np.int64)


@pytest.mark.parametrize("name", CASES)
def test_numpy_scorer_calls_the_expected_days(name):
    prev, window = CASES[name]
    predicted = calendar_predictions(*case_arrays(prev))
    assert DAYS[predicted == 1].tolist() == list(window)


@pytest.mark.parametrize("name", CASES)
def test_model_feature_and_numpy_scorer_agree_night_by_night(name):
    arrays = case_arrays(CASES[name][0])
    np.testing.assert_array_equal(tf_calendar_window(*arrays), calendar_predictions(*arrays))


def test_population_mean_regression():
    # The scorer rounded 15.3 to day 15 (days 10-15) while the feature kept 15.3 (days 11-15).
    arrays = case_arrays([])
    assert DAYS[calendar_predictions(*arrays) == 1].tolist() == list(range(10, 16))
    assert DAYS[tf_calendar_window(*arrays) == 1].tolist() == list(range(10, 16))


def test_rounding_is_half_up_and_moves_one_day_per_day_of_mean_length():
    means = np.array([27.5, 28.0, 28.5, 29.0, 29.5, 30.0])
    np.testing.assert_array_equal(fc.calendar_ovulation_day(means), [14, 14, 15, 15, 16, 16])
    assert fc.calendar_ovulation_day(28.5) == 15  # plain Python numbers follow the same rule


def test_one_window_for_label_and_calendar():
    assert fc.fertile_window(14) == (9, 14)
    assert [d for d in range(1, 20) if fc.in_fertile_window(d, 14)] == list(range(9, 15))
