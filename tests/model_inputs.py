"""Model inputs the Trainer's unit tests and its training tests share: no pipeline run.

Transformed inputs for a batch of nights, a stand-in TFTransformOutput and a tiny Transform output
written to gzip TFRecord files.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from transforms import features as fc  # noqa: E402

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


def write_transformed_files(tmp_path_factory) -> list[str]:
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
