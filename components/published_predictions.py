"""What NightlyPredictions publishes for an app backend each night, and reading it back.

``<predictions_dir>/<night>/`` holds ``predictions.jsonl.gz`` (one line per scored user-night:
pseudonym, night, probability, fertile flag, model version), ``not_scored.jsonl.gz`` (the
user-nights not scored, with the reason) and ``summary.json``, written last: it says the night is
ready. Nothing heavy is imported here, so the command line reads predictions through it.
"""

from __future__ import annotations

import json

from components.file_io import read_bytes, read_gzip_lines

PREDICTIONS_FILE = "predictions.jsonl.gz"
NOT_SCORED_FILE = "not_scored.jsonl.gz"
SUMMARY_FILE = "summary.json"


def published_predictions(predictions_root: str, night: str) -> tuple[dict, list[dict]]:
    """The summary and the predictions NightlyPredictions published for ``night``.

    ``night`` must be a date (``YYYY-MM-DD``): anything else raises ``ValueError`` before it
    becomes part of a path (``../elsewhere`` would read outside the predictions folder).
    """
    from components.spans.dates import parse_night

    parse_night(night)
    folder = f"{str(predictions_root).rstrip('/')}/{night}"
    summary = read_bytes(f"{folder}/{SUMMARY_FILE}")
    if summary is None:
        raise FileNotFoundError(
            f"no predictions published for {night} in {folder} (has that night run?)"
        )
    rows = [json.loads(line) for line in read_gzip_lines(f"{folder}/{PREDICTIONS_FILE}")]
    return json.loads(summary), rows
