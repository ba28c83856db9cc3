"""How the drift thresholds in ``schema/schema.pbtxt`` behave on real nights: noise and detection.

Reads the night ledger of a feature-job output (``cyclecast features --out DIR``), compares every
pair of consecutive nights with enough valid nights the way DriftGate does (no false stop should
come from ordinary night-to-night noise), then shifts one feature of the later night by a fixed
amount and counts how often the check flags it::

    .venv/bin/cyclecast features --input .cyclecast/data/default --out /tmp/features
    .venv/bin/cyclecast calibrate-drift /tmp/features
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass

from components.defaults import DRIFT_MIN_NIGHTS

# (feature, shift) pairs tried by default: a firmware change of that size on one night.
DEFAULT_SHIFTS: tuple[tuple[str, float], ...] = (
    ("heart_rate", 5.0),
    ("heart_rate", 10.0),
    ("skin_temp", 0.5),
    ("skin_temp", 1.0),
)


@dataclass(frozen=True)
class Calibration:
    """The largest distance per ordinary pair of nights, and detections per shift."""

    noise: list[float]  # the largest distance of each compared pair, unshifted
    detected: dict[str, tuple[int, int]]  # "feature +shift" -> (flagged, pairs tried)


def consecutive_pairs(ledger: list[dict], min_nights: int) -> list[tuple[list, list]]:
    """Ledger entries of each pair of consecutive nights that both have ``min_nights``."""
    from components.drift_gate import nights_by_date

    by_date = nights_by_date(ledger)
    dates = sorted(by_date)
    entries: dict[str, list[dict]] = {}
    for e in ledger:
        if e.get("features") and e.get("night_date"):
            entries.setdefault(e["night_date"], []).append(e)
    return [
        (entries[a], entries[b])
        for a, b in zip(dates, dates[1:], strict=False)
        if min(len(by_date[a]), len(by_date[b])) >= min_nights
    ]


def calibrate(
    ledger: list[dict],
    schema,
    min_nights: int,
    shifts: tuple[tuple[str, float], ...] = DEFAULT_SHIFTS,
) -> Calibration:
    """Compare every qualifying pair unshifted, then with each shift applied to its later night."""
    from components.drift_gate import compare_nights

    pairs = consecutive_pairs(ledger, min_nights)
    noise = [
        max(d.distance for d in compare_nights(a + b, schema, min_nights).distances)
        for a, b in pairs
    ]
    detected = {}
    for feature, shift in shifts:
        flagged = 0
        for a, b in pairs:
            later = copy.deepcopy(b)
            for e in later:
                e["features"][feature] += shift
            result = compare_nights(a + later, schema, min_nights)
            flagged += feature in {d.feature for d in result.drifted}
        detected[f"{feature} {shift:+g}"] = (flagged, len(pairs))
    return Calibration(noise=noise, detected=detected)


def format_calibration(c: Calibration, min_nights: int) -> str:
    """Render the calibration for a person."""
    if not c.noise:
        return f"no pair of consecutive nights has {min_nights} valid nights each"
    lines = [
        f"pairs of consecutive nights with at least {min_nights} valid nights each: {len(c.noise)}",
        f"largest distance without a shift: max {max(c.noise):.3f}, "
        f"median {statistics.median(c.noise):.3f}",
    ]
    lines += [f"{k}: flagged on {n} of {total} pairs" for k, (n, total) in c.detected.items()]
    return "\n".join(lines)


def calibrate_feature_output(features_out: str, min_nights: int = DRIFT_MIN_NIGHTS) -> str:
    """The calibration of a ``cyclecast features --out`` directory, formatted for a person.

    Raises ``FileNotFoundError`` when the directory holds no night ledger.
    """
    from tfx.utils import io_utils

    from components.drift_gate import read_ledger
    from pipeline.config import SCHEMA_FILE

    ledger = read_ledger(f"{features_out.rstrip('/')}/quarantine")
    if not ledger:
        raise FileNotFoundError(f"no night ledger under {features_out}/quarantine")
    schema = io_utils.SchemaReader().read(str(SCHEMA_FILE))
    return format_calibration(calibrate(ledger, schema, min_nights), min_nights)
