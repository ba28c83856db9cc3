"""``cyclecast predict``: score nights against TF Serving (REST or gRPC) or a SavedModel in-process.

The three targets receive the same request: serialized tf.Examples of the raw serving features for
``serving_default``. ``--local`` runs that request in this process, exactly as the server would.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from components.serving_layout import resolve_model_dir
from transforms.serving_request import (
    DECISION,
    EXAMPLES_INPUT,
    PROBABILITY,
    SERVING_SIGNATURE,
    BadRequest,
    load_schema,
    night_from_example,
    predict_request,
    rest_body,
    schema_ranges,
    serving_example,
)


class ServingError(RuntimeError):
    """The server (or the local model) refused the request; the message is its answer."""


@dataclass
class Prediction:
    """One night's answer."""

    probability: float
    fertile: bool


def build_requests(nights: list[dict], schema_path: str | None = None) -> list[bytes]:
    """Validate nights against the schema's ranges and serialise them (BadRequest on errors)."""
    ranges = schema_ranges(load_schema(schema_path) if schema_path else load_schema())
    return [serving_example(night, ranges) for night in nights]


def check_scorable(nights: list[dict]) -> None:
    """Refuse, as the batch path does, nights it would not score (``BadRequest``).

    A night with fewer than ``MIN_HISTORY_FOR_PREDICTION`` valid nights among its previous 28
    gets no prediction in batch (``too_little_history``, the per-user baselines the model reads
    are not there yet), so it gets none here either. ``nights`` are validated serving nights.
    """
    from components.nightly_features.user_history import (
        MIN_HISTORY_FOR_PREDICTION,
        NotScored,
        too_little_history,
    )
    from transforms.features import HISTORY_MASK, HISTORY_NIGHTS

    for i, night in enumerate(nights):
        mask = night[HISTORY_MASK]
        if too_little_history(mask):
            which = f"night {i + 1} of {len(nights)}" if len(nights) > 1 else "the night"
            raise BadRequest(
                f"{which} can't be scored: {NotScored.HISTORY} ({sum(mask)} valid night(s) "
                f"among the previous {HISTORY_NIGHTS} in {HISTORY_MASK}; the batch path scores "
                f"a night with at least {MIN_HISTORY_FOR_PREDICTION})"
            )


def nights_from_examples(pattern: str, limit: int) -> list[dict]:
    """Serving nights taken from TFRecord examples (e.g. the pipeline's eval split)."""
    from transforms.tf_example import read_examples

    rows = read_examples(pattern, limit)
    if not rows:
        raise FileNotFoundError(f"no examples match {pattern}")
    return [night_from_example(r) for r in rows]


def _predictions(probability, decision) -> list[Prediction]:
    return [Prediction(float(p), bool(d)) for p, d in zip(probability, decision, strict=True)]


_BAD_REQUEST = re.compile(r"bad request: [^\]\n]*")


def model_error_text(message: str) -> str:
    """The line of a TensorFlow error that names the broken rule.

    The exported graph checks every value against the schema's ranges with messages starting
    ``bad request:`` (``components/trainer/signatures.py``); TensorFlow wraps them in a message
    whose first line is only ``Graph execution error:``. Falls back to the first line that says
    more than that.
    """
    found = _BAD_REQUEST.search(message)
    if found:  # TensorFlow prints the message's apostrophes escaped
        return found.group(0).strip().replace("\\'", "'")
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    telling = [line for line in lines if line != "Graph execution error:"]
    return (telling or lines or [message])[0]


def predict_local(model_dir: str, serialized: list[bytes]) -> list[Prediction]:
    """Run ``serving_default`` of the SavedModel in this process."""
    import tensorflow as tf

    model = tf.saved_model.load(resolve_model_dir(model_dir))
    try:
        out = model.signatures[SERVING_SIGNATURE](**{EXAMPLES_INPUT: tf.constant(serialized)})
    except tf.errors.InvalidArgumentError as e:
        raise ServingError(model_error_text(e.message)) from e
    return _predictions(out[PROBABILITY].numpy().ravel(), out[DECISION].numpy().ravel())


def predict_rest(
    url: str, model_name: str, serialized: list[bytes], timeout: float = 10.0
) -> list[Prediction]:
    """POST TF Serving's ``/v1/models/<name>:predict`` and parse its row-format answer."""
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    data = json.dumps(rest_body(serialized)).encode()
    request = urllib.request.Request(
        endpoint, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:
            body = json.loads(body).get("error", body)
        except ValueError:
            pass
        raise ServingError(f"{endpoint} answered {e.code}: {body}") from e
    except urllib.error.URLError as e:
        raise ServingError(f"cannot reach {endpoint}: {e.reason}") from e
    rows = answer.get("predictions")
    if not isinstance(rows, list) or len(rows) != len(serialized):
        raise ServingError(f"unexpected answer from {endpoint}: {str(answer)[:200]}")
    return [Prediction(float(_first(r[PROBABILITY])), bool(_first(r[DECISION]))) for r in rows]


def _first(value):
    return value[0] if isinstance(value, list) else value


def predict_grpc(
    target: str, model_name: str, serialized: list[bytes], timeout: float = 10.0
) -> list[Prediction]:
    """Call TF Serving's gRPC ``PredictionService/Predict``."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(predict_request(serialized, model_name), timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(f"{target} answered {e.code().name}: {e.details()}") from e
    probability = tf.make_ndarray(response.outputs[PROBABILITY]).ravel()
    decision = tf.make_ndarray(response.outputs[DECISION]).ravel()
    return _predictions(probability, decision)


def log_requests(directory: str, serialized: list[bytes]) -> str:
    """Append a request batch to the request log (gzip TFRecords of tf.Examples) for skew checks."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"requests-{time.time_ns()}.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in serialized:
            writer.write(record)
    return path
