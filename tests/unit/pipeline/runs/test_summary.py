"""The run summary as `cyclecast run` and `runs show` print it: what broke, in sensitivity terms."""

from __future__ import annotations


def test_summary_says_what_broke_and_speaks_of_sensitivity():
    from pipeline.runs.summary import RunSummary, format_run_summary

    s = RunSummary(
        run_id="r1",
        anomalies={"eval": {}, "train": {"skin_temp": "Out-of-range values: below 30"}},
        candidate={"auc": 0.8, "recall": 0.6, "specificity": 0.9, "binary_accuracy": 0.85},
        calendar={"accuracy": 0.7, "sensitivity": 0.5, "specificity": 0.8, "precision": 0.4},
    )
    text = format_run_summary(s)
    assert "anomalies          1 in train (the schema check failed)" in text
    assert "  [train] skin_temp: Out-of-range values: below 30" in text
    assert "none (the schema check passed)" not in text  # what it printed for every run
    assert "sensitivity=0.600" in text and "accuracy=0.850" in text and "recall" not in text
    assert "sensitivity=0.500" in text.splitlines()[-3]  # the calendar rule's line
    s.anomalies = {"train": {}, "eval": {}}
    assert "anomalies          none (the schema check passed)" in format_run_summary(s)
    s.anomalies = {}
    assert "anomalies          not checked" in format_run_summary(s)
