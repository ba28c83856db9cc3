"""The tf.Example message classes without importing TensorFlow.

``tensorflow.core.example.example_pb2`` can only be imported through the ``tensorflow`` package,
which costs seconds in every process that builds examples (each Beam worker included). The wire
format is all that matters for a serialized tf.Example, so this module declares the same messages
(``tensorflow/core/example/{feature,example}.proto``: same field numbers, types and packing) in a
private descriptor pool and serialises them with the protobuf runtime TensorFlow uses too. The
bytes are identical to TensorFlow's (checked in ``tests/unit/benchmarks/test_feature_peers.py``).
"""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "cyclecast.tfexample"  # a private pool: no clash when TensorFlow is imported as well
_F = descriptor_pb2.FieldDescriptorProto


def _field(
    msg,
    name: str,
    number: int,
    kind: int,
    label: int = _F.LABEL_OPTIONAL,
    type_name: str = "",
    oneof: int | None = None,
) -> None:
    f = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = f".{_PACKAGE}.{type_name}"
    if oneof is not None:
        f.oneof_index = oneof
    if kind in (_F.TYPE_FLOAT, _F.TYPE_INT64) and label == _F.LABEL_REPEATED:
        f.options.packed = True


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="cyclecast/tfexample.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, kind in (
        ("BytesList", _F.TYPE_BYTES),
        ("FloatList", _F.TYPE_FLOAT),
        ("Int64List", _F.TYPE_INT64),
    ):
        _field(fd.message_type.add(name=name), "value", 1, kind, _F.LABEL_REPEATED)
    feature = fd.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, name in enumerate(("BytesList", "FloatList", "Int64List"), start=1):
        snake = {"BytesList": "bytes_list", "FloatList": "float_list", "Int64List": "int64_list"}
        _field(feature, snake[name], number, _F.TYPE_MESSAGE, type_name=name, oneof=0)
    features = fd.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name="Feature")
    _field(
        features,
        "feature",
        1,
        _F.TYPE_MESSAGE,
        _F.LABEL_REPEATED,
        type_name="Features.FeatureEntry",
    )
    _field(
        fd.message_type.add(name="Example"), "features", 1, _F.TYPE_MESSAGE, type_name="Features"
    )
    return fd


@cache
def example_class() -> type:
    """The ``Example`` message class (wire-compatible with ``tensorflow.Example``)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Example"))
