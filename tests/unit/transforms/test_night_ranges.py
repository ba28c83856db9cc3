"""The schema's ranges as a per-night rule: one odd upload is an invalid night, not an anomaly."""

from __future__ import annotations

import pytest

from components.nightly_features.records import process_raw_file
from components.nightly_features.user_history import NightStatus, build_user_examples
from tests.rawfiles import steady_night, to_file
from transforms import night_ranges
from transforms import raw_format as rf

PATH = rf.night_path("2026-01-05", "u1")


def test_the_ranges_come_from_the_schema_file():
    ranges = night_ranges.night_ranges()
    assert ranges["skin_temp"] == (30.0, 38.0)
    assert ranges["heart_rate"] == (35.0, 110.0)
    assert ranges["worn_hours"] == (4.0, 16.0)
    assert set(ranges) == set(night_ranges.NIGHT_FEATURES)


def test_a_night_inside_the_ranges_is_valid():
    outcome = process_raw_file(PATH, to_file(steady_night(5)), rf.NightRules())
    assert outcome.valid and outcome.invalid_reason is None and outcome.invalid_detail is None
    assert outcome.features["skin_temp"] == pytest.approx(34.0)


@pytest.mark.parametrize(
    ("values", "detail"),
    [
        ({"temp": "28.90"}, "skin_temp 28.9 < 30 (the schema's minimum)"),  # 5 C low: rows pass
        ({"temp": "39.50"}, "skin_temp 39.5 > 38 (the schema's maximum)"),
        ({"hr": "130.0"}, "heart_rate 130 > 110 (the schema's maximum)"),
        ({"br": "5.0"}, "breathing_rate 5 < 6 (the schema's minimum)"),
    ],
)
def test_a_night_outside_the_schema_is_invalid_with_the_feature_value_and_bound(values, detail):
    outcome = process_raw_file(PATH, to_file(steady_night(5, **values)), rf.NightRules())
    assert outcome.rows_accepted == outcome.rows_total  # every row passed the row rules
    assert not outcome.valid and outcome.features == {}
    assert outcome.invalid_reason == night_ranges.OUT_OF_RANGE == "feature_out_of_range"
    assert outcome.invalid_detail == detail


def test_the_ranges_given_are_the_ones_applied():
    narrow = {**night_ranges.night_ranges(), "skin_temp": (34.5, 38.0)}
    outcome = process_raw_file(PATH, to_file(steady_night(5)), rf.NightRules(), narrow)
    assert outcome.invalid_detail == "skin_temp 34 < 34.5 (the schema's minimum)"


def test_an_out_of_range_night_is_in_the_ledger_and_not_scored_like_any_invalid_night():
    outcome = process_raw_file(PATH, to_file(steady_night(5, temp="28.90")), rf.NightRules())
    result = build_user_examples("u1", [outcome], [], "key1")
    (entry,) = result.ledger
    assert entry["status"] == NightStatus.INVALID
    assert entry["invalid_reason"] == "feature_out_of_range"
    assert entry["invalid_detail"].startswith("skin_temp 28.9 < 30")
    assert "features" not in entry and result.examples == [] and result.requests == []
    assert result.not_scored == {"2026-01-05": "no_valid_night"}


def test_nan_is_outside_every_range():
    assert night_ranges.out_of_range({"skin_temp": float("nan")}, night_ranges.night_ranges()) == (
        "skin_temp is NaN"
    )
