"""The calendar rule through tf.Transform: ``preprocessing_fn``'s scaled ``calendar_window`` agrees
with the numpy scorer (CalendarBaseline) night by night, on the cases of the unit tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.calendar_rule import calendar_predictions
from tests.calendar_cases import CASES, DAYS, case_arrays
from transforms import features as fc


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
