"""TFX's Tuner component with ``tuner_fn`` on the session's Transform output, and its best
hyperparameters as the Trainer reads them.
"""

from __future__ import annotations

import pytest


def tune(pipeline_root, out) -> tuple[dict, list]:
    """TFX's Tuner executor with ``tuner_fn`` on the root's Transform output (2 short trials)."""
    import json
    from pathlib import Path

    from google.protobuf import json_format
    from tfx.components.tuner.executor import Executor
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts

    from tests.e2e.test_deterministic_training import transform_outputs

    examples, transform_graph = transform_outputs(pipeline_root)
    best = standard_artifacts.HyperParameters()
    best.uri = str(out / "best")
    results = standard_artifacts.TunerResults()
    results.uri = str(out / "results")
    for artifact in (best, results):
        Path(artifact.uri).mkdir(parents=True, exist_ok=True)
    executor = Executor(Executor.Context(tmp_dir=str(out / "tmp"), unique_id="tune"))
    executor.Do(
        {"examples": [examples], "transform_graph": [transform_graph]},
        {"best_hyperparameters": [best], "tuner_results": [results]},
        {
            "tuner_fn": "components.trainer.tuner.tuner_fn",
            "train_args": json_format.MessageToJson(trainer_pb2.TrainArgs(num_steps=20)),
            "eval_args": json_format.MessageToJson(trainer_pb2.EvalArgs(num_steps=2)),
            "custom_config": json.dumps({"seed": 42, "max_trials": 2}),
        },
    )
    best_config = json.loads((out / "best" / "best_hyperparameters.txt").read_text())
    trials = json.loads((out / "results" / "tuner_results.json").read_text())
    return best_config, trials


@pytest.mark.e2e
def test_the_tuner_component_searches_reproducibly_and_the_trainer_reads_its_best(
        pipeline_runs, tmp_path):
    from pathlib import Path

    from components.trainer.model import resolve_hparams, tuned_hparams

    root = Path(pipeline_runs[0].pipeline_root)
    best, trials = tune(root, tmp_path / "first")
    again, trials_again = tune(root, tmp_path / "again")
    assert len(trials) == 2 and all(0.0 < t["score"] <= 1.0 for t in trials)
    # same seed, same search: the same hyperparameters tried in the same order. (The trials'
    # scores matched to the last digit run alone, but not in the whole suite's process: not
    # claimed here; the Trainer's own determinism is tests/e2e/test_deterministic_training.py.)
    def tried(ts):
        return [{k: v for k, v in t.items() if k != "score"} for t in ts]

    assert tried(trials) == tried(trials_again)
    assert set(best["values"]) == set(again["values"])

    class Args:
        hyperparameters = best

    hparams = resolve_hparams(tuned_hparams(Args()))
    assert hparams["sequence_units"] in (0, 8, 16)
    assert len(hparams["hidden_units"]) == best["values"]["hidden_layers"]
