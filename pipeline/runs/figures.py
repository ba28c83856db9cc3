"""The report's figure data, as pure functions of labels, scores, examples and statistics.

ROC points and the calibration curve come from scikit-learn; the cycle-day rates, cycle phases
and per-phase distributions are this project's own (they need the cycle structure of examples).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from components.calendar_rule import binary_metrics
from pipeline.runs.summary import RunSummary
from transforms import features as fc

MENSES_DAYS = 5  # report-only phase label: cycle days 1-5 (docs/DOMAIN.md: menses 5.2 d on average)
PHASES = ("menses", "follicular", "fertile", "luteal")
CALIBRATION_BINS = 10
MAX_CYCLE_DAY = 40  # longer cycles are pooled into the last day shown
# (label, TFMA metric of the models, key of the calendar rule's metrics)
COMPARED = (
    ("AUC", "auc", None),
    ("sensitivity", "recall", "sensitivity"),
    ("specificity", "specificity", "specificity"),
    ("precision", "precision", "precision"),
    ("accuracy", "binary_accuracy", "accuracy"),
)


def clean(value):
    """NaN and numpy scalars to JSON-friendly values (None, float, int)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def roc_curve(labels, scores) -> dict[str, list]:
    """ROC points (false-positive rate, true-positive rate) at every distinct score (scikit-learn).

    Starts at (0, 0) and ends at (1, 1); ``thresholds[i]`` is the lowest score called positive at
    point i (None for the first point, where nothing is). Every point is kept (no
    ``drop_intermediate``): the page reads a threshold off any point of the curve.
    """
    from sklearn import metrics

    fpr, tpr, thresholds = metrics.roc_curve(
        np.asarray(labels, bool), np.asarray(scores, float), drop_intermediate=False
    )
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [None, *thresholds[1:].tolist()],  # scikit-learn's first is +inf
    }


def curve_auc(fpr: list[float], tpr: list[float]) -> float:
    """Area under a curve given by its points (scikit-learn's trapezoids)."""
    from sklearn import metrics

    return float(metrics.auc(fpr, tpr))


