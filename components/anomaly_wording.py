"""The one wording of a TFDV anomaly: what a person reads when data breaks the schema.

AnomalyGate's stop message, every run summary (``cyclecast run``/``runs``, the report) and
``cyclecast skew`` describe anomalies with these functions, so the same break reads the same
everywhere. Only attributes of the ``Anomalies`` proto are read: nothing is imported.
"""

from __future__ import annotations

DATASET = "(dataset)"  # the key of an anomaly of the whole split rather than of one feature


def anomaly_descriptions(anomalies) -> dict[str, str]:
    """Feature -> what broke, from a TFDV ``Anomalies`` proto (``(dataset)``: the whole split)."""
    out = {}
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        out[feature] = f"{info.short_description}: {reasons}" if reasons else info.short_description
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        out[DATASET] = f"{info.short_description}: {info.description}"
    return out


def split_anomaly_lines(by_split: dict[str, dict[str, str]]) -> list[str]:
    """One line per anomaly, ``  [split] feature: what broke``, in the order given."""
    return [
        f"  [{split}] {feature}: {what}"
        for split, described in by_split.items()
        for feature, what in described.items()
    ]
