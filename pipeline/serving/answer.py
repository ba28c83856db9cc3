"""The JSON the app backend gets for one night, and for a refusal: one home for both shapes.

``cyclecast serve`` answers with these dicts and ``cyclecast predict --upload --json`` prints them,
so the two can't drift apart (``tests/unit/pipeline/serving/test_service.py`` pins them together).
Nothing here imports TensorFlow or the web framework.
"""

from __future__ import annotations

PROBABILITY_DIGITS = 6  # as `cyclecast predict` prints probabilities


def answer_body(probability: float, fertile: bool, model_version: str | None, night: str) -> dict:
    """``{"probability", "fertile", "model_version", "night"}`` for one scored night."""
    return {
        "probability": round(float(probability), PROBABILITY_DIGITS),
        "fertile": bool(fertile),
        "model_version": model_version,
        "night": night,
    }


def refusal_body(reason: str, detail: str) -> dict:
    """``{"reason", "detail"}``: a machine reason (e.g. ``corrupt_file``) and the sentence."""
    return {"reason": reason, "detail": detail}
