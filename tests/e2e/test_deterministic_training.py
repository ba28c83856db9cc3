"""Deterministic training: the same Transform output, code and seed give the same model.

The Trainer's ``run_fn`` is run through TFX's own Trainer executor on one Transform output of the
session's pipeline history, twice with one seed and once with another; the weights and the
probabilities ``serving_default`` serves must match bit for bit. A second whole pipeline run on
the same data in a fresh workdir must then give the first run's evaluation figures exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import pipeline_config

TRAIN_STEPS = 50
SEED = 42


def transform_outputs(pipeline_root):
    """Transform's transformed examples (train and eval) and graph, as artifacts of a run."""
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(only_artifact(pipeline_root, "Transform", "transformed_examples"))
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    transform_graph = standard_artifacts.TransformGraph()
    transform_graph.uri = str(only_artifact(pipeline_root, "Transform", "transform_graph"))
    return examples, transform_graph


def only_artifact(pipeline_root: Path, component: str, output: str) -> Path:
    """The one artifact directory of a component's output (the session's runs made one)."""
    (uri,) = sorted((pipeline_root / component / output).iterdir())
    return uri


def train(pipeline_root: Path, model_uri: Path, seed: int) -> Path:
    """Run the pipeline's ``run_fn`` through TFX's Trainer executor on the root's Transform output.

    Returns the exported serving model's directory.
    """
    from google.protobuf import json_format
    from tfx.components.trainer.executor import GenericExecutor
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils

    from pipeline.pipeline import RUN_FN

    examples, transform_graph = transform_outputs(pipeline_root)
    model = standard_artifacts.Model()
    model.uri = str(model_uri)
    model_run = standard_artifacts.ModelRun()
    model_run.uri = str(model_uri.with_name(model_uri.name + "_run"))
    GenericExecutor().Do(
        {"examples": [examples], "transform_graph": [transform_graph]},
        {"model": [model], "model_run": [model_run]},
        {
            "run_fn": RUN_FN,
            "train_args": json_format.MessageToJson(trainer_pb2.TrainArgs(num_steps=TRAIN_STEPS)),
            "eval_args": json_format.MessageToJson(trainer_pb2.EvalArgs(num_steps=2)),
            "custom_config": json.dumps({"seed": seed}),
        },
    )
    return Path(path_utils.serving_model_dir(str(model_uri)))


def raw_eval_examples(pipeline_root: Path) -> list[bytes]:
    """The eval split's serialized raw examples, as the feature job wrote them."""
    import tensorflow as tf

    split = only_artifact(pipeline_root, "NightlyFeatureGen", "examples") / "Split-eval"
    files = sorted(str(p) for p in split.iterdir())
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def weights(model_dir: Path) -> list[np.ndarray]:
    """The trained model's weights, layer by layer (names differ: Keras numbers each load's)."""
    import tf_keras as keras

    return keras.models.load_model(model_dir).get_weights()


def served_probabilities(model_dir: Path, serialized: list[bytes]) -> np.ndarray:
    """P(fertile) from the exported ``serving_default`` signature, as TF Serving would run it."""
    import tensorflow as tf

    from transforms.serving_request import EXAMPLES_INPUT, PROBABILITY, SERVING_SIGNATURE

    serve = tf.saved_model.load(str(model_dir)).signatures[SERVING_SIGNATURE]
    return serve(**{EXAMPLES_INPUT: tf.constant(serialized)})[PROBABILITY].numpy()


@pytest.fixture(scope="module")
def trained(pipeline_runs, tmp_path_factory):
    """Serving model dirs: two trainings with ``SEED`` and one with another seed; the examples."""
    cfg = pipeline_runs[0]
    root = Path(cfg.pipeline_root)
    out = tmp_path_factory.mktemp("deterministic")
    first = train(root, out / "first", SEED)
    again = train(root, out / "again", SEED)
    other_seed = train(root, out / "other_seed", SEED + 1)
    return first, again, other_seed, raw_eval_examples(root)


@pytest.mark.e2e
def test_the_same_seed_trains_the_same_weights(trained):
    first, again, other_seed, _ = trained
    a, b, c = weights(first), weights(again), weights(other_seed)
    assert a and [w.shape for w in a] == [w.shape for w in b]
    for i, (wa, wb) in enumerate(zip(a, b, strict=True)):
        assert np.array_equal(wa, wb), f"weight {i} differs between two trainings"
    # the comparison can tell models apart: another seed is another model
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c, strict=True))


@pytest.mark.e2e
def test_the_same_seed_serves_the_same_probabilities(trained):
    first, again, other_seed, examples = trained
    p_first = served_probabilities(first, examples)
    p_again = served_probabilities(again, examples)
    assert p_first.shape == (len(examples), 1) and len(examples) > 50
    assert np.isfinite(p_first).all() and p_first.std() > 0.05  # a model that learned something
    assert np.array_equal(p_first, p_again)
    assert not np.array_equal(p_first, served_probabilities(other_seed, examples))


@pytest.mark.e2e
def test_a_second_pipeline_run_in_a_fresh_workdir_gives_the_same_figures(pipeline_runs, tmp_path):
    from pipeline.orchestration.local_runner import run_local
    from pipeline.runs.summary import summarize_run

    cfg, first, _, _ = pipeline_runs
    fresh = pipeline_config(tmp_path / "work", Path(cfg.data_root))
    again = summarize_run(fresh.metadata_path, fresh.pipeline_name, run_local(fresh))
    assert again.examples == first.examples
    assert again.candidate == first.candidate and first.candidate["auc"] > 0.6
    assert again.calendar == first.calendar
