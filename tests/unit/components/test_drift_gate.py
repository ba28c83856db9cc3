"""Night-to-night drift: the drifted feature and its distance, or why nothing was checked."""

from __future__ import annotations

from tests.unit.drift_ledgers import _ledger, _schema


def test_drift_names_the_feature_and_the_distance():
    from components.drift_gate import compare_nights, drift_features

    schema = _schema()
    assert set(drift_features(schema)) == {"skin_temp", "heart_rate", "heart_rate_p10",
                                           "hrv_rmssd", "breathing_rate", "perfusion"}
    same = [55.0 + 0.5 * i for i in range(50)]
    shifted = [v + 15.0 for v in same]  # a firmware change reading 15 bpm high
    result = compare_nights(_ledger({"2026-03-01": same, "2026-03-02": shifted}), schema, 40)
    assert result.status == "drift"
    assert (result.night, result.previous_night, result.nights) == ("2026-03-02", "2026-03-01", 50)
    drifted = {d.feature: d for d in result.drifted}
    assert set(drifted) == {"heart_rate"}
    assert drifted["heart_rate"].measure == "jensen_shannon_divergence"
    assert drifted["heart_rate"].distance > drifted["heart_rate"].threshold == 0.3
    assert "DRIFT heart_rate: jensen_shannon_divergence" in result.report()

    calm = compare_nights(_ledger({"2026-03-01": same, "2026-03-02": same[::-1]}), schema, 40)
    assert calm.status == "ok" and not calm.drifted and len(calm.distances) == 6

    few = compare_nights(_ledger({"2026-03-01": same[:10], "2026-03-02": shifted}), schema, 40)
    assert few.status == "not_checked" and "too few valid nights" in few.reason
    first = compare_nights(_ledger({"2026-03-02": shifted}), schema, 40)
    assert first.status == "not_checked" and "no previous night" in first.reason
