"""The exported model's signatures: raw features in, the tf.Transform graph inside.

- ``serving_default`` takes serialized tf.Examples of the raw serving features (no label), the way
  TF Serving's ``:predict`` with ``{"b64": ...}`` instances, gRPC clients and TFMA call it;
- ``predict_raw`` takes the same raw features as named tensors, for JSON clients;
- ``transform_features`` takes serialized training examples and returns tf.Transform's output.

Every request is checked in the graph against the schema's ranges, so a bad value gets an error
naming the feature instead of a quiet NaN or nonsense prediction.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from transforms import features as fc
from transforms.serving_request import (
    DECISION,
    EXAMPLES_INPUT,
    PROBABILITY,
    RAW_SIGNATURE,
    SERVING_SIGNATURE,
    TRANSFORM_SIGNATURE,
    schema_ranges,
)


def serving_feature_spec(tf_transform_output: tft.TFTransformOutput) -> dict:
    """The raw feature spec the app sends: ``features.SERVING_FEATURES``, no label, no ids."""
    spec = tf_transform_output.raw_feature_spec()
    return {name: spec[name] for name in fc.SERVING_FEATURES}


def checked_features(features: dict[str, tf.Tensor], ranges: dict) -> dict[str, tf.Tensor]:
    """Return ``features`` gated by assertions: finite values within the schema's ranges."""
    checks = []
    for name, value in sorted(features.items()):
        if value.dtype.is_floating:
            checks.append(tf.debugging.assert_all_finite(
                value, message=f"bad request: {name} has a NaN or infinite value"))
        low, high = ranges.get(name, (None, None))
        if low is not None:
            checks.append(tf.debugging.assert_greater_equal(
                value, tf.cast(low, value.dtype),
                message=f"bad request: {name} is below {low}, the schema's minimum"))
        if high is not None:
            checks.append(tf.debugging.assert_less_equal(
                value, tf.cast(high, value.dtype),
                message=f"bad request: {name} is above {high}, the schema's maximum"))
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in features.items()}


def make_serving_signatures(model, tf_transform_output: tft.TFTransformOutput,
                            decision_threshold: float) -> dict:
    """Build the signatures; the transform layer is tracked on the model so it is saved too."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    threshold = tf.constant(decision_threshold, tf.float32)
    ranges = schema_ranges(tf_transform_output.raw_metadata.schema)
    spec = serving_feature_spec(tf_transform_output)
    names = sorted(spec)

    def predict(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        probability = model(model.tft_layer(checked_features(raw, ranges)))
        return {PROBABILITY: probability,
                DECISION: tf.cast(probability >= threshold, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve(serialized):
        return predict(tf.io.parse_example(serialized, spec))

    def serve_raw(*tensors):
        return predict(dict(zip(names, tensors, strict=True)))

    raw_signature = tf.function(serve_raw, input_signature=[
        tf.TensorSpec([None, spec[n].shape[0]], spec[n].dtype, name=n) for n in names])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def transform_features(serialized):
        raw = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw)

    return {SERVING_SIGNATURE: serve, RAW_SIGNATURE: raw_signature,
            TRANSFORM_SIGNATURE: transform_features}
