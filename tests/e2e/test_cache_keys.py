"""Cache keys on the local runner: a schema edited in place re-runs its step and all after it."""

from __future__ import annotations

import shutil

import pytest

from pipeline.config import SCHEMA_FILE, TrainingConfig
from synthetic.generate import generate_dataset
from tests.conftest import pipeline_config

pytestmark = pytest.mark.e2e

# Downstream of the schema: they read it, or what was made with it. The feature job holds each
# night to the schema's ranges (transforms.night_ranges), so everything after it re-runs too.
AFTER_SCHEMA = {"NightlyFeatureGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                "AnomalyGate", "DriftGate", "Transform", "Trainer", "Evaluator", "Pusher",
                "CalendarBaseline"}


def _run_states(cfg, seen: set[int]) -> dict[str, str]:
    """Run the pipeline; return ``{component: state}`` of the executions it added to ML Metadata.

    Read from the store itself, not from what ``run_local`` returns: only the recorded states
    say whether a step ran (COMPLETE) or was served from cache (CACHED).
    """
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.orchestration.local_runner import run_local

    run_local(cfg)
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = cfg.metadata_path
    store = metadata_store.MetadataStore(connection)
    # execution type tfx.components.Trainer (or components.schema_import.ImportSchemaGen) -> name
    names = {t.id: t.name.rsplit(".", 1)[-1] for t in store.get_execution_types()}
    states = {}
    for execution in store.get_executions():
        if execution.id not in seen:
            seen.add(execution.id)
            state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
            states[names[execution.type_id]] = state
    return states


def test_a_schema_edited_in_place_reruns_its_step_and_everything_after_it(tmp_path, monkeypatch):
    import pipeline.pipeline
    from pipeline.code_version import code_fingerprints

    # The code keys, fixed for the test: it is about the schema's key (test_code_version covers the
    # code's), and a source edited while it runs would rightly re-run steps and blur what it sees.
    pinned = code_fingerprints()
    monkeypatch.setattr(pipeline.pipeline, "code_fingerprints", lambda: pinned)
    data = tmp_path / "data"
    generate_dataset(data, users=16, cycles=3, seed=5, progress=False)
    schema = tmp_path / "schema.pbtxt"
    shutil.copy(SCHEMA_FILE, schema)
    cfg = pipeline_config(tmp_path / "work", data, schema_file=str(schema),
                          training=TrainingConfig(train_steps=5, eval_steps=1))
    seen: set[int] = set()
    first = _run_states(cfg, seen)
    assert set(first.values()) == {"COMPLETE"}, first
    assert set(first) >= AFTER_SCHEMA
    # The same inputs again: served from cache. (The Evaluator, and the Pusher after it, may run
    # again: the first run's blessed model is now their baseline, a new input.)
    again = _run_states(cfg, seen)
    for name in (AFTER_SCHEMA) - {"Evaluator", "Pusher"}:
        assert again[name] == "CACHED", (name, again)
    # The same path, a new content (a comment: nothing else about the run changes).
    schema.write_text(schema.read_text() + "\n# reviewed: the ranges stand\n")
    edited = _run_states(cfg, seen)
    assert {name: edited[name] for name in AFTER_SCHEMA} == dict.fromkeys(AFTER_SCHEMA, "COMPLETE")
