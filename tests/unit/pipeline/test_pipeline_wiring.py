"""The pipeline's wiring: the valid users' answers never wait on AnomalyGate."""

from __future__ import annotations


def _upstream(component, seen=None) -> set[str]:
    """Every node ``component`` waits for, directly or not."""
    seen = set() if seen is None else seen
    for node in component.upstream_nodes:
        if node.id not in seen:
            seen.add(node.id)
            _upstream(node, seen)
    return seen


def test_predictions_do_not_wait_on_the_anomaly_gate_which_runs_after_them(tmp_path):
    from pipeline.pipeline import create_components
    from tests.conftest import pipeline_config

    cfg = pipeline_config(tmp_path / "work", tmp_path / "data")
    components = {c.id: c for c in create_components(cfg)}
    assert "AnomalyGate" not in _upstream(components["NightlyPredictions"])
    # in dependency order (the local runner stops at the first failure) the answers come first
    assert "NightlyPredictions" in _upstream(components["AnomalyGate"])
    # a gate's refusal still stops training
    assert {"AnomalyGate", "DriftGate"} <= _upstream(components["TrainingWindow"])
    # the gate judges the ingest's nights against the schema and records refusals in the store
    gate = components["AnomalyGate"]
    assert set(gate.inputs) == {"anomalies", "quarantine", "schema"}
    assert gate.exec_properties["span_store"] == cfg.span_store
    # the ingest holds each night to the configured schema's ranges, keyed on its content
    from pipeline.code_version import schema_fingerprint

    ingest = components["NightlyFeatureGen"].exec_properties
    assert ingest["schema_file"] == cfg.schema_file
    assert ingest["schema_fingerprint"] == schema_fingerprint(cfg.schema_file)
