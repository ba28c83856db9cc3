"""The Trainer's model: its inputs and outputs, masking of invalid nights, seeded datasets.

Unit tests on hand-made tensors and a tiny hand-written Transform output: no pipeline run.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.model_inputs import (
    SCALARS,
    FakeTransformOutput,
    batch,
    sequence_names,
    write_transformed_files,
)


@pytest.fixture(scope="module")
def transformed_files(tmp_path_factory) -> list[str]:
    return write_transformed_files(tmp_path_factory)


def build(hparams: dict | None = None, seed: int = 3):
    import tf_keras as keras

    from components.trainer.model import build_model

    keras.utils.set_random_seed(seed)
    return build_model(sorted(SCALARS + sequence_names()), hparams or {})


def test_the_model_reads_every_scalar_and_sequence_and_outputs_one_probability():
    from transforms.preprocessing import SEQUENCE_LENGTH

    model = build()
    shapes = {i.name: tuple(i.shape) for i in model.inputs}
    assert shapes == {**{n: (None, 1) for n in SCALARS},
                      **{n: (None, SEQUENCE_LENGTH) for n in sequence_names()}}
    assert [layer.name for layer in model.layers if "gru" in type(layer).__name__.lower()] == [
        "night_sequence"]
    p = model.predict(batch(16), verbose=0)
    assert p.shape == (16, 1)
    assert np.all((p > 0) & (p < 1))


def test_without_sequence_units_the_model_reads_the_scalars_only():
    model = build({"sequence_units": 0, "dropout": 0.0})
    assert sorted(i.name for i in model.inputs) == sorted(SCALARS)
    assert not any("gru" in type(layer).__name__.lower() for layer in model.layers)
    # extra (sequence) features in the request are ignored, as the serving signature passes all
    assert model.predict(batch(4), verbose=0).shape == (4, 1)


def test_a_night_marked_invalid_does_not_change_the_output():
    from transforms.preprocessing import SEQUENCE_VALID, SEQUENCE_VALUES

    model = build()
    x = batch(32)
    before = model.predict(x, verbose=0)
    changed = {k: v.copy() for k, v in x.items()}
    invalid = x[SEQUENCE_VALID] == 0
    assert invalid.any()
    for name in SEQUENCE_VALUES:
        changed[name][invalid] += 100.0
    np.testing.assert_array_equal(model.predict(changed, verbose=0), before)
    # the same change on valid nights does move it: the test can see a change
    moved = {k: v.copy() for k, v in x.items()}
    for name in SEQUENCE_VALUES:
        moved[name][~invalid] += 1.0
    assert not np.array_equal(model.predict(moved, verbose=0), before)


def test_the_dataset_order_depends_on_the_seed_only(transformed_files):
    from components.trainer.model import make_dataset

    def first_labels(seed: int) -> np.ndarray:
        data = make_dataset(transformed_files, FakeTransformOutput(), 50, 1.0, seed)
        _, label, weight = next(iter(data))
        assert np.all(weight.numpy() == 1.0)
        return next(iter(data))[0]["skin_temp_delta"].numpy()

    np.testing.assert_array_equal(first_labels(1), first_labels(1))
    assert not np.array_equal(first_labels(1), first_labels(2))
    one_pass = make_dataset(transformed_files, FakeTransformOutput(), 64, 1.0, 0,
                            shuffle=False, repeat=False)
    assert sum(int(b[1].shape[0]) for b in one_pass) == 300


def test_positive_weight_weighs_fertile_nights(transformed_files):
    from components.trainer.model import make_dataset

    _, label, weight = next(iter(make_dataset(transformed_files, FakeTransformOutput(), 100,
                                              1.5, 0)))
    np.testing.assert_array_equal(weight.numpy(), np.where(label.numpy() == 1, 1.5, 1.0))


def test_deterministic_seeds_the_draws_and_puts_op_determinism_back():
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    from components.trainer.model import deterministic

    assert not tf_config.is_op_determinism_enabled()
    draws = []
    for _ in range(2):
        with deterministic(7):
            assert tf_config.is_op_determinism_enabled()
            draws.append(tf.random.uniform([4]).numpy())
    assert np.array_equal(draws[0], draws[1])
    # later components in the LocalDagRunner's process are left as they were
    assert not tf_config.is_op_determinism_enabled()
