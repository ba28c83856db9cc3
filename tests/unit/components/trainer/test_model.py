"""The Trainer's model: its inputs and outputs, masking of invalid nights, seeded training, tuning.

Unit tests on hand-made tensors and a tiny hand-written Transform output: no pipeline run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from transforms import features as fc  # noqa: E402

N = fc.HISTORY_NIGHTS
SCALARS = ["cycle_day", "days_to_expected_ovulation", "heart_rate_delta", "skin_temp_delta"]


def sequence_names() -> list[str]:
    from transforms.preprocessing import SEQUENCE_FEATURES

    return list(SEQUENCE_FEATURES)


def batch(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Transformed model inputs for ``n`` nights: random values, some nights invalid."""
    from transforms.preprocessing import SEQUENCE_LENGTH, SEQUENCE_VALID

    rng = np.random.default_rng(seed)
    out = {name: rng.normal(size=(n, 1)).astype(np.float32) for name in SCALARS}
    for name in sequence_names():
        out[name] = rng.normal(size=(n, SEQUENCE_LENGTH)).astype(np.float32)
    valid = (rng.random((n, SEQUENCE_LENGTH)) > 0.3).astype(np.float32)
    valid[:, -1] = 1.0  # tonight is always valid
    out[SEQUENCE_VALID] = valid
    return out


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


class FakeTransformOutput:
    """The one method ``train_model`` asks of a TFTransformOutput: the transformed spec."""

    def transformed_feature_spec(self):
        import tensorflow as tf

        from transforms.preprocessing import SEQUENCE_LENGTH

        spec = {n: tf.io.FixedLenFeature([], tf.float32) for n in SCALARS}
        spec.update({n: tf.io.FixedLenFeature([SEQUENCE_LENGTH], tf.float32)
                     for n in sequence_names()})
        spec[fc.LABEL_KEY] = tf.io.FixedLenFeature([], tf.int64)
        return spec


@pytest.fixture(scope="module")
def transformed_files(tmp_path_factory) -> list[str]:
    """A tiny Transform output: 300 transformed examples in two gzip TFRecord files."""
    import tensorflow as tf

    x = batch(300, seed=5)
    label = (x["skin_temp_delta"][:, 0] + x["seq_heart_rate"][:, -1] > 0).astype(np.int64)
    out = tmp_path_factory.mktemp("transformed")
    files = []
    for part in range(2):
        path = str(out / f"transformed_examples-0000{part}-of-00002.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for i in range(part * 150, (part + 1) * 150):
                feature = {n: tf.train.Feature(float_list=tf.train.FloatList(
                    value=np.ravel(v[i]).tolist())) for n, v in x.items()}
                feature[fc.LABEL_KEY] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(label[i])]))
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=feature)).SerializeToString())
        files.append(path)
    return files


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


def test_the_tuners_defaults_are_the_shipped_hyperparameters():
    import keras_tuner

    from components.trainer.model import DEFAULT_HPARAMS, resolve_hparams
    from components.trainer.tuner import search_space

    hp = keras_tuner.HyperParameters()
    chosen = resolve_hparams(search_space(hp))
    assert chosen == resolve_hparams(DEFAULT_HPARAMS)
    assert {"sequence_units", "hidden_layers", "dropout", "learning_rate"} <= set(hp.values)


def test_run_fn_takes_the_tuners_best_hyperparameters():
    import keras_tuner

    from components.trainer.model import tuned_hparams
    from components.trainer.tuner import search_space

    hp = keras_tuner.HyperParameters()
    search_space(hp)
    hp.values.update({"sequence_units": 16, "hidden_layers": 1, "hidden_units_0": 64})

    class Args:
        hyperparameters = hp.get_config()  # what TFX's Tuner writes and the Trainer passes

    assert tuned_hparams(Args()) == {"sequence_units": 16, "hidden_units": [64], "dropout": 0.3,
                                     "learning_rate": 1e-3}

    class NoTuner:
        hyperparameters = None

    assert tuned_hparams(NoTuner()) == {}


def tune(pipeline_root, out) -> tuple[dict, list]:
    """TFX's Tuner executor with ``tuner_fn`` on the root's Transform output (2 short trials)."""
    import json
    from pathlib import Path

    from google.protobuf import json_format
    from tfx.components.tuner.executor import Executor
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts

    from tests.e2e.test_deterministic_training import transform_outputs

    examples, transform_graph = transform_outputs(pipeline_root)
    best = standard_artifacts.HyperParameters()
    best.uri = str(out / "best")
    results = standard_artifacts.TunerResults()
    results.uri = str(out / "results")
    for artifact in (best, results):
        Path(artifact.uri).mkdir(parents=True, exist_ok=True)
    executor = Executor(Executor.Context(tmp_dir=str(out / "tmp"), unique_id="tune"))
    executor.Do(
        {"examples": [examples], "transform_graph": [transform_graph]},
        {"best_hyperparameters": [best], "tuner_results": [results]},
        {
            "tuner_fn": "components.trainer.tuner.tuner_fn",
            "train_args": json_format.MessageToJson(trainer_pb2.TrainArgs(num_steps=20)),
            "eval_args": json_format.MessageToJson(trainer_pb2.EvalArgs(num_steps=2)),
            "custom_config": json.dumps({"seed": 42, "max_trials": 2}),
        },
    )
    best_config = json.loads((out / "best" / "best_hyperparameters.txt").read_text())
    trials = json.loads((out / "results" / "tuner_results.json").read_text())
    return best_config, trials


@pytest.mark.e2e
def test_the_tuner_component_searches_reproducibly_and_the_trainer_reads_its_best(
        pipeline_runs, tmp_path):
    from pathlib import Path

    from components.trainer.model import resolve_hparams, tuned_hparams

    root = Path(pipeline_runs[0].pipeline_root)
    best, trials = tune(root, tmp_path / "first")
    again, trials_again = tune(root, tmp_path / "again")
    assert len(trials) == 2 and all(0.0 < t["score"] <= 1.0 for t in trials)
    # same seed, same search: the same hyperparameters tried in the same order. (The trials'
    # scores matched to the last digit run alone, but not in the whole suite's process: not
    # claimed here; the Trainer's own determinism is tests/e2e/test_deterministic_training.py.)
    def tried(ts):
        return [{k: v for k, v in t.items() if k != "score"} for t in ts]

    assert tried(trials) == tried(trials_again)
    assert set(best["values"]) == set(again["values"])

    class Args:
        hyperparameters = best

    hparams = resolve_hparams(tuned_hparams(Args()))
    assert hparams["sequence_units"] in (0, 8, 16)
    assert len(hparams["hidden_units"]) == best["values"]["hidden_layers"]
