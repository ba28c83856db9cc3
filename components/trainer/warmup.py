"""TF Serving's warm-up file: real PredictRequests replayed when a model version loads.

TF Serving reads ``assets.extra/tf_serving_warmup_requests`` (a TFRecord of PredictionLogs) before
it marks a version available, so the first user request does not pay for graph initialisation.
"""

from __future__ import annotations

import os

from transforms import features as fc
from transforms.serving_request import predict_request, serving_example

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def typical_nights(ranges: dict[str, tuple]) -> list[dict]:
    """Three plausible nights (early, mid and late cycle) at the middle of the schema's ranges."""
    nightly = {}
    for name in fc.NIGHTLY_FEATURES:
        low, high = ranges[name]
        nightly[name] = (low + high) / 2.0
    nights = []
    for cycle_day in (3, 14, 25):
        night = dict(nightly)
        for name in fc.NIGHTLY_FEATURES:
            night[fc.history_key(name)] = [nightly[name]] * fc.HISTORY_NIGHTS
        night[fc.HISTORY_MASK] = [1] * fc.HISTORY_NIGHTS
        night[fc.PREV_CYCLE_LENGTHS] = [28.0, 30.0, 29.0] + [0.0] * (fc.PREV_CYCLES - 3)
        night[fc.PREV_CYCLE_COUNT] = 3
        night[fc.CYCLE_DAY] = cycle_day
        nights.append(night)
    return nights


def write_warmup_requests(model_dir: str, model_name: str, ranges: dict[str, tuple]) -> str:
    """Write the warm-up file into an exported SavedModel directory; return its path."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    examples = [serving_example(night, ranges) for night in typical_nights(ranges)]
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for batch in (examples[:1], examples):  # one request of 1 and one of 3 nights
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(
                    request=predict_request(batch, model_name)))
            writer.write(log.SerializeToString())
    return path
