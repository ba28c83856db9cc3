"""The candidates' building blocks: what a predictor is, and the Keras and tree learners.

A predictor trains on the train split and returns P(fertile) for the nights of a scored split.
The Keras ones go through the Trainer's own code (``components.trainer.model``): from
Transform's files as the pipeline's Trainer does, or from in-memory arrays (CV folds, the
multi-task experiment) with the same model, seed and order of batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.run_data import RunArtifacts, Split, scalar_matrix

EVAL_STEPS = 50


# A predictor trains on the train split (transformed files and in-memory arrays) and returns
# P(fertile) for the nights of the scored split.
Predictor = Callable[["Context", Split, Split], np.ndarray]


@dataclass
class Context:
    """What every predictor needs besides the data."""

    run: RunArtifacts
    tf_transform_output: object
    train_steps: int
    seed: int
    from_files: bool  # train from Transform's files, as the Trainer does (False inside CV folds)


def keras_candidate(overrides: dict) -> Predictor:
    """The Trainer's model with these hyperparameters (over ``DEFAULT_HPARAMS``)."""

    def predict(ctx: Context, train: Split, scored: Split) -> np.ndarray:
        from components.trainer import model as trainer

        hparams = trainer.resolve_hparams(overrides)
        if ctx.from_files:
            model = trainer.train_model(
                ctx.run.transformed_split("train"), ctx.run.transformed_split("eval"),
                ctx.tf_transform_output, hparams, ctx.seed, ctx.train_steps, EVAL_STEPS)
        else:
            model = train_on_arrays(train, ctx.tf_transform_output, hparams, ctx.seed,
                                    ctx.train_steps)
        inputs = {k: v for k, v in scored.features.items() if k in model.input_names}
        return model.predict(inputs, batch_size=4096, verbose=0)[:, 0]

    return predict


def array_batches(features: dict[str, np.ndarray], targets, weights, seed: int, batch_size: int):
    """In-memory arrays as endless shuffled batches, ordered by ``seed`` alone, as the Trainer's."""
    import tensorflow as tf

    from components.trainer import model as trainer

    return (tf.data.Dataset.from_tensor_slices((features, targets, weights))
            .shuffle(trainer.SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size))


def train_on_arrays(train: Split, tf_transform_output, hparams: dict, seed: int, steps: int):
    """``train_model``'s training on in-memory arrays (for CV folds): same model, seed, batches."""
    from components.trainer import model as trainer

    names = trainer.model_input_names(tf_transform_output)
    members = []
    for member in range(hparams["ensemble_size"]):
        member_seed = trainer.member_seed(seed, member)
        with trainer.deterministic(member_seed):
            label = train.label.astype(np.float32)[:, None]
            weight = 1.0 + (hparams["positive_weight"] - 1.0) * label
            data = array_batches(train.features, label, weight, member_seed,
                                 hparams["batch_size"])
            model = trainer.build_model(names, hparams)
            model.fit(data, steps_per_epoch=steps, verbose=0)
        members.append(model)
    return trainer.average(members)


def gbt_candidate(with_sequences: bool) -> Predictor:
    """scikit-learn's HistGradientBoostingClassifier as issue 14 ran it (300 rounds at 0.05)."""

    def predict(ctx: Context, train: Split, scored: Split) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                               random_state=ctx.seed)
        model.fit(scalar_matrix(train.features, with_sequences), train.label)
        return model.predict_proba(scalar_matrix(scored.features, with_sequences))[:, 1]

    return predict
