"""The calendar rule, the floor the model must beat, and its day-level metrics.

Ovulation is estimated as the mean of the user's previous cycle lengths minus 14 days; the fertile
window is that day and the 5 before (docs/DOMAIN.md). With no previous cycle the population mean
length is used. The rule itself is ``transforms.features.calendar_fertile``, the same expressions
the model's ``calendar_window`` feature is computed with; this module applies it to numpy arrays.
Pure numpy: the pipeline's CalendarBaseline component and the tests call it on the same examples
the model is evaluated on.
"""

from __future__ import annotations

import numpy as np

from transforms import features as fc


def calendar_predictions(
    cycle_day: np.ndarray, prev_lengths: np.ndarray, prev_count: np.ndarray
) -> np.ndarray:
    """Return 1 where the calendar rule calls the night fertile, else 0.

    ``prev_lengths`` is [n, PREV_CYCLES] with the first ``prev_count`` entries valid.
    """
    valid = np.arange(prev_lengths.shape[1])[None, :] < prev_count[:, None]
    sums = (prev_lengths * valid).sum(axis=1)
    mean_len = fc.mean_cycle_length(sums, prev_count, np.where)
    return fc.calendar_fertile(cycle_day, mean_len).astype(np.int64)


def binary_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Day-level accuracy, sensitivity, specificity and precision of 0/1 predictions."""
    labels = labels.astype(bool)
    predicted = predicted.astype(bool)
    tp = int((labels & predicted).sum())
    tn = int((~labels & ~predicted).sum())
    fp = int((~labels & predicted).sum())
    fn = int((labels & ~predicted).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return {
        "examples": int(labels.size),
        "accuracy": ratio(tp + tn, labels.size),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
    }


def predict_examples(rows: list[dict[str, list]]) -> np.ndarray:
    """The calendar rule's call (1 fertile, 0 not) for each nightly example (feature dicts)."""
    return calendar_predictions(
        np.array([r[fc.CYCLE_DAY][0] for r in rows]),
        np.array([r[fc.PREV_CYCLE_LENGTHS] for r in rows], dtype=float),
        np.array([r[fc.PREV_CYCLE_COUNT][0] for r in rows]),
    )


def score_examples(rows: list[dict[str, list]]) -> dict[str, float]:
    """The calendar rule's metrics on labelled nightly examples (feature dicts)."""
    return binary_metrics(np.array([r[fc.LABEL_KEY][0] for r in rows]), predict_examples(rows))
