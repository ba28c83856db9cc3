"""The serving contract on the client side: check a night's raw features, build real requests.

A night is a dict of the ``features.SERVING_FEATURES`` (scalars for one-value features, lists for
the history). ``validate_night`` names every problem (missing, wrong type, wrong length, not
finite, outside the schema's range) before anything is sent; the model checks the same ranges in
its graph for clients that skip this. Requests are the real ``tensorflow_serving.apis`` messages and
TF Serving's REST body.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

from transforms import features as fc

# The exported model's signatures and their inputs and outputs (components/trainer/signatures.py).
SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"
TRANSFORM_SIGNATURE = "transform_features"
EXAMPLES_INPUT = "examples"
PROBABILITY = "probability"
DECISION = "fertile"

DEFAULT_SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "schema.pbtxt"


class BadRequest(ValueError):
    """A night's features can't be scored; the message lists every problem by feature."""


def load_schema(path: str | Path = DEFAULT_SCHEMA):
    """Read a text-format TFMD schema (no TensorFlow import)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def schema_ranges(schema) -> dict[str, tuple[float | None, float | None]]:
    """(min, max) of every feature with a float or int domain in a TFMD schema proto."""
    ranges = {}
    for feature in schema.feature:
        domain = None
        if feature.HasField("float_domain"):
            domain = feature.float_domain
        elif feature.HasField("int_domain"):
            domain = feature.int_domain
        if domain is not None:
            ranges[feature.name] = (domain.min if domain.HasField("min") else None,
                                    domain.max if domain.HasField("max") else None)
    return ranges


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def validate_night(night: dict, ranges: dict[str, tuple] | None = None) -> dict[str, list]:
    """Return the night as ``{feature: [values]}`` in the contract's types, or raise BadRequest."""
    problems: list[str] = []
    out: dict[str, list] = {}
    for name, spec in fc.serving_spec().items():
        if name not in night:
            problems.append(f"{name}: missing")
            continue
        values = _as_list(night[name])
        if len(values) != spec.length:
            problems.append(f"{name}: expected {spec.length} value(s), got {len(values)}")
            continue
        want_int = spec.dtype == "int"
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values) or (
            want_int and any(isinstance(v, float) and not v.is_integer() for v in values)
        ):
            kind = "whole numbers" if want_int else "numbers"
            problems.append(f"{name}: expected {kind}, got {night[name]!r}")
            continue
        if not want_int and not all(math.isfinite(v) for v in values):
            problems.append(f"{name}: NaN or infinite value")
            continue
        low, high = (ranges or {}).get(name, (None, None))
        if low is not None and min(values) < low:
            problems.append(f"{name}: {min(values)} is below the schema's minimum {low}")
        if high is not None and max(values) > high:
            problems.append(f"{name}: {max(values)} is above the schema's maximum {high}")
        out[name] = [int(v) for v in values] if want_int else [float(v) for v in values]
    unknown = sorted(set(night) - set(fc.SERVING_FEATURES) - set(fc.example_spec()))
    if unknown:
        problems.append(f"unknown feature(s): {', '.join(unknown)}")
    if problems:
        raise BadRequest("bad request:\n  " + "\n  ".join(problems))
    return out


def serving_example(night: dict, ranges: dict[str, tuple] | None = None) -> bytes:
    """Validate a night and serialise it as the tf.Example ``serving_default`` takes."""
    from transforms.tf_example import to_serialized_example

    return to_serialized_example(validate_night(night, ranges), spec=fc.serving_spec())


def night_from_example(example: dict[str, list]) -> dict:
    """The serving night inside a full training example (label and ids dropped)."""
    return {name: example[name][0] if spec.length == 1 else list(example[name])
            for name, spec in fc.serving_spec().items()}


def rest_body(serialized: list[bytes], signature: str = SERVING_SIGNATURE) -> dict:
    """TF Serving's REST ``:predict`` body for serialized examples (``{"b64": ...}``)."""
    return {"signature_name": signature,
            "instances": [{"b64": base64.b64encode(s).decode()} for s in serialized]}


def predict_request(serialized: list[bytes], model_name: str,
                    signature: str = SERVING_SIGNATURE, input_name: str = EXAMPLES_INPUT):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for serialized examples."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(serialized))]),
        string_val=serialized,
    )
    request.inputs[input_name].CopyFrom(tensor)
    return request
