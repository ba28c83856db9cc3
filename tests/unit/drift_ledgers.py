"""Feature ledgers of hand-made nights and the curated schema, for the drift check's tests."""

from __future__ import annotations


def _ledger(nights: dict[str, list[float]], feature="heart_rate") -> list[dict]:
    base = {"skin_temp": 34.0, "heart_rate": 60.0, "heart_rate_p10": 55.0, "hrv_rmssd": 50.0,
            "breathing_rate": 15.0, "perfusion": 1.0}
    out = []
    for date, values in nights.items():
        for i, v in enumerate(values):
            feats = {k: x + 0.01 * i for k, x in base.items()}
            feats[feature] = v
            out.append({"night_date": date, "status": "example", "features": feats})
    out.append({"night_date": "2026-03-02", "status": "invalid", "invalid_reason": "short_wear"})
    return out


def _schema():
    from tfx.utils import io_utils

    from pipeline.config import SCHEMA_FILE

    return io_utils.SchemaReader().read(str(SCHEMA_FILE))