def calibration_bins(labels, scores, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-width probability bins: mean predicted probability vs observed fertile fraction.

    The curve is scikit-learn's ``calibration_curve`` (uniform strategy), which leaves empty
    bins out; the counts, which it does not return, are binned by the same rule (a score on an
    inner edge falls in the lower bin) so each non-empty bin gets its curve point.
    """
    from sklearn.calibration import calibration_curve

    labels = np.asarray(labels, float)
    scores = np.asarray(scores, float)
    observed, predicted = calibration_curve(labels, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], scores), minlength=bins)
    points = iter(zip(predicted.tolist(), observed.tolist(), strict=True))
    out = []
    for b in range(bins):
        mean_predicted, fraction = next(points) if counts[b] else (None, None)
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": int(counts[b]),
                "mean_predicted": mean_predicted,
                "observed": fraction,
            }
        )
    return out


def rates_by_cycle_day(
    cycle_day, labels, predicted: dict[str, np.ndarray], max_day: int = MAX_CYCLE_DAY
) -> list[dict]:
    """Per cycle day: fertile and other nights, and each predictor's sensitivity and specificity.

    Days past ``max_day`` are pooled into ``max_day``. A rate is None where it is undefined (no
    fertile night, or no other night, on that day).
    """
    days = np.minimum(np.asarray(cycle_day, int), max_day)
    labels = np.asarray(labels, int)
    rows = []
    for day in range(1, int(days.max(initial=0)) + 1):
        on_day = days == day
        if not on_day.any():
            continue
        row = {
            "day": day,
            "fertile_nights": int(labels[on_day].sum()),
            "other_nights": int((1 - labels[on_day]).sum()),
        }
        for name, pred in predicted.items():
            m = binary_metrics(labels[on_day], np.asarray(pred)[on_day])
            row[name] = {"sensitivity": m["sensitivity"], "specificity": m["specificity"]}
        rows.append(clean(row))
    return rows


def cycle_phases(rows: list[dict[str, list]]) -> list[str | None]:
    """Each night's cycle phase: menses, follicular, fertile (the label) or luteal.

    Nights are grouped into cycles by user and cycle start (the night's date minus its cycle day);
    nights before the cycle's first fertile night are follicular (after the first
    ``MENSES_DAYS``), after its last fertile night luteal. Nights of a cycle with no fertile night
    in the data (anovulatory, or the window fell on missing nights) get None unless menses.
    """
    start_of = []
    window: dict[tuple, list[int]] = {}
    for r in rows:
        day = int(r[fc.CYCLE_DAY][0])
        night = dt.date.fromisoformat(r[fc.NIGHT_DATE][0].decode())
        key = (r[fc.USER_KEY][0], night - dt.timedelta(days=day - 1))
        start_of.append(key)
        if r[fc.LABEL_KEY][0]:
            window.setdefault(key, []).append(day)
    phases: list[str | None] = []
    for r, key in zip(rows, start_of, strict=True):
        day = int(r[fc.CYCLE_DAY][0])
        fertile_days = window.get(key)
        if r[fc.LABEL_KEY][0]:
            phases.append("fertile")
        elif day <= MENSES_DAYS:
            phases.append("menses")
        elif not fertile_days:
            phases.append(None)
        elif day < min(fertile_days):
            phases.append("follicular")
        else:
            phases.append("luteal")
    return phases


def phase_distributions(
    rows: list[dict[str, list]],
    feature_names: tuple[str, ...] = fc.NIGHTLY_FEATURES,
    phases: list[str] | None = None,
) -> dict[str, dict[str, list[float] | None]]:
    """Per feature and phase: percentiles (10, 25, 50, 75, 90) of values relative to the user.

    Each night's value minus the same user's median: between-person differences would otherwise
    hide the cycle. ``phases`` are the rows' ``cycle_phases``, when already known.
    """
    phases = phases if phases is not None else cycle_phases(rows)
    users = np.array([r[fc.USER_KEY][0] for r in rows], dtype=object)
    out: dict[str, dict[str, list[float] | None]] = {}
    for name in feature_names:
        values = np.array([r[name][0] for r in rows], float)
        relative = np.empty_like(values)
        for user in set(users):
            mine = users == user
            relative[mine] = values[mine] - np.median(values[mine])
        out[name] = {}
        for phase in PHASES:
            inside = np.array([p == phase for p in phases], bool)
            out[name][phase] = (
                np.percentile(relative[inside], [10, 25, 50, 75, 90]).tolist()
                if inside.any()
                else None
            )
    return out


def feature_statistics(stats_list) -> list[dict]:
    """One row per feature of a TFDV ``DatasetFeatureStatisticsList`` (its first dataset)."""
    if not stats_list.datasets:
        return []
    dataset = stats_list.datasets[0]
    rows = []
    for f in dataset.features:
        kind = f.WhichOneof("stats")
        name = ".".join(f.path.step) or f.name
        if kind == "num_stats":
            ns = f.num_stats
            common = ns.common_stats
            standard = [h for h in ns.histograms if h.type == h.STANDARD]
            rows.append(
                {
                    "feature": name,
                    "kind": "numeric",
                    "present": int(common.num_non_missing),
                    "missing": int(common.num_missing),
                    "values_per_example": float(common.avg_num_values),
                    "mean": ns.mean,
                    "std_dev": ns.std_dev,
                    "min": ns.min,
                    "median": ns.median,
                    "max": ns.max,
                    "zeros": int(ns.num_zeros),
                    "histogram": [b.sample_count for b in standard[0].buckets] if standard else [],
                }
            )
        elif kind == "string_stats":
            ss = f.string_stats
            rows.append(
                {
                    "feature": name,
                    "kind": "string",
                    "present": int(ss.common_stats.num_non_missing),
                    "missing": int(ss.common_stats.num_missing),
                    "unique": int(ss.unique),
                    "top_values": [(v.value, int(v.frequency)) for v in ss.top_values[:3]],
                }
            )
    return rows


def metric_comparison(summary: RunSummary) -> dict[str, dict[str, float | None]]:
    """Candidate, blessed baseline and calendar rule on the same metrics (None where absent)."""
    out: dict[str, dict[str, float | None]] = {}
    for label, model_key, calendar_key in COMPARED:
        out[label] = {
            "candidate": summary.candidate.get(model_key),
            "baseline": summary.baseline.get(model_key) if summary.baseline else None,
            "calendar rule": summary.calendar.get(calendar_key) if calendar_key else None,
        }
    return out
