"""The benchmark's peers compute the same nightly features and tf.Examples as the feature job."""

from __future__ import annotations

import pytest

from benchmarks.feature_peers import floor_features, pandas_features, raw_files
from components.nightly_features.night import extract_features, parse_rows
from tests.bench_data import bench_dataset
from transforms.raw_format import decode_raw


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bench_dataset(tmp_path_factory)


def test_peers_compute_the_same_nightly_features(data):
    files = raw_files(str(data))[:5]
    assert files
    for path in files:
        with open(path, "rb") as f:
            want = extract_features(parse_rows(decode_raw(f.read())).columns)
        for peer in (pandas_features, floor_features):
            got = peer(path)
            assert got.keys() == want.keys()
            for name in want:
                assert got[name] == pytest.approx(want[name], abs=1e-6), (peer.__name__, name)


def test_examples_without_tensorflow_are_byte_identical_to_tensorflow_s(data):
    """The feature job builds tf.Examples from a private proto; TensorFlow's must agree."""
    from tensorflow.core.example import example_pb2

    from benchmarks.plain_baseline import nightly_examples
    from transforms import example_proto
    from transforms.tf_example import to_serialized_example

    rows = [
        e for split in nightly_examples(str(data), b"test-salt-0123456789").values() for e in split
    ]
    assert rows
    ours = [to_serialized_example(e) for e in rows]
    original = example_proto.example_class
    try:
        example_proto.example_class = lambda: example_pb2.Example
        theirs = [to_serialized_example(e) for e in rows]
    finally:
        example_proto.example_class = original
    assert ours == theirs
