"""TFX Tuner support: ``tuner_fn`` searches the Trainer model's hyperparameters with keras-tuner.

TFX's Tuner component calls ``tuner_fn`` (by dotted path, ``components.trainer.tuner.tuner_fn``)
on Transform's output, runs the search it returns and writes the best hyperparameters; a Trainer
given them (``hyperparameters=tuner.outputs["best_hyperparameters"]``) trains with them
(``model.run_fn`` reads ``fn_args.hyperparameters``), the config's own ``hparams`` still on top.

The search is seeded (keras-tuner's random draws) and every trial trains under the same
determinism as the Trainer (``model.deterministic``), so one Transform output, code and seed give
the same trials and the same best hyperparameters. The objective is the AUC over one full pass of
the eval split.

``custom_config``: ``seed`` (the run's), ``max_trials`` (default ``MAX_TRIALS``).
"""

from __future__ import annotations

import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from components.trainer import model as trainer

MAX_TRIALS = 12
PROJECT = "cyclecast_tuning"


def search_space(hp: keras_tuner.HyperParameters) -> dict:
    """Declare the search space on ``hp``; return the model's hyperparameters for this trial."""
    layers = hp.Int("hidden_layers", 1, 2, default=2)
    values = {
        "sequence_units": hp.Choice("sequence_units", [0, 8, 16], default=8),
        "hidden_layers": layers,
        "dropout": hp.Choice("dropout", [0.0, 0.2, 0.3, 0.5], default=0.3),
        "learning_rate": hp.Choice("learning_rate", [3e-4, 1e-3, 3e-3], default=1e-3),
    }
    for i in range(layers):
        values[f"hidden_units_{i}"] = hp.Choice(f"hidden_units_{i}", [16, 32, 64],
                                                default=(32, 16)[i])
    return trainer.hparams_from_tuner_values(values)


class SeededRandomSearch(keras_tuner.RandomSearch):
    """Random search whose trials train like the Trainer: seeded, under op determinism.

    Each trial is built and fitted here rather than by keras-tuner's own ``run_trial``: that one
    builds Keras 3 models and passes Keras 3 callbacks (checkpointing each trial), which the
    tf_keras model TFX 1.16 trains cannot take. A trial's score is its ``val_auc`` after training;
    no trial model is kept (the Tuner's output is the best hyperparameters).
    """

    def __init__(self, *args, training_seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.training_seed = training_seed

    def run_trial(self, trial, *args, **kwargs):
        """Train one trial's model with the run's seed; return its eval metrics."""
        with trainer.deterministic(self.training_seed):
            model = self.hypermodel.build(trial.hyperparameters)
            history = model.fit(*args, **kwargs)
        return {name: float(values[-1]) for name, values in history.history.items()}


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """The search TFX's Tuner runs: the Trainer's model, data, steps and seed; best eval AUC."""
    custom_config = fn_args.custom_config or {}
    seed = int(custom_config.get("seed", trainer.DEFAULT_SEED))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    names = trainer.model_input_names(tf_transform_output)
    base = trainer.resolve_hparams(custom_config.get("hparams", {}))

    def build(hp: keras_tuner.HyperParameters):
        return trainer.build_model(names, {**base, **search_space(hp)})

    tuner = SeededRandomSearch(
        build,
        objective=keras_tuner.Objective("val_auc", direction="max"),
        max_trials=int(custom_config.get("max_trials", MAX_TRIALS)),
        seed=seed,
        training_seed=seed,
        directory=fn_args.working_dir,
        project_name=PROJECT,
    )
    # Not searched: positive_weight and the decision threshold. They set the operating point,
    # which the AUC objective cannot see; they stay the config's (MODEL.md on choosing them).
    train = trainer.make_dataset(trainer.example_files(fn_args.train_files), tf_transform_output,
                                 base["batch_size"], base["positive_weight"], seed)
    evaluation = trainer.make_dataset(trainer.example_files(fn_args.eval_files),
                                      tf_transform_output, base["batch_size"], 1.0, seed,
                                      shuffle=False, repeat=False)
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train,
            "validation_data": evaluation,
            "steps_per_epoch": fn_args.train_steps,
            "epochs": 1,
            "verbose": 0,
        },
    )
