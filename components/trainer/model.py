"""The Trainer's model: a small Keras network on the tf.Transform outputs, and its ``run_fn``.

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
from tfx_bsl.public import tfxio  # noqa: E402

from components.trainer.signatures import make_serving_signatures  # noqa: E402
from components.trainer.warmup import write_warmup_requests  # noqa: E402
from transforms import features as fc  # noqa: E402
from transforms.serving_request import schema_ranges  # noqa: E402

DEFAULT_HPARAMS = {
    "hidden_units": [32, 16],
    "learning_rate": 3e-3,
    "batch_size": 128,
    # 1.0 keeps the probability calibrated; the decision threshold (0.5 by default) sets the
    # operating point between sensitivity and specificity.
    "positive_weight": 1.0,
    "decision_threshold": 0.5,
}
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


def build_model(input_names: list[str], hparams: dict) -> keras.Model:
    """A feed-forward network over the scaled features, ending in P(fertile tonight)."""
    inputs = {name: keras.Input(shape=(1,), name=name, dtype=tf.float32) for name in input_names}
    x = keras.layers.Concatenate()(list(inputs.values()))
    for units in hparams["hidden_units"]:
        x = keras.layers.Dense(units, activation="relu")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(hparams["learning_rate"]),
        loss=keras.losses.BinaryCrossentropy(),
        weighted_metrics=[keras.metrics.AUC(name="auc")],
    )
    return model


def _dataset(files: list[str], fn_args: FnArgs, tf_transform_output: tft.TFTransformOutput,
             batch_size: int, positive_weight: float, seed: int) -> tf.data.Dataset:
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size,
        label_key=fc.LABEL_KEY,
        # Shuffled (file order and records), but by the run's own seed: left unseeded, the order
        # would hang on the global seed plus how many random ops were made before this one.
        shuffle=True,
        shuffle_seed=seed,
        # parallel reads, but their records in file order, not in the order threads finish
        sloppy_ordering=False,
    )
    dataset = fn_args.data_accessor.tf_dataset_factory(
        files, options, tf_transform_output.transformed_metadata.schema
    )

    def weigh(features, label):
        label = tf.cast(label, tf.float32)
        weight = 1.0 + (positive_weight - 1.0) * label
        return features, label, weight

    return dataset.map(weigh)


def run_fn(fn_args: FnArgs) -> None:
    """Train on Transform's output and export a SavedModel whose signatures take raw features.

    The same Transform output, code and ``custom_config["seed"]`` give the same weights.
    """
    custom_config = fn_args.custom_config or {}
    hparams = {**DEFAULT_HPARAMS, **custom_config.get("hparams", {})}
    seed = int(custom_config.get("seed", DEFAULT_SEED))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    names = model_input_names(tf_transform_output)
    with deterministic(seed):
        train = _dataset(fn_args.train_files, fn_args, tf_transform_output,
                         hparams["batch_size"], hparams["positive_weight"], seed)
        evaluation = _dataset(fn_args.eval_files, fn_args, tf_transform_output,
                              hparams["batch_size"], hparams["positive_weight"], seed)
        model = build_model(names, hparams)
        model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evaluation,
                  validation_steps=fn_args.eval_steps, verbose=0)
    signatures = make_serving_signatures(model, tf_transform_output,
                                         hparams["decision_threshold"])
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
    write_warmup_requests(fn_args.serving_model_dir,
                          custom_config.get("model_name", "cyclecast"),
                          schema_ranges(tf_transform_output.raw_metadata.schema))
