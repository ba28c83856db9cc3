"""The Trainer's model trained for real on a tiny Transform output: seeds and ensembles.

Each test trains the Keras model several times (about a minute): not a unit test.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.model_inputs import FakeTransformOutput, batch, write_transformed_files


@pytest.fixture(scope="module")
def transformed_files(tmp_path_factory) -> list[str]:
    return write_transformed_files(tmp_path_factory)


def trained_weights(files: list[str], seed: int) -> list[np.ndarray]:
    from components.trainer.model import train_model

    model = train_model(files, files, FakeTransformOutput(), {"batch_size": 32}, seed,
                        train_steps=30, eval_steps=2)
    return model.get_weights()


# trains the Keras model for real, several times (about a minute): not a unit test
@pytest.mark.e2e
def test_the_same_files_and_seed_train_the_same_weights(transformed_files):
    a = trained_weights(transformed_files, 7)
    b = trained_weights(transformed_files, 7)
    c = trained_weights(transformed_files, 8)
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c, strict=True))


# trains the Keras model for real, several times (about a minute): not a unit test
@pytest.mark.e2e
def test_an_ensemble_averages_members_trained_with_their_own_seeds(transformed_files):
    from components.trainer.model import member_seed, train_model

    def train(size: int, seed: int):
        return train_model(transformed_files, transformed_files, FakeTransformOutput(),
                           {"batch_size": 32, "ensemble_size": size}, seed, train_steps=10,
                           eval_steps=1)

    ensemble = train(2, 7)
    first, second = train(1, member_seed(7, 0)), train(1, member_seed(7, 1))
    x = batch(8, seed=9)
    p = [m.predict(x, verbose=0) for m in (ensemble, first, second)]
    np.testing.assert_allclose(p[0], (p[1] + p[2]) / 2, rtol=1e-6)
    assert not np.allclose(p[1], p[2])
