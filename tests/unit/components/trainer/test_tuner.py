"""The Tuner's search space and the Trainer's reading of its best hyperparameters."""

from __future__ import annotations


def test_the_tuners_defaults_are_the_shipped_hyperparameters():
    import keras_tuner

    from components.trainer.model import DEFAULT_HPARAMS, resolve_hparams
    from components.trainer.tuner import search_space

    hp = keras_tuner.HyperParameters()
    chosen = resolve_hparams(search_space(hp))
    assert chosen == resolve_hparams(DEFAULT_HPARAMS)
    assert {"sequence_units", "hidden_layers", "dropout", "learning_rate"} <= set(hp.values)


def test_run_fn_takes_the_tuners_best_hyperparameters():
    import keras_tuner

    from components.trainer.model import tuned_hparams
    from components.trainer.tuner import search_space

    hp = keras_tuner.HyperParameters()
    search_space(hp)
    hp.values.update({"sequence_units": 16, "hidden_layers": 1, "hidden_units_0": 64})

    class Args:
        hyperparameters = hp.get_config()  # what TFX's Tuner writes and the Trainer passes

    assert tuned_hparams(Args()) == {"sequence_units": 16, "hidden_units": [64], "dropout": 0.3,
                                     "learning_rate": 1e-3}

    class NoTuner:
        hyperparameters = None

    assert tuned_hparams(NoTuner()) == {}
