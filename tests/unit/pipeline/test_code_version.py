"""Code and schema fingerprints: each moves exactly when what its component reads changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.code_version import (
    COMPONENT_CODE,
    PROJECT_PACKAGES,
    code_fingerprints,
    import_closure,
    schema_fingerprint,
    source_fingerprint,
)
from pipeline.config import REPO_ROOT, SCHEMA_FILE


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the repository's sources and schema, to edit without touching the repository."""
    root = tmp_path / "repo"
    for folder in (*PROJECT_PACKAGES, "schema"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


def _edit(root: Path, rel: str) -> None:
    path = root / rel
    path.write_text(path.read_text() + "\n# an edit\n")


def _moved(root: Path, before: dict[str, str]) -> set[str]:
    after = code_fingerprints(root)
    return {name for name in before if after[name] != before[name]}


def test_a_copy_of_the_tree_has_the_repositorys_fingerprints(tree):
    assert code_fingerprints(tree) == code_fingerprints()
    assert set(code_fingerprints()) == set(COMPONENT_CODE) == {
        "NightlyFeatureGen", "Transform", "Trainer", "AnomalyGate", "DriftGate", "CalendarBaseline",
        "TrainingWindow", "NightlyPredictions", "Tuner", "Evaluator", "Pusher"}


# The feature job's Beam code (the drift gate reads only the quarantine's layout, not the job).
FEATURES = {"NightlyFeatureGen"}
# The Trainer's model, and the Tuner that searches its hyperparameters with the same code.
TRAINING = {"Trainer", "Tuner"}
# (AnomalyGate reads the ledger and records its refusals beside the index)
SPAN_STORE_READERS = {
    "NightlyFeatureGen", "AnomalyGate", "DriftGate", "TrainingWindow", "NightlyPredictions"}
# Every component module is in the components package, whose __init__ reaches the artifacts.
IN_COMPONENTS = set(COMPONENT_CODE) - {"Transform"}


@pytest.mark.parametrize(
    ("edited", "moves"),
    [
        # the trainer's model, signatures and warm-up import it, and the nightly scoring (its
        # output names); the schema reader of the per-night ranges (the feature job) and of the
        # population check (AnomalyGate); Transform does not
        ("transforms/serving_request.py",
         TRAINING | FEATURES | {"NightlyPredictions", "AnomalyGate"}),
        # imported lazily by the Beam code, by serving_request and by the calendar rule
        ("transforms/tf_example.py",
         FEATURES | TRAINING | {"CalendarBaseline", "NightlyPredictions", "AnomalyGate"}),
        # the feature job's writer (feature_outputs -> sorted_shards), and the scoring's
        ("components/nightly_features/sorted_shards.py", FEATURES | {"NightlyPredictions"}),
        # the artifact classes: components/__init__.py imports them lazily
        ("components/artifacts.py", IN_COMPONENTS),
        # (the Evaluator and the Pusher run TFX's executors plus the push records: not features)
        ("transforms/features.py", set(COMPONENT_CODE) - {"Evaluator", "Pusher"}),
        # the quarantine's file names: written by the feature job, read through the span store
        ("components/quarantine_layout.py", SPAN_STORE_READERS),
        # the span store: the feature job writes it, the gate, the window and the scoring read it
        ("components/spans/store.py", SPAN_STORE_READERS),
        # the model reads the sequence features' names from the preprocessing
        ("transforms/preprocessing.py", {"Transform"} | TRAINING),
        ("components/trainer/warmup.py", TRAINING),
        # a python-function component's helper: its cache key holds no code of its own
        ("components/calendar_rule.py", {"CalendarBaseline"}),
        ("components/anomaly_gate.py", {"AnomalyGate"}),
        # the push records: the Pusher writes them, the Evaluator finds its baseline in them
        ("components/push_records.py", {"Evaluator", "Pusher"}),
        # the CLI's feature job and the generator: no component runs them
        ("components/nightly_features/job.py", set()),
        ("synthetic/generate.py", set()),
        ("pipeline/cli/__init__.py", set()),
    ],
)
def test_an_edit_moves_exactly_the_fingerprints_of_the_code_that_imports_it(tree, edited, moves):
    before = code_fingerprints(tree)
    _edit(tree, edited)
    assert _moved(tree, before) == moves


def test_the_closure_follows_lazy_relative_and_package_imports(tmp_path):
    (tmp_path / "components" / "sub").mkdir(parents=True)
    (tmp_path / "transforms").mkdir()
    files = {
        "components/__init__.py": "",
        "components/sub/__init__.py": "from . import sibling\n",
        "components/sub/entry.py": (
            "import json\n"
            "def run():\n"
            "    from ..helper import thing  # lazy and relative\n"
            "    from transforms import features  # a submodule named in a from-import\n"
        ),
        "components/sub/sibling.py": "",
        "components/helper.py": "thing = 1\n",
        "components/unused.py": "",
        "transforms/__init__.py": "",
        "transforms/features.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    closure = [p.relative_to(tmp_path).as_posix() for p in import_closure(
        "components.sub.entry", root=tmp_path)]
    assert closure == sorted(set(files) - {"components/unused.py"})
    with pytest.raises(FileNotFoundError, match="components.absent"):
        source_fingerprint("components.absent", root=tmp_path)


