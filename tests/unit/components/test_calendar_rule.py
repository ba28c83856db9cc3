"""One calendar rule: the numpy scorer (CalendarBaseline) and the model's ``calendar_window`` agree.

Both follow ``transforms.features.calendar_fertile``: ovulation on the mean previous cycle length
minus 14 rounded half up to a whole day (the population mean 29.3 when no cycle is known), fertile
on that day and the 5 before. Checked night by night on cycle days 1-40 for non-integer means.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.calendar_rule import calendar_predictions
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


@pytest.mark.e2e
def test_preprocessing_fn_through_tf_transform_agrees_with_the_numpy_scorer(tmp_path):
    """tf.Transform's scaled ``calendar_window`` is above its mean exactly on the nights the numpy
    scorer calls fertile, for every case and cycle day."""
    import tempfile

    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from tests.e2e.test_preprocessing import feature_spec
    from transforms.preprocessing import preprocessing_fn

    instances, want = [], []
    for case, (prev, _) in enumerate(CASES.values()):
        cycle_day, lengths, count = case_arrays(prev)
        want.extend(
            (case, int(d), int(p))
            for d, p in zip(cycle_day, calendar_predictions(cycle_day, lengths, count), strict=True)
        )
        for i in range(DAYS.size):
            row = {name: np.array([1.0], np.float32) for name in fc.NIGHTLY_FEATURES}
            for name in fc.HISTORY_FEATURES:
                row[name] = np.ones(fc.HISTORY_NIGHTS, np.float32)
            row[fc.HISTORY_MASK] = np.ones(fc.HISTORY_NIGHTS, np.int64)
            row[fc.PREV_CYCLE_LENGTHS] = lengths[i].astype(np.float32)
            row[fc.PREV_CYCLE_COUNT] = np.array([count[i]], np.int64)
            row[fc.CYCLE_DAY] = np.array([cycle_day[i]], np.int64)
            # the label carries the case index through the pipeline, to match rows back
            row[fc.LABEL_KEY] = np.array([case], np.int64)
            instances.append(row)
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(feature_spec())
    )
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=tmp_path)):
        with beam.Pipeline() as p:
            (out, _), _ = (
                p | beam.Create(instances),
                metadata,
            ) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn, output_record_batches=False)
            _ = (
                out
                | beam.Map(
                    lambda r: json.dumps(
                        [
                            float(np.ravel(r[k])[0])
                            for k in (fc.LABEL_KEY, "cycle_day", "calendar_window")
                        ]
                    )
                )
                | beam.io.WriteToText(str(tmp_path / "rows"), shard_name_template="")
            )
    rows = [json.loads(line) for line in (tmp_path / "rows").read_text().splitlines()]
    assert len(rows) == len(want)
    # z-scoring is monotone: the scaled cycle day orders the days, and a window night is above
    # the mean of the 0/1 feature
    got = sorted((int(case), z_day, int(z_window > 0)) for case, z_day, z_window in rows)
    want.sort()
    assert [(c, w) for c, _, w in got] == [(c, w) for c, _, w in want]
