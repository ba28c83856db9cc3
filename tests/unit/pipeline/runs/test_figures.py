"""The report's figure data from plain arrays: ROC points, calibration bins, rates by cycle day
and cycle phases.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest


def test_roc_points_give_the_rank_auc_with_ties():
    from pipeline.runs.figures import curve_auc, roc_curve
    from pipeline.serving.evaluate import auc

    rng = np.random.default_rng(3)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.random(400) * 0.6 + labels * 0.3, 1)  # many ties
    roc = roc_curve(labels, scores)
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert roc["fpr"][-1] == pytest.approx(1.0) and roc["tpr"][-1] == pytest.approx(1.0)
    assert len(roc["fpr"]) == len(set(scores)) + 1 and np.all(np.diff(roc["fpr"]) >= 0)
    assert curve_auc(roc["fpr"], roc["tpr"]) == pytest.approx(auc(labels, scores), abs=1e-12)


def test_calibration_bins_and_rates_by_cycle_day():
    from pipeline.runs.figures import calibration_bins, rates_by_cycle_day

    bins = calibration_bins([0, 1, 1, 0, 1], [0.05, 0.08, 0.95, 1.0, 0.55])
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[0]["observed"] == 0.5 and bins[9]["mean_predicted"] == pytest.approx(0.975)
    assert bins[1]["observed"] is None
    days = rates_by_cycle_day([1, 1, 2, 2, 2], [0, 0, 1, 1, 0], {"rule": np.array([1, 0, 1, 0, 0])})
    assert days[0] == {
        "day": 1,
        "fertile_nights": 0,
        "other_nights": 2,
        "rule": {"sensitivity": None, "specificity": 0.5},
    }
    assert days[1]["rule"] == {"sensitivity": 0.5, "specificity": 1.0}


def test_cycle_phases_follow_the_label_within_each_cycle():
    from pipeline.runs.figures import cycle_phases

    start = dt.date(2026, 1, 1)

    def night(user: bytes, day: int, fertile: int, cycle_start=start) -> dict:
        date = (cycle_start + dt.timedelta(days=day - 1)).isoformat().encode()
        return {"cycle_day": [day], "night_date": [date], "user_key": [user], "fertile": [fertile]}

    rows = [night(b"a", d, int(12 <= d <= 17)) for d in (2, 8, 12, 17, 20)]
    rows.append(night(b"b", 9, 0))  # b's cycle has no fertile night in the data
    rows.append(night(b"a", 3, 0, start + dt.timedelta(days=28)))  # a's next cycle, menses
    assert cycle_phases(rows) == [
        "menses",
        "follicular",
        "fertile",
        "fertile",
        "luteal",
        None,
        "menses",
    ]
