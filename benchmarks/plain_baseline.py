"""The pipeline's work as one plain script with no TFX: the benchmark's yardstick for TFX overhead.

Raw files -> nightly examples (the same feature code as NightlyFeatureGen: ``process_raw_file``,
``parse_cycle_line``, ``build_user_examples``, ``split_for_user``, in a plain loop instead of Beam)
-> the same engineered features (``transforms.preprocessing.engineered_features``) z-scored with
the training split's mean and variance (what ``tft.scale_to_z_score`` computes in Transform) -> the
same Keras model (``components.trainer.model.build_model``: its scalar half, the nightly sequences
left out; same hyperparameters, steps and seed)
-> the same metrics on the eval split (AUC, and sensitivity/specificity at the decision threshold,
with the calendar rule beside them).

Left out, because TFX adds them and a plain script would not: statistics, schema validation and the
anomaly gate, the export with the transform graph, the blessing and the push.
"""

from __future__ import annotations

import glob
import os
import time
from collections import defaultdict

import numpy as np

from transforms import features as fc
from transforms import raw_format as rf

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the Keras the Trainer's model is built with


def nightly_examples(
    data_root: str, salt: bytes, split_buckets: dict[str, int] | None = None
) -> dict[str, list[dict[str, list]]]:
    """Every labelled nightly example of a data root, by split, built by the feature job's code."""
    from components.nightly_features.beam_job import DEFAULT_SPLITS
    from components.nightly_features.records import (
        BadCycleRow,
        parse_cycle_line,
        process_raw_file,
    )
    from components.nightly_features.user_history import (
        build_user_examples,
        pseudonymise,
        split_for_user,
    )

    buckets = dict(split_buckets or DEFAULT_SPLITS)
    root = data_root.rstrip("/")
    rules = rf.NightRules()
    nights = defaultdict(list)
    for path in sorted(glob.glob(f"{root}/{rf.NIGHTS_GLOB}")):
        with open(path, "rb") as f:
            outcome = process_raw_file(path[len(root) + 1 :], f.read(), rules)
        if outcome.user_id is not None:
            nights[outcome.user_id].append(outcome)
    cycles = defaultdict(list)
    with open(f"{root}/{rf.CYCLES_FILE}") as f:
        for line in f.readlines()[1:]:
            if line.strip():
                try:
                    row = parse_cycle_line(line)
                except BadCycleRow:
                    continue
                cycles[row.user_id].append(row)
    out: dict[str, list[dict[str, list]]] = {s: [] for s in buckets}
    for user_id in sorted(nights):
        result = build_user_examples(
            user_id, nights[user_id], cycles[user_id], pseudonymise(user_id, salt)
        )
        out[split_for_user(user_id, buckets)].extend(result.examples)
    return out


def to_arrays(examples: list[dict[str, list]]) -> dict[str, np.ndarray]:
    """Numeric features of examples as [n, length] arrays (float32 or int64), the label included."""
    spec = fc.example_spec()
    return {
        name: np.array(
            [e[name] for e in examples], dtype=np.float32 if s.dtype == "float" else np.int64
        ).reshape(len(examples), s.length)
        for name, s in spec.items()
        if s.dtype != "bytes"
    }


def engineered(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The derived model inputs before scaling: ``preprocessing.engineered_features``, eagerly."""
    import tensorflow as tf

    from transforms.preprocessing import engineered_features

    tensors = {name: tf.constant(value) for name, value in arrays.items()}
    return {name: t.numpy() for name, t in engineered_features(tensors).items()}


def z_scores(train: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Mean and (population) variance of each training feature, as tf.Transform's analyzers."""
    return {name: (float(v.mean()), float(v.var())) for name, v in train.items()}


def scale(features: dict[str, np.ndarray], stats: dict[str, tuple[float, float]]) -> dict:
    """Z-score each feature with the training statistics (zero variance: centred only)."""
    out = {}
    for name, value in features.items():
        mean, var = stats[name]
        centred = value - mean
        out[name] = (centred / np.sqrt(var) if var > 0 else centred).astype(np.float32)[:, None]
    return out


def run_plain(
    data_root: str,
    salt: bytes,
    train_steps: int,
    eval_steps: int,
    seed: int = 42,
    log=None,
) -> dict:
    """Do the pipeline's work in one process; return seconds by stage, example counts, metrics."""
    import tensorflow as tf

    from components.calendar_rule import binary_metrics, score_examples
    from components.trainer.model import DEFAULT_HPARAMS, build_model
    from pipeline.serving.evaluate import auc

    def note(stage: str) -> None:
        if log is not None:
            log.write(f"plain script: {stage} ({time.perf_counter() - started:.0f} s)\n")
            log.flush()

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    examples = nightly_examples(data_root, salt)
    seconds["features"] = time.perf_counter() - started
    note("features")

    t = time.perf_counter()
    arrays = {split: to_arrays(rows) for split, rows in examples.items() if rows}
    train_raw = engineered(arrays["train"])
    stats = z_scores(train_raw)
    train_x = scale(train_raw, stats)
    eval_x = scale(engineered(arrays["eval"]), stats)
    seconds["transform"] = time.perf_counter() - t
    note("transform")

    t = time.perf_counter()
    # the scalar features only: this baseline does not compute the nightly sequences, so the
    # network's sequence branch (components.trainer.model) is left out
    hparams = {**DEFAULT_HPARAMS, "sequence_units": 0}
    tf.keras.utils.set_random_seed(seed)

    def dataset(x: dict, labels: np.ndarray) -> tf.data.Dataset:
        y = labels.astype(np.float32)
        weight = 1.0 + (hparams["positive_weight"] - 1.0) * y
        return (
            tf.data.Dataset.from_tensor_slices((x, y, weight))
            .shuffle(10_000, seed=seed)
            .repeat()
            .batch(hparams["batch_size"])
        )

    model = build_model(sorted(train_x), hparams)
    model.fit(
        dataset(train_x, arrays["train"][fc.LABEL_KEY]),
        steps_per_epoch=train_steps,
        validation_data=dataset(eval_x, arrays["eval"][fc.LABEL_KEY]),
        validation_steps=eval_steps,
        verbose=0,
    )
    seconds["train"] = time.perf_counter() - t
    note("train")

    t = time.perf_counter()
    labels = arrays["eval"][fc.LABEL_KEY][:, 0]
    probability = model.predict(eval_x, batch_size=1024, verbose=0)[:, 0]
    metrics = binary_metrics(labels, probability >= hparams["decision_threshold"])
    metrics["auc"] = auc(labels, probability)
    calendar = score_examples(examples["eval"])
    seconds["evaluate"] = time.perf_counter() - t
    note("evaluate")
    return {
        "stages": seconds,
        "examples": {split: len(rows) for split, rows in examples.items()},
        "metrics": metrics,
        "calendar": calendar,
    }

