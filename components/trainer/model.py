"""The Trainer's model: a small Keras network on the tf.Transform outputs, and its ``run_fn``.

The network reads the scaled scalar features (per-user baselines, cycle timing) through a small
feed-forward network, and the last 28 nights and tonight as a sequence through a GRU (nights marked
invalid are zeroed, so they cannot move the output). Why this model: MODEL.md.

TFX's Trainer calls ``run_fn`` (referenced by dotted path, not copied as a module file). The
exported SavedModel carries the tf.Transform graph, so its signatures take raw nightly features.
Uses ``tf_keras`` (Keras 2), the Keras that TFX 1.16 and tf.Transform's layers are built on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow picks its Keras

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras as keras  # noqa: E402
from tensorflow.python.framework import config as tf_config  # noqa: E402
from tfx.components.trainer.fn_args_utils import FnArgs  # noqa: E402

from components.trainer.signatures import make_serving_signatures  # noqa: E402
from components.trainer.warmup import write_warmup_requests  # noqa: E402
from transforms import features as fc  # noqa: E402
from transforms import preprocessing as pp  # noqa: E402
from transforms.serving_request import schema_ranges  # noqa: E402

# Chosen on the train split's user-grouped cross-validation and the eval split (MODEL.md,
# ``python -m benchmarks.model_comparison``): with 56 training users the network overfits, so it is
# small, drops out and learns slowly over the pipeline's 1500 steps.
DEFAULT_HPARAMS = {
    # a GRU over the nightly sequence (transforms.preprocessing.SEQUENCE_FEATURES); 0: none, the
    # network then reads the scalar features only (the model shipped before issue 14)
    "sequence_units": 8,
    "hidden_units": [32, 16],
    "dropout": 0.3,
    # networks trained with their own seeds and averaged (1: a single network)
    "ensemble_size": 1,
    "learning_rate": 1e-3,
    "batch_size": 128,
    # 1.0 keeps the probability calibrated; the decision threshold (0.5 by default) sets the
    # operating point between sensitivity and specificity.
    "positive_weight": 1.0,
    "decision_threshold": 0.5,
}
# The network shipped before issue 14, kept for the model comparison (benchmarks/model_comparison).
PREVIOUS_HPARAMS = {
    **DEFAULT_HPARAMS,
    "sequence_units": 0,
    "dropout": 0.0,
    "ensemble_size": 1,
    "learning_rate": 3e-3,
}
SHUFFLE_BUFFER = 16_384  # records; the default data's whole train split fits in it
DEFAULT_SEED = 42  # pipeline.config.TrainingConfig.seed's default, for a run_fn called without one


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and TensorFlow's generators and make TensorFlow's ops deterministic.

    Op determinism is what makes the same inputs give the same bits: kernels and tf.data no
    longer let thread timing choose the order of floating-point additions or of elements. It
    is a process-wide switch, so it is put back on exit: under the LocalDagRunner the
    components after the Trainer run in this process and keep their own settings.
    """
    was_enabled = tf_config.is_op_determinism_enabled()  # tf.config exports only the enabler
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def model_input_names(tf_transform_output: tft.TFTransformOutput) -> list[str]:
    """The transformed features the model reads: all of Transform's outputs but the label."""
    return sorted(k for k in tf_transform_output.transformed_feature_spec() if k != fc.LABEL_KEY)


def split_input_names(names: list[str]) -> tuple[list[str], list[str]]:
    """The scalar features and the nightly sequences (``pp.SEQUENCE_FEATURES``) among ``names``."""
    sequences = [n for n in names if n.startswith(pp.SEQUENCE_PREFIX)]
    return [n for n in names if n not in sequences], sequences


