"""``evaluate --cohort`` on the shared pipeline history's pushed model, and the ovulation day the
nightly scoring publishes for the cycles that close with a night (read from the span store)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from components.nightly_features.records import parse_cycle_line
from components.nightly_features.salt import load_salt
from components.nightly_features.user_history import pseudonymise
from transforms import features as fc

pytestmark = pytest.mark.e2e


def test_evaluate_cohort_scores_new_users_and_refuses_the_training_seed(
    pipeline_runs, tmp_path, capsys
):
    from pipeline.cli import main
    from pipeline.serving.evaluate import evaluate

    cfg, first, _, _ = pipeline_runs
    workdir = str(Path(cfg.metadata_path).parent)
    # the shared history was generated with seed 5: its users are the model's training users
    assert main(["evaluate", "--cohort", "3", "--seed", "5", "--workdir", workdir]) == 2
    assert "--seed 5 generated the training data" in capsys.readouterr().err

    out = tmp_path / "cohort"
    args = ["evaluate", "--cohort", "3", "--seed", "11", "--workdir", workdir,
            "--cohort-dir", str(out), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["users"] == 3 and result["seed"] == 11
    # the per-night figures are those of the split evaluation on the cohort's examples
    plain = evaluate(first.pushed_path, str(out / "features/examples/Split-cohort/*"))
    assert result["nights"] == plain["model"]["examples"]
    for name in ("model", "calendar"):
        for figure in ("sensitivity", "specificity"):
            assert result[name][figure] == round(plain[name][figure], 4), (name, figure)
            low, high = result[name][f"{figure}_ci"]
            assert low <= result[name][figure] <= high
    assert result["model"]["auc"] == round(plain["model"]["auc"], 4)
    assert sum(b["nights"] for b in result["by_regularity"].values()) == result["nights"]
    ov = result["ovulation"]
    assert ov["cycles"] == ov["ovulatory_cycles"] + ov["anovulatory_cycles"] > 0
    for who in ("model", "calendar"):
        assert set(ov[who]) >= {"mae_days", "mae_days_ci", "within_1d", "within_2d", "coverage",
                                "coverage_ci"}
    assert ov["calendar"]["coverage"] == 1.0


def test_the_cycles_closing_with_a_night_get_their_ovulation_day_from_the_span_store(
    pipeline_runs, tmp_path
):
    import gzip

    from components.nightly_predictions import publish_closed_cycles
    from components.spans.store import SpanStore
    from transforms.tf_example import read_examples

    cfg, *_ = pipeline_runs
    salt = load_salt(cfg.salt_file)
    lines = (Path(cfg.data_root) / "cycles.csv").read_text().splitlines()[1:]
    logged = {}
    for cycle in map(parse_cycle_line, lines):
        if cycle.length_days is not None:
            end = cycle.start_date + dt.timedelta(days=cycle.length_days)
            logged[(pseudonymise(cycle.user_id, salt), end)] = cycle
    store = SpanStore(cfg.span_store)
    errors, published = [], 0
    for night in sorted({end for _, end in logged}):
        entry = store.entry(night)
        if entry is None or not read_examples(entry.request_files):
            continue
        out = tmp_path / f"{night}.jsonl.gz"
        published += publish_closed_cycles(
            entry.request_files, cfg.span_store, str(night), str(out)
        )
        for line in gzip.open(out, "rt"):
            record = json.loads(line)
            # the cycle the request closed is the cycle log's cycle that ended the night before
            truth = logged[(record[fc.USER_KEY], night)]
            assert record["cycle_start"] == truth.start_date.isoformat()
            assert record["cycle_length_days"] == truth.length_days
            assert record["nights_with_statistics"] <= truth.length_days
            if truth.ovulation_day is not None and record["ovulation_cycle_day"] is not None:
                errors.append(abs(record["ovulation_cycle_day"] - truth.ovulation_day))
    assert published > 0 and errors
    assert sum(errors) / len(errors) <= 2.5  # the step fit's error, far under the calendar's
