"""What NightlyPredictions publishes for an app backend each night, and reading it back.

``<predictions_dir>/<night>/`` holds ``predictions.jsonl.gz`` (one line per scored user-night:
pseudonym, night, probability, fertile flag, model version), ``not_scored.jsonl.gz`` (the
user-nights not scored, with the reason), ``ovulation.jsonl.gz`` (one line per cycle that closed
that night: its estimated ovulation day or the reason it has none, ``components.closed_cycles``)
and ``summary.json``, written last: it says the night is
ready. Nothing heavy is imported here, so the command line reads predictions through it.
"""

from __future__ import annotations

import json

from components.file_io import read_bytes, read_gzip_lines

PREDICTIONS_FILE = "predictions.jsonl.gz"
NOT_SCORED_FILE = "not_scored.jsonl.gz"
SUMMARY_FILE = "summary.json"
OVULATION_FILE = "ovulation.jsonl.gz"


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


def published_ovulation(predictions_root: str, night: str) -> list[dict]:
    """The ovulation records published for ``night`` (none when no cycle closed then).

    ``night`` must be a date, as for ``published_predictions``.
    """
    from components.spans.dates import parse_night

    parse_night(night)
    path = f"{str(predictions_root).rstrip('/')}/{night}/{OVULATION_FILE}"
    if read_bytes(path) is None:
        return []
    return [json.loads(line) for line in read_gzip_lines(path)]
