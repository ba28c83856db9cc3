"""The drift threshold's calibration: noise between calm nights, detections of shifted ones."""

from __future__ import annotations

from tests.unit.drift_ledgers import _ledger, _schema


def test_drift_calibration_counts_noise_and_detections():
    from benchmarks.drift_calibration import calibrate, format_calibration

    base = [55.0 + 0.5 * i for i in range(50)]
    ledger = _ledger({"2026-03-01": base, "2026-03-02": base[::-1], "2026-03-03": base})
    ledger += _ledger({"2026-03-05": base[:10]})  # too few nights: no pair with it
    c = calibrate(ledger, _schema(), 40, shifts=(("heart_rate", 15.0), ("heart_rate", 0.0)))
    assert len(c.noise) == 2 and max(c.noise) < 0.3
    assert c.detected == {"heart_rate +15": (2, 2), "heart_rate +0": (0, 2)}
    assert "flagged on 2 of 2 pairs" in format_calibration(c, 40)
