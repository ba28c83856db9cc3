"""preprocessing_fn through tf.Transform's Beam implementation, with expected outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transforms import features as fc

pytestmark = pytest.mark.e2e
N = fc.HISTORY_NIGHTS


def instance(
    temp: float,
    hist_temp: list[float],
    mask: list[int],
    cycle_day: int,
    prev: list[float],
    label: int = 0,
) -> dict:
    """A raw example as tf.Transform's instance dicts hold it (unbatched)."""
    row = {name: np.array([1.0], np.float32) for name in fc.NIGHTLY_FEATURES}
    row["skin_temp"] = np.array([temp], np.float32)
    for name in fc.NIGHTLY_FEATURES:
        row[fc.history_key(name)] = np.ones(N, np.float32)
    row[fc.history_key("skin_temp")] = np.array(hist_temp, np.float32)
    row[fc.HISTORY_MASK] = np.array(mask, np.int64)
    row[fc.PREV_CYCLE_LENGTHS] = np.array(prev + [0.0] * (fc.PREV_CYCLES - len(prev)), np.float32)
    row[fc.PREV_CYCLE_COUNT] = np.array([len(prev)], np.int64)
    row[fc.CYCLE_DAY] = np.array([cycle_day], np.int64)
    row[fc.LABEL_KEY] = np.array([label], np.int64)
    return row


def feature_spec() -> dict:
    import tensorflow as tf

    dtypes = {"float": tf.float32, "int": tf.int64}
    spec = {}
    for name in fc.SERVING_FEATURES + (fc.LABEL_KEY,):
        fs = fc.example_spec()[name]
        spec[name] = tf.io.FixedLenFeature([fs.length], dtypes[fs.dtype])
    return spec


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    import tempfile

    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from transforms.preprocessing import engineered_features, preprocessing_fn

    full = [1] * N
    none = [0] * N
    recent_gap = [1] * (N - 3) + [0, 0, 0]
    instances = [
        # 34.5 tonight against a 34.0 history: delta +0.5; cycle day 10, previous 28 and 30
        instance(34.5, [34.0] * N, full, 10, [28.0, 30.0], 1),
        # no valid history yet (first nights): deltas are 0, not NaN
        instance(34.2, [0.0] * N, none, 3, [], 0),
        # last three nights missing: the trend is 0; baseline over the 25 valid ones
        instance(34.0, [33.0] * (N - 3) + [0.0] * 3, recent_gap, 20, [35.0], 0),
        instance(34.1, [34.3] * N, full, 25, [29.0, 29.0, 29.0], 0),
    ]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(feature_spec())
    )
    out_dir = tmp_path_factory.mktemp("tft")
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=out_dir)):
        with beam.Pipeline() as p:
            data = p | beam.Create(instances)
            (out, _), _ = (data, metadata) | tft_beam.AnalyzeAndTransformDataset(
                preprocessing_fn, output_record_batches=False
            )
            _ = (
                out
                | beam.Map(lambda r: json.dumps({k: np.ravel(v).tolist() for k, v in r.items()}))
                | beam.io.WriteToText(str(out_dir / "rows"), shard_name_template="")
            )
    rows = [json.loads(line) for line in (out_dir / "rows").read_text().splitlines()]
    # the same engineered features computed eagerly, before scaling
    import tensorflow as tf

    batch = {k: tf.constant(np.stack([i[k] for i in instances])) for k in instances[0]}
    raw = {k: v.numpy() for k, v in engineered_features(batch).items()}
    return rows, raw


def test_engineered_features_have_the_expected_values(transformed):
    _, raw = transformed
    np.testing.assert_allclose(raw["skin_temp_delta"], [0.5, 0.0, 1.0, -0.2], atol=1e-5)
    np.testing.assert_allclose(raw["skin_temp_trend"], [0.0, 0.0, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(raw["history_coverage"], [1.0, 0.0, (N - 3) / N, 1.0], atol=1e-6)
    # calendar: mean previous length (population 29.3 when none) minus 14, minus cycle day
    np.testing.assert_allclose(raw["expected_cycle_length"], [29.0, 29.3, 35.0, 29.0], atol=1e-5)
    np.testing.assert_allclose(
        raw["days_to_expected_ovulation"], [5.0, 12.3, 1.0, -10.0], atol=1e-5
    )
    np.testing.assert_allclose(raw["calendar_window"], [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(raw["prev_cycle_sd"], [1.0, 0.0, 0.0, 0.0], atol=1e-6)
    # cycle-start baseline: only nights of this cycle's days 1-6 count
    np.testing.assert_allclose(raw["skin_temp_vs_cycle_start"], [0.5, 0.0, 1.0, -0.2], atol=1e-5)
    np.testing.assert_allclose(raw["cycle_start_nights"], [6.0, 0.0, 6.0, 6.0])  # 2nd: none valid
    for name, values in raw.items():
        assert np.all(np.isfinite(values)), name


def test_full_pass_z_scores(transformed):
    rows, raw = transformed
    assert len(rows) == 4
    # Beam does not promise order: match rows to instances by cycle day (distinct, and z-scoring
    # keeps its order)
    rows = sorted(rows, key=lambda r: r["cycle_day"][0])
    order = np.argsort(raw["cycle_day"])
    raw = {k: v[order] for k, v in raw.items()}
    for name in ("skin_temp_delta", "days_to_expected_ovulation", "cycle_day"):
        got = np.array([r[name] for r in rows], dtype=float).ravel()
        want = (raw[name] - raw[name].mean()) / raw[name].std()
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert [r[fc.LABEL_KEY][0] for r in rows] == [0, 1, 0, 0]  # cycle days 3, 10, 20, 25
    from transforms.preprocessing import SEQUENCE_FEATURES

    assert set(rows[0]) == set(raw) | set(SEQUENCE_FEATURES) | {fc.LABEL_KEY}


def test_scaled_sequences_stay_zero_on_invalid_nights(transformed):
    from transforms.preprocessing import SEQUENCE_LENGTH, SEQUENCE_VALID, SEQUENCE_VALUES

    rows, _ = transformed
    for row in rows:
        valid = np.array(row[SEQUENCE_VALID])
        assert valid.shape == (SEQUENCE_LENGTH,) and valid[-1] == 1.0  # tonight is valid
        for name in SEQUENCE_VALUES:
            value = np.array(row[name])
            assert np.all(np.isfinite(value)) and np.all(value[valid == 0] == 0.0), name
    by_day = {round(r["seq_night_cycle_day"][-1] * 10): r for r in rows}  # scaled by 1/10
    # cycle day 10: 34.5 tonight against a 34.0 history, the only non-zero skin temperature
    temps = np.array(by_day[10]["seq_skin_temp"])
    assert temps[-1] > 0 and np.all(temps[:-1] == 0.0)
    # cycle day 3 has no valid history: every statistic is 0, tonight's too
    assert np.all(np.array(by_day[3]["seq_skin_temp"]) == 0.0)
