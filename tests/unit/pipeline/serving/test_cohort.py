"""``evaluate --cohort``'s scoring, seed rule and defaults, on hand-built nights (no model)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from components.calendar_rule import binary_metrics, predict_examples
from components.nightly_features.records import CycleRow
from components.nightly_features.user_history import pseudonymise
from pipeline.config import DefaultData
from pipeline.serving import cohort
from transforms import features as fc

SALT = b"unit-salt"
LENGTH = 28
START = dt.date(2026, 1, 1)


def build(users: int, anovulatory_user: int | None = None):
    """Each user: two logged 28-day cycles (ovulation on day 15, the first cycle's after a
    30-day one) and an open third cycle of 3 nights; every night an example, its skin
    temperature up by 0.4 C from the day after ovulation."""
    rows, temps, log = [], {}, []
    for u in range(users):
        uid = f"u{u:05d}"
        key = pseudonymise(uid, SALT)
        temps[key] = {}
        log.append(CycleRow(uid, 0, START - dt.timedelta(days=30), 30, 16, 5))
        for c in range(3):
            start = START + dt.timedelta(days=LENGTH * c)
            ovulation = None if u == anovulatory_user and c == 1 else 15
            log.append(CycleRow(uid, c + 1, start, LENGTH if c < 2 else None, ovulation, 5))
            prev = [30.0] + [float(LENGTH)] * c
            for day in range(1, (LENGTH if c < 2 else 3) + 1):
                night = start + dt.timedelta(days=day - 1)
                label = int(ovulation is not None and fc.in_fertile_window(day, ovulation))
                rows.append({
                    fc.USER_KEY: [key.encode()],
                    fc.NIGHT_DATE: [night.isoformat().encode()],
                    fc.CYCLE_DAY: [day],
                    fc.PREV_CYCLE_LENGTHS: prev + [0.0] * (fc.PREV_CYCLES - len(prev)),
                    fc.PREV_CYCLE_COUNT: [len(prev)],
                    fc.LABEL_KEY: [label],
                    fc.CYCLE_REGULARITY: [fc.cycle_regularity([int(x) for x in prev]).encode()],
                })
                risen = ovulation is not None and day > ovulation
                temps[key][night] = 34.0 + (0.4 if risen else 0.0) + 0.01 * (day % 3)
    return rows, temps, log


def test_a_perfect_model_and_the_calendar_rule_scored_with_intervals():
    rows, temps, log = build(6, anovulatory_user=2)
    labels = np.array([r[fc.LABEL_KEY][0] for r in rows])
    result = cohort.score_cohort(rows, labels.astype(float), labels, temps, log, SALT, 200)
    assert result["users"] == 6 and result["nights"] == len(rows)
    model = result["model"]
    assert (model["sensitivity"], model["specificity"], model["auc"]) == (1.0, 1.0, 1.0)
    assert model["sensitivity_ci"] == [1.0, 1.0] and model["auc_ci"] == [1.0, 1.0]
    expected = binary_metrics(labels, predict_examples(rows))
    calendar = result["calendar"]
    assert calendar["sensitivity"] == round(expected["sensitivity"], 4)
    assert calendar["specificity"] == round(expected["specificity"], 4)
    low, high = calendar["specificity_ci"]
    assert low <= calendar["specificity"] <= high
    # the slices hold every night once
    assert sum(b["nights"] for b in result["by_regularity"].values()) == len(rows)
    assert set(result["by_regularity"]) == {"unknown", "regular"}

    ov = result["ovulation"]
    assert (ov["cycles"], ov["ovulatory_cycles"], ov["anovulatory_cycles"]) == (12, 11, 1)
    assert ov["open_cycles_not_scored"] == 6
    assert ov["model"] == ov["candidates"][ov["estimator"]]
    assert ov["model"]["mae_days"] == 0.0 and ov["model"]["coverage"] == 1.0
    assert ov["model"]["false_detection"] == 0.0
    assert ov["no_estimate_by_reason"] == {"no_sustained_shift": 1}
    # the calendar rule: mean previous length 30 (first cycle) -> day 16, 29 -> day 15
    assert ov["calendar"]["coverage"] == 1.0 and ov["calendar"]["false_detection"] == 1.0
    assert ov["calendar"]["mae_days"] == round(6 / 11, 4)
    assert ov["calendar"]["within_1d"] == 1.0
    assert ov["by_regularity"]["unknown"]["cycles"] == 6
    assert ov["by_regularity"]["regular"]["calendar"]["mae_days"] == 0.0
    text = cohort.format_cohort({**result, "seed": 1, "seconds": 2.0})
    assert "candidate temperature_shift" in text and "regular" in text
    json.dumps(result, allow_nan=False)  # no NaN: undefined figures are null


def test_the_training_seeds_are_refused():
    with pytest.raises(cohort.CohortError, match=f"--seed {DefaultData().seed} generated"):
        cohort.check_cohort_seed(DefaultData().seed, {DefaultData().seed})
    cohort.check_cohort_seed(4242, {DefaultData().seed})


def test_a_data_roots_seed_counts_as_a_training_seed(tmp_path):
    assert cohort.training_seeds([tmp_path]) == {DefaultData().seed}
    (tmp_path / "manifest.json").write_text(json.dumps({"parameters": {"seed": 5}}))
    assert cohort.training_seeds([tmp_path / "elsewhere", tmp_path]) == {DefaultData().seed, 5}


def test_the_command_lines_default_cohort_is_the_measured_one():
    from pipeline.cli import serving

    assert serving.COHORT_USERS == cohort.DEFAULT_COHORT_USERS


def test_no_pushed_model_is_refused_before_anything_is_generated(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel at"):
        cohort.evaluate_cohort(
            str(tmp_path / "serving_model"), 3, 11, {DefaultData().seed}, tmp_path / "work", [], 4
        )
    assert not (tmp_path / "work").exists()