def resolve_hparams(overrides: dict | None = None) -> dict:
    """``DEFAULT_HPARAMS`` with ``overrides``, whole numbers where a count is meant.

    The pipeline's config passes hyperparameters as floats; a tuner's as its own types.
    """
    hparams = {**DEFAULT_HPARAMS, **(overrides or {})}
    hparams["sequence_units"] = int(hparams["sequence_units"])
    hparams["ensemble_size"] = max(1, int(hparams["ensemble_size"]))
    hparams["batch_size"] = int(hparams["batch_size"])
    hparams["hidden_units"] = [int(u) for u in hparams["hidden_units"]]
    return hparams


def _sequence_encoding(inputs: dict[str, keras.Input], units: int):
    """A GRU over the nights, each night's statistics zeroed where ``seq_valid`` is 0.

    The model zeroes them itself (the transform already does): whatever an invalid night's slot
    holds, the output cannot depend on it.
    """
    valid = inputs[pp.SEQUENCE_VALID]
    channels = [keras.layers.Multiply(name=f"masked_{n}")([inputs[n], valid])
                for n in pp.SEQUENCE_VALUES]
    channels += [valid] + [inputs[n] for n in pp.SEQUENCE_TIMING]
    stacked = keras.layers.Concatenate(axis=-1, name="nights")(
        [keras.layers.Reshape((pp.SEQUENCE_LENGTH, 1))(c) for c in channels])
    return keras.layers.GRU(units, name="night_sequence")(stacked)


def build_model(input_names: list[str], hparams: dict) -> keras.Model:
    """P(fertile tonight) from the scaled scalar features and, if any, the nightly sequence.

    The scalar features feed a small feed-forward network; with ``sequence_units`` > 0 a GRU's
    summary of the nightly sequence joins them. Dropout after each hidden layer.
    """
    hparams = resolve_hparams(hparams)
    scalar_names, sequence_names = split_input_names(input_names)
    inputs = {name: keras.Input(shape=(1,), name=name, dtype=tf.float32) for name in scalar_names}
    use_sequence = hparams["sequence_units"] > 0 and set(pp.SEQUENCE_FEATURES) <= set(
        sequence_names)
    if use_sequence:
        inputs.update({name: keras.Input(shape=(pp.SEQUENCE_LENGTH,), name=name, dtype=tf.float32)
                       for name in pp.SEQUENCE_FEATURES})
    parts = [inputs[n] for n in scalar_names]
    if use_sequence:
        parts.append(_sequence_encoding(inputs, hparams["sequence_units"]))
    x = keras.layers.Concatenate()(parts)
    for units in hparams["hidden_units"]:
        x = keras.layers.Dense(units, activation="relu")(x)
        if hparams["dropout"] > 0:
            x = keras.layers.Dropout(hparams["dropout"])(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(hparams["learning_rate"]),
        loss=keras.losses.BinaryCrossentropy(),
        weighted_metrics=[keras.metrics.AUC(name="auc")],
    )
    return model


def example_files(patterns: list[str] | str) -> list[str]:
    """The files of file patterns (TFX passes a split as ``.../Split-train/*``), in name order."""
    patterns = [patterns] if isinstance(patterns, str) else patterns
    return sorted({f for p in patterns for f in tf.io.gfile.glob(p)})


def make_dataset(files: list[str], tf_transform_output: tft.TFTransformOutput, batch_size: int,
                 positive_weight: float, seed: int, shuffle: bool = True,
                 repeat: bool = True) -> tf.data.Dataset:
    """Transformed examples as (features, label, weight) batches in a seeded order.

    Repeated without end unless ``repeat`` is False (one pass, for a full evaluation).

    Files are read one after another in name order and records shuffled with the run's own seed
    (an unseeded shuffle would hang on the global seed plus how many random ops came before), so
    the order depends on nothing but the files and the seed: the Trainer and the model comparison
    (benchmarks/model_comparison.py) see the very same batches.
    """
    spec = tf_transform_output.transformed_feature_spec()
    compression = "GZIP" if files and all(f.endswith(".gz") for f in files) else None
    dataset = tf.data.TFRecordDataset(files, compression_type=compression)
    if shuffle:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        label = tf.cast(tf.reshape(features.pop(fc.LABEL_KEY), [-1, 1]), tf.float32)
        features = {k: tf.reshape(v, [-1, 1]) if len(v.shape) == 1 else v
                    for k, v in features.items()}
        weight = 1.0 + (positive_weight - 1.0) * label
        return features, label, weight

    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size).map(parse)


