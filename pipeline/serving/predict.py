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
    """One night's answer, and the model version that gave it when known."""

    probability: float
    fertile: bool
    model_version: str | None = None


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


def _predictions(probability, decision, version: str | None = None) -> list[Prediction]:
    return [
        Prediction(float(p), bool(d), version)
        for p, d in zip(probability, decision, strict=True)
    ]


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


@dataclass
class LoadedModel:
    """A SavedModel loaded in this process, and its version (the folder's name)."""

    version: str
    model: object  # what ``tf.saved_model.load`` returned; it holds ``serving_default``


def load_model(model_dir: str) -> LoadedModel:
    """Load a SavedModel, or the version in service under a TF Serving base path."""
    import tensorflow as tf

    path = resolve_model_dir(model_dir)
    return LoadedModel(os.path.basename(os.path.normpath(path)), tf.saved_model.load(path))


def predict_loaded(loaded: LoadedModel, serialized: list[bytes]) -> list[Prediction]:
    """Run ``serving_default`` of a model loaded in this process."""
    import tensorflow as tf

    signature = loaded.model.signatures[SERVING_SIGNATURE]
    try:
        out = signature(**{EXAMPLES_INPUT: tf.constant(serialized)})
    except tf.errors.InvalidArgumentError as e:
        raise ServingError(model_error_text(e.message)) from e
    probability, decision = out[PROBABILITY].numpy().ravel(), out[DECISION].numpy().ravel()
    return _predictions(probability, decision, loaded.version)


def predict_local(model_dir: str, serialized: list[bytes]) -> list[Prediction]:
    """Run ``serving_default`` of the SavedModel in this process (loaded for this call)."""
    return predict_loaded(load_model(model_dir), serialized)


def _rest_json(request: urllib.request.Request, timeout: float) -> dict:
    """TF Serving's JSON answer to a REST request (``ServingError`` naming its refusal)."""
    endpoint = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:
            body = json.loads(body).get("error", body)
        except ValueError:
            pass
        raise ServingError(f"{endpoint} answered {e.code}: {body}") from e
    except urllib.error.URLError as e:
        raise ServingError(f"cannot reach {endpoint}: {e.reason}") from e
    except (TimeoutError, ConnectionError) as e:  # after connecting: a timeout or a reset
        raise ServingError(f"{endpoint} did not answer: {e}") from e


def predict_rest(
    url: str, model_name: str, serialized: list[bytes], timeout: float = 10.0
) -> list[Prediction]:
    """POST TF Serving's ``/v1/models/<name>:predict`` and parse its row-format answer.

    The row-format answer does not say which version answered: see ``rest_model_version``.
    """
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    data = json.dumps(rest_body(serialized)).encode()
    request = urllib.request.Request(
        endpoint, data=data, headers={"Content-Type": "application/json"}
    )
    answer = _rest_json(request, timeout)
    rows = answer.get("predictions")
    if not isinstance(rows, list) or len(rows) != len(serialized):
        raise ServingError(f"unexpected answer from {endpoint}: {str(answer)[:200]}")
    return [Prediction(float(_first(r[PROBABILITY])), bool(_first(r[DECISION]))) for r in rows]


def rest_model_version(url: str, model_name: str, timeout: float = 10.0) -> str:
    """The version TF Serving serves (its model status API: the highest ``AVAILABLE`` one)."""
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}"
    status = _rest_json(urllib.request.Request(endpoint), timeout)
    available = [
        int(s["version"])
        for s in status.get("model_version_status", [])
        if s.get("state") == "AVAILABLE"
    ]
    if not available:
        raise ServingError(f"{endpoint} has no AVAILABLE version: {str(status)[:200]}")
    return str(max(available))


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
    spec = response.model_spec  # the version that answered
    version = str(spec.version.value) if spec.HasField("version") else None
    return _predictions(probability, decision, version)


def grpc_model_version(target: str, model_name: str, timeout: float = 10.0) -> str:
    """The version TF Serving serves, from its gRPC ``ModelService/GetModelStatus``."""
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model_name
    with grpc.insecure_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.GetModelStatus(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(f"{target} answered {e.code().name}: {e.details()}") from e
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    versions = [s.version for s in response.model_version_status if s.state == available]
    if not versions:
        raise ServingError(f"{target} has no AVAILABLE version of {model_name}")
    return str(max(versions))


def log_requests(directory: str, serialized: list[bytes]) -> str:
    """Append a request batch to the request log (gzip TFRecords of tf.Examples) for skew checks."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"requests-{time.time_ns()}.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in serialized:
            writer.write(record)
    return path
