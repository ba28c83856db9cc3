"""The exported model's signatures: raw features in, the tf.Transform graph inside.

``serving_default`` takes serialized tf.Examples of the raw serving features (no label), the way
TF Serving's ``:predict`` and TFMA call it; ``transform_features`` exposes the transform itself.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from transforms import features as fc

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PROBABILITY = "probability"
DECISION = "fertile"


def serving_feature_spec(tf_transform_output: tft.TFTransformOutput) -> dict:
    """The raw feature spec the app sends: ``features.SERVING_FEATURES``, no label, no ids."""
    spec = tf_transform_output.raw_feature_spec()
    return {name: spec[name] for name in fc.SERVING_FEATURES}


def make_serving_signatures(model, tf_transform_output: tft.TFTransformOutput,
                            decision_threshold: float) -> dict:
    """Build the signatures; the transform layer is tracked on the model so it is saved too."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    threshold = tf.constant(decision_threshold, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized):
        raw = tf.io.parse_example(serialized, serving_feature_spec(tf_transform_output))
        transformed = model.tft_layer(raw)
        probability = model(transformed)
        return {PROBABILITY: probability,
                DECISION: tf.cast(probability >= threshold, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        raw = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw)

    return {SERVING_SIGNATURE: serve, TRANSFORM_SIGNATURE: transform_features}
