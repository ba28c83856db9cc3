"""The preprocessing graph's sequences: relative to her baseline, zero on invalid nights.

Unit tests on hand-made raw tensors, no tf.Transform pipeline: that one is
tests/e2e/test_preprocessing.py.
"""

from __future__ import annotations

import numpy as np

from transforms import features as fc

N = fc.HISTORY_NIGHTS


def raw_nights(n: int) -> dict:
    """Raw serving features for ``n`` nights (the tf.Transform input), some history invalid."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    out = {}
    for name in fc.NIGHTLY_FEATURES:
        base = {"skin_temp": 34.0, "heart_rate": 58.0, "heart_rate_p10": 52.0,
                "hrv_rmssd": 45.0, "breathing_rate": 15.0, "perfusion": 1.0}[name]
        out[name] = tf.constant(base + rng.normal(size=(n, 1)), tf.float32)
        out[fc.history_key(name)] = tf.constant(base + rng.normal(size=(n, N)), tf.float32)
    mask = (rng.random((n, N)) > 0.3).astype(np.int64)
    out[fc.HISTORY_MASK] = tf.constant(mask)
    out[fc.CYCLE_DAY] = tf.constant(rng.integers(1, 30, size=(n, 1)))
    out[fc.PREV_CYCLE_COUNT] = tf.constant(np.full((n, 1), 2))
    out[fc.PREV_CYCLE_LENGTHS] = tf.constant(
        np.tile([28.0, 30.0] + [0.0] * (fc.PREV_CYCLES - 2), (n, 1)), tf.float32)
    return out


def test_the_sequences_are_relative_to_her_baseline_and_zero_on_invalid_nights():
    import tensorflow as tf

    from transforms.preprocessing import engineered_features, sequence_features

    raw = dict(raw_nights(1))
    raw["skin_temp"] = tf.constant([[34.5]])
    raw[fc.history_key("skin_temp")] = tf.constant([[34.0] * (N - 1) + [99.0]])
    raw[fc.HISTORY_MASK] = tf.constant([[1] * (N - 1) + [0]], tf.int64)
    raw[fc.CYCLE_DAY] = tf.constant([[10]], tf.int64)
    seq = {k: v.numpy()[0] for k, v in sequence_features(raw).items()}
    np.testing.assert_allclose(seq["seq_skin_temp"], [0.0] * N + [0.5], atol=1e-5)
    np.testing.assert_array_equal(seq["seq_valid"], [1.0] * (N - 1) + [0.0, 1.0])
    np.testing.assert_array_equal(seq["seq_night_cycle_day"], np.arange(10 - N, 11))
    np.testing.assert_array_equal(seq["seq_in_current_cycle"], np.arange(10 - N, 11) >= 1)
    # calendar: mean length 29 -> ovulation estimate day 15
    np.testing.assert_allclose(seq["seq_days_to_expected_ovulation"], 15 - np.arange(10 - N, 11))
    # an invalid night's slot changes neither the sequences nor the scalar features
    other = dict(raw)
    other[fc.history_key("skin_temp")] = tf.constant([[34.0] * (N - 1) + [-5.0]])
    for fn in (sequence_features, engineered_features):
        a, b = fn(raw), fn(other)
        for name in a:
            np.testing.assert_array_equal(a[name].numpy(), b[name].numpy(), err_msg=name)


def test_no_history_gives_zero_sequences_not_nan():
    import tensorflow as tf

    from transforms.preprocessing import SEQUENCE_VALUES, sequence_features

    raw = dict(raw_nights(3))
    raw[fc.HISTORY_MASK] = tf.zeros((3, N), tf.int64)
    seq = sequence_features(raw)
    for name in SEQUENCE_VALUES:
        assert np.all(seq[name].numpy() == 0.0), name
