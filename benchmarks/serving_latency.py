"""Serving latency: in-process ``serving_default`` against the bare Keras model it wraps."""

from __future__ import annotations

import os
import time


def percentiles_ms(times: list[float]) -> dict:
    """p50 and p99 of durations in seconds, in milliseconds."""
    import numpy as np

    return {
        "p50_ms": float(np.percentile(times, 50) * 1e3),
        "p99_ms": float(np.percentile(times, 99) * 1e3),
    }


def latency_and_throughput(fn, one, batch_of, repeats: int = 200) -> dict:
    """p50/p99 of ``fn(one)`` and inputs per second of ``fn(batch_of(n))`` for n = 1, 32, 1024."""
    for _ in range(10):
        fn(one)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(one)
        times.append(time.perf_counter() - started)
    out = percentiles_ms(times)
    for batch in (1, 32, 1024):
        data = batch_of(batch)
        fn(data)
        n = max(3, 2000 // batch)
        started = time.perf_counter()
        for _ in range(n):
            fn(data)
        out[f"batch_{batch}_per_s"] = batch * n / (time.perf_counter() - started)
    return out


def serving_latency(model_dir: str, example: dict[str, list]) -> dict:
    """``serving_default`` on one raw tf.Example against the bare Keras model on its features.

    The bare model gets what the in-graph transform would give it (computed once, beforehand, by
    the model's ``transform_features`` signature) as one dense tensor, and is called as a concrete
    function like the signature, so the difference is the price of parsing, checking and
    transforming in the graph.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras

    from transforms.serving_request import (
        EXAMPLES_INPUT,
        SERVING_SIGNATURE,
        TRANSFORM_SIGNATURE,
        night_from_example,
        serving_example,
    )
    from transforms.tf_example import to_serialized_example

    signatures = tf.saved_model.load(model_dir).signatures
    serve = signatures[SERVING_SIGNATURE]
    request = serving_example(night_from_example(example))

    def served(batch):
        return serve(**{EXAMPLES_INPUT: batch})

    out = {
        "serving": latency_and_throughput(
            served, tf.constant([request]), lambda n: tf.constant([request] * n)
        )
    }
    model = tf_keras.models.load_model(model_dir, compile=False)
    names = [t.name.split(":")[0] for t in model.inputs]
    transformed = signatures[TRANSFORM_SIGNATURE](
        **{EXAMPLES_INPUT: tf.constant([to_serialized_example(example)])}
    )
    # one dense [batch, features] tensor, split into the model's inputs inside the graph: the
    # call costs one tensor's dispatch, as the signature's does
    widths = [int(t.shape[-1]) for t in model.inputs]  # 1 per scalar, the nights per sequence
    one = tf.concat([tf.reshape(tf.cast(transformed[n], tf.float32), [1, w])
                     for n, w in zip(names, widths, strict=True)], 1)

    @tf.function(input_signature=[tf.TensorSpec([None, sum(widths)], tf.float32)])
    def bare(x):
        return model(dict(zip(names, tf.split(x, widths, axis=1), strict=True)))

    call = bare.get_concrete_function()
    out["bare_keras"] = latency_and_throughput(call, one, lambda k: tf.tile(one, [k, 1]))
    return out
