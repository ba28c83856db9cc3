"""One wording of a schema anomaly for the gate, the run summary and ``cyclecast skew``."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.anomaly_wording import anomaly_descriptions, split_anomaly_lines


def _anomalies() -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["temp_mean"]
    info.short_description = "Out-of-range values"
    info.reason.add(description="Unexpectedly high value: 98.6")
    anomalies.anomaly_info["cycle_day"].short_description = "Column dropped"
    anomalies.dataset_anomaly_info.short_description = "Low num examples"
    anomalies.dataset_anomaly_info.description = "The dataset has 3 examples"
    return anomalies


def test_features_sorted_then_the_whole_split():
    assert anomaly_descriptions(_anomalies()) == {
        "cycle_day": "Column dropped",
        "temp_mean": "Out-of-range values: Unexpectedly high value: 98.6",
        "(dataset)": "Low num examples: The dataset has 3 examples",
    }


def test_the_gate_and_the_summary_print_the_same_lines():
    from components.anomaly_gate import anomalies_report
    from pipeline.runs.summary import anomalies_lines

    by_split = {"eval": anomaly_descriptions(_anomalies())}
    lines = split_anomaly_lines(by_split)
    assert lines[0] == "  [eval] cycle_day: Column dropped"
    assert anomalies_lines(by_split)[1:] == lines
    assert anomalies_report({"eval": _anomalies()}) == "\n".join(lines)