def member_seed(seed: int, member: int) -> int:
    """The seed of one ensemble member: the run's own for the first."""
    return seed + 1000 * member


def average(members: list[keras.Model]) -> keras.Model:
    """One model whose probability is the mean of the members' (the same inputs)."""
    if len(members) == 1:
        return members[0]
    inputs = {name: keras.Input(shape=t.shape[1:], name=name, dtype=t.dtype)
              for name, t in members[0].input.items()}
    output = keras.layers.Average(name="probability")([m(inputs) for m in members])
    return keras.Model(inputs=inputs, outputs=output)


def train_model(train_files: list[str], eval_files: list[str],
                tf_transform_output: tft.TFTransformOutput, hparams: dict, seed: int,
                train_steps: int, eval_steps: int) -> keras.Model:
    """Build and train the model: the same files, hyperparameters and seed give the same weights.

    With ``ensemble_size`` > 1, that many networks are trained, each with its own seed
    (``member_seed``: its own initial weights, dropout and order of batches), and averaged.
    """
    hparams = resolve_hparams(hparams)
    names = model_input_names(tf_transform_output)
    members = []
    for member in range(hparams["ensemble_size"]):
        member_seed_ = member_seed(seed, member)
        with deterministic(member_seed_):
            train = make_dataset(train_files, tf_transform_output, hparams["batch_size"],
                                 hparams["positive_weight"], member_seed_)
            evaluation = make_dataset(eval_files, tf_transform_output, hparams["batch_size"],
                                      hparams["positive_weight"], member_seed_, shuffle=False)
            model = build_model(names, hparams)
            model.fit(train, steps_per_epoch=train_steps, validation_data=evaluation,
                      validation_steps=eval_steps, verbose=0)
        members.append(model)
    return average(members)


def tuned_hparams(fn_args: FnArgs) -> dict:
    """The Tuner component's best hyperparameters, when the Trainer was given them."""
    if not getattr(fn_args, "hyperparameters", None):
        return {}
    import keras_tuner

    config = fn_args.hyperparameters
    hp = (keras_tuner.HyperParameters.from_config(config) if "space" in config
          else keras_tuner.HyperParameters())
    values = dict(hp.values) if "space" in config else dict(config.get("values", config))
    return hparams_from_tuner_values(values)


def hparams_from_tuner_values(values: dict) -> dict:
    """The model's hyperparameters from a tuner's flat values (``hidden_units_0``...)."""
    out = {k: v for k, v in values.items() if k in DEFAULT_HPARAMS}
    if "hidden_layers" in values:
        out["hidden_units"] = [int(values[f"hidden_units_{i}"])
                               for i in range(int(values["hidden_layers"]))]
    return out


def run_fn(fn_args: FnArgs) -> None:
    """Train on Transform's output and export a SavedModel whose signatures take raw features.

    The same Transform output, code and ``custom_config["seed"]`` give the same weights.
    Hyperparameters: ``DEFAULT_HPARAMS``, then the Tuner's best (if wired), then the config's.
    """
    custom_config = fn_args.custom_config or {}
    hparams = resolve_hparams({**tuned_hparams(fn_args), **custom_config.get("hparams", {})})
    seed = int(custom_config.get("seed", DEFAULT_SEED))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model = train_model(example_files(fn_args.train_files), example_files(fn_args.eval_files),
                        tf_transform_output, hparams, seed, fn_args.train_steps,
                        fn_args.eval_steps)
    signatures = make_serving_signatures(model, tf_transform_output,
                                         hparams["decision_threshold"])
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
    write_warmup_requests(fn_args.serving_model_dir,
                          custom_config.get("model_name", "cyclecast"),
                          schema_ranges(tf_transform_output.raw_metadata.schema))
