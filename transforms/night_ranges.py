"""The schema's ranges as a rule on one user-night: the night is usable only inside them.

``schema/schema.pbtxt`` is the one source of the ranges. TFDV applies them to a whole dataset
(ExampleValidator), where one user's odd night is an anomaly of the whole night's statistics; here
the same ``float_domain``/``int_domain`` bounds decide, per user-night and at ingest, whether the
night's own figures (tonight's nightly statistics and quality hours) are usable. A night outside
them is invalid with ``OUT_OF_RANGE`` and a detail naming the feature, the value and the bound, like
any night that fails the night rules: it is quarantined, gets no example and no request, and the
rest of the fleet is not held back. The online path applies the same rule before the model.

Reads the schema with protobuf's text format and tensorflow_metadata: no TensorFlow import.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path

from transforms import features as fc

# The invalid-night reason (raw_format.NightInvalid's vocabulary) for a night outside the schema.
OUT_OF_RANGE = "feature_out_of_range"
# The figures a single upload determines: checked per night. History, cycle day and the previous
# cycle lengths are built from nights and cycle rows that passed their own rules.
NIGHT_FEATURES: tuple[str, ...] = fc.NIGHTLY_FEATURES + fc.QUALITY_FEATURES

Ranges = Mapping[str, tuple[float | None, float | None]]


def _read_schema(path: str):
    """A text-format schema from a local path or, through Beam's file systems, a remote URI."""
    from transforms.serving_request import load_schema

    if "://" not in path:
        return load_schema(path)
    from apache_beam.io.filesystems import FileSystems
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with FileSystems.open(path) as f:
        return text_format.Parse(f.read().decode(), schema_pb2.Schema())


@functools.lru_cache(maxsize=4)
def _ranges_of(path: str) -> tuple[tuple[str, float | None, float | None], ...]:
    from transforms.serving_request import schema_ranges

    ranges = schema_ranges(_read_schema(path))
    missing = [name for name in NIGHT_FEATURES if name not in ranges]
    if missing:
        raise ValueError(f"{path}: no float_domain for the night feature(s) {', '.join(missing)}")
    return tuple((name, *ranges[name]) for name in NIGHT_FEATURES)


def night_ranges(schema_path: str | Path | None = None) -> dict[str, tuple]:
    """``{feature: (min, max)}`` of the night features from a schema file (the project's when None).

    The pipeline passes its configured schema (``PipelineConfig.schema_file``), the one the gates
    read, so the ingest and the gates hold the same ranges.
    """
    from transforms.serving_request import DEFAULT_SCHEMA

    return {name: (low, high) for name, low, high in _ranges_of(str(schema_path or DEFAULT_SCHEMA))}


def out_of_range(values: Mapping[str, float], ranges: Ranges) -> str | None:
    """The first night feature outside its range, as ``feature value < min`` text; None if none.

    Checked in ``NIGHT_FEATURES`` order; a NaN is outside every range.
    """
    for name in NIGHT_FEATURES:
        if name not in values or name not in ranges:
            continue
        value = float(values[name])
        low, high = ranges[name]
        if math.isnan(value):
            return f"{name} is NaN"
        if low is not None and value < low:
            return f"{name} {value:.4g} < {low:g} (the schema's minimum)"
        if high is not None and value > high:
            return f"{name} {value:.4g} > {high:g} (the schema's maximum)"
    return None


def feature_of(detail: str) -> str:
    """The feature an ``out_of_range`` detail names (its first word)."""
    return detail.split(" ", 1)[0]
