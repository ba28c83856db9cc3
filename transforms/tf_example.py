"""Serialise a nightly example (a dict of feature lists) as a tf.Example checked by the contract.

Building an example needs no TensorFlow (``example_proto``): the Beam job's workers never import it.
Reading examples back (``read_examples``, for tests and reports) does.
"""

from __future__ import annotations

from transforms import features as fc


def to_serialized_example(
    example: dict[str, list], spec: dict[str, fc.FeatureSpec] | None = None
) -> bytes:
    """Return the serialized tf.Example; raise ValueError if a feature is missing or misshapen.

    ``spec`` defaults to the full training example (``features.example_spec()``); pass
    ``features.serving_spec()`` for a serving request.
    """
    from transforms.example_proto import example_class

    spec = spec or fc.example_spec()
    missing = sorted(set(spec) - set(example))
    extra = sorted(set(example) - set(spec))
    if missing or extra:
        raise ValueError(f"example does not match the contract: missing {missing}, extra {extra}")
    ex = example_class()()
    for name, fs in spec.items():
        values = example[name]
        if len(values) != fs.length:
            raise ValueError(f"{name}: expected {fs.length} values, got {len(values)}")
        feature = ex.features.feature[name]
        if fs.dtype == "float":
            feature.float_list.value.extend(values)
        elif fs.dtype == "int":
            feature.int64_list.value.extend(values)
        else:
            feature.bytes_list.value.extend(values)
    return ex.SerializeToString()


def read_examples(file_pattern: str, limit: int | None = None) -> list[dict[str, list]]:
    """Read gzip TFRecords of tf.Examples back into feature dicts (for tests and small reports).

    ``limit`` stops after that many examples (files in name order), so nothing more is decoded.
    """
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    out = []
    files = sorted(tf.io.gfile.glob(file_pattern))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if limit is not None:
        records = records.take(limit)
    for record in records.as_numpy_iterator():
        ex = example_pb2.Example.FromString(record)
        row = {}
        for name, feature in ex.features.feature.items():
            kind = feature.WhichOneof("kind")
            row[name] = list(getattr(feature, kind).value) if kind else []
        out.append(row)
    return out
