"""AnomalyGate's population check: a feature's share of out-of-range nights, never one night."""

from __future__ import annotations

import pytest

from components.population_checks import max_out_of_range_shares, range_shares
from transforms.serving_request import load_schema

NIGHT = "2026-04-16"


def _ledger(valid: int, out: int, feature: str = "skin_temp") -> list[dict]:
    rows = [{"night_date": NIGHT, "features": {"skin_temp": 34.0}} for _ in range(valid)]
    rows += [
        {
            "night_date": NIGHT,
            "invalid_reason": "feature_out_of_range",
            "invalid_detail": f"{feature} 28.88 < 30 (the schema's minimum)",
        }
        for _ in range(out)
    ]
    # other invalid nights are not judged on ranges: they never had figures to judge
    rows += [{"night_date": NIGHT, "invalid_reason": "short_wear"} for _ in range(50)]
    return rows


def test_the_limits_are_in_the_schema_file():
    limits = max_out_of_range_shares(load_schema())
    assert set(limits) == {
        "skin_temp", "heart_rate", "heart_rate_p10", "hrv_rmssd", "breathing_rate", "perfusion",
        "worn_hours", "sleep_hours", "low_motion_sleep_hours",
    }  # fmt: skip
    assert limits["skin_temp"] == pytest.approx(0.05)


def test_tfdv_accepts_the_schema_with_the_limits():
    """The limit rides in an annotation TFDV ignores, not in a field it refuses on floats."""
    import pandas as pd
    import tensorflow_data_validation as tfdv

    schema = load_schema()
    stats = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"skin_temp": [34.0] * 5}))
    anomalies = tfdv.validate_statistics(stats, schema)
    reasons = {r.type for info in anomalies.anomaly_info.values() for r in info.reason}
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    assert anomalies_pb2.AnomalyInfo.INVALID_SCHEMA_SPECIFICATION not in reasons


def test_one_odd_user_never_trips_it():
    limits = {"skin_temp": 0.05}
    assert range_shares(_ledger(valid=1, out=1), limits) == []  # 50%, but one night
    assert range_shares(_ledger(valid=0, out=1), limits) == []


def test_a_share_beyond_the_limit_names_the_night_feature_and_share():
    limits = {"skin_temp": 0.05}
    assert range_shares(_ledger(valid=38, out=2), limits) == []  # 5.0%: at the limit
    (share,) = range_shares(_ledger(valid=37, out=3), limits)  # 7.5%
    assert (share.night, share.feature, share.out_of_range, share.judged) == (
        NIGHT, "skin_temp", 3, 40,
    )  # fmt: skip
    assert share.describe() == (
        "skin_temp: outside the schema's range on 3 of 40 nights of 2026-04-16 (7.5%), "
        "above the schema's limit 5.0% (1 - min_domain_mass)"
    )
    # a feature the schema sets no limit for is not checked
    assert range_shares(_ledger(valid=1, out=5, feature="heart_rate"), limits) == []


def test_the_gate_refuses_the_nights_it_found_and_all_on_a_dataset_anomaly():
    from components.anomaly_gate import refused_nights

    nights = ["2026-04-15", "2026-04-16"]
    shares = {"2026-04-16": "skin_temp: outside the schema's range on 3 of 40 nights"}
    assert refused_nights(nights, "", {}) == {}
    assert refused_nights(nights, "", shares) == shares
    tfdv = "[train] heart_rate: Column dropped\n[eval] heart_rate: Column dropped"
    assert refused_nights(nights, tfdv, shares) == {
        "2026-04-15": "[train] heart_rate: Column dropped",
        "2026-04-16": "[train] heart_rate: Column dropped; " + shares["2026-04-16"],
    }