def test_the_schema_fingerprint_follows_its_content_not_its_path(tree, tmp_path):
    copy = tmp_path / "elsewhere" / "schema.pbtxt"
    copy.parent.mkdir()
    shutil.copy(SCHEMA_FILE, copy)
    assert schema_fingerprint(str(copy)) == schema_fingerprint(str(SCHEMA_FILE))
    copy.write_text(copy.read_text() + "\n# reviewed\n")
    assert schema_fingerprint(str(copy)) != schema_fingerprint(str(SCHEMA_FILE))


def test_an_in_image_schema_path_is_fingerprinted_from_this_trees_copy(tree):
    # The Kubeflow config names the schema inside the component image, which holds this tree.
    in_image = "/opt/cyclecast/schema/schema.pbtxt"
    assert schema_fingerprint(in_image, root=tree) == schema_fingerprint(str(SCHEMA_FILE))
    _edit(tree, "schema/schema.pbtxt")
    assert schema_fingerprint(in_image, root=tree) != schema_fingerprint(str(SCHEMA_FILE))
    with pytest.raises(FileNotFoundError, match="cannot read the schema"):
        schema_fingerprint("/opt/cyclecast/schema/absent.pbtxt", root=tree)


def test_the_pipeline_fingerprints_the_modules_it_references(tmp_path):
    from components.schema_import import SCHEMA_FINGERPRINT_KEY
    from pipeline.pipeline import create_components
    from tests.conftest import pipeline_config

    schema = tmp_path / "schema.pbtxt"
    shutil.copy(SCHEMA_FILE, schema)
    cfg = pipeline_config(tmp_path / "work", tmp_path / "data", schema_file=str(schema))
    components = {c.id: c for c in create_components(cfg)}
    fingerprints = code_fingerprints()
    # the components that run their own module's code carry its fingerprint
    for name in ("NightlyFeatureGen", "AnomalyGate", "DriftGate", "CalendarBaseline"):
        component = components[name]
        assert component.executor_spec.executor_class.__module__ == COMPONENT_CODE[name]
        assert component.exec_properties["code_version"] == fingerprints[name]
    for name, fn in (("Transform", "preprocessing_fn"), ("Trainer", "run_fn")):
        props = components[name].exec_properties
        assert props[fn].rpartition(".")[0] == COMPONENT_CODE[name]
        assert fingerprints[name] in props["custom_config"]
    schema_gen = components["ImportSchemaGen"]
    assert schema_gen.exec_properties[SCHEMA_FINGERPRINT_KEY] == schema_fingerprint(str(schema))
