"""The ceiling benchmark's scoring: sensitivity at a fixed specificity."""

from __future__ import annotations

import numpy as np

from benchmarks.ceiling import sensitivity_at


def test_sensitivity_at_a_specificity_takes_the_best_threshold_that_keeps_it():
    label = np.array([0] * 10 + [1] * 4)
    # one negative scores above every positive; the positives then rank 0.8, 0.7, 0.3, 0.1
    score = np.array([0.9] + [0.05] * 7 + [0.2, 0.4] + [0.8, 0.7, 0.3, 0.1])
    assert sensitivity_at(label, score, 0.9) == 0.5  # threshold 0.7: one false positive
    assert sensitivity_at(label, score, 0.8) == 0.75  # threshold 0.3: two false positives
    assert sensitivity_at(label, score, 1.0) == 0.0
