"""One raw upload to the app's answer, with exactly the feature job's functions.

``upload_request`` parses, validates and summarises one night's raw file with
``records.process_raw_file`` (what the Beam job's ``_ProcessNightFn`` calls), reads the user's
previous 28 nights from the span store's stored nightly statistics (``beam_job.stored_history``,
as the job reads them), joins her cycle log rows (``records.parse_cycle_line``) and builds the
request with ``user_history.build_user_examples``: the same code, not a copy, so the request equals
the batch path's feature for feature (``tests/test_online_path.py`` proves it).

The stored statistics are read by scanning the 28 nights' files for the user's pseudonym; at fleet
scale an app backend would load the same files into a key-value store keyed by the pseudonym.
"""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import dataclass
from pathlib import Path

from components.nightly_features.records import (
    BadCycleRow,
    CycleRow,
    NightOutcome,
    parse_cycle_line,
    process_raw_file,
)
from transforms import features as fc
from transforms import raw_format as rf


class BadUpload(ValueError):
    """The upload can't be scored; the message gives the quarantine's reason."""


@dataclass
class OnlineRequest:
    """A scored night's request: its features and its serialized tf.Example."""

    user_key: str
    night: str
    features: dict[str, list]
    serialized: bytes


def user_cycles(cycles_file: str | Path, user_id: str) -> list[CycleRow]:
    """The user's rows of the cycle log (unusable lines are skipped: the job quarantines them)."""
    rows = []
    prefix = f"{user_id},"
    with open(cycles_file) as f:
        next(f, None)  # the header
        for line in f:
            if line.startswith(prefix):
                try:
                    rows.append(parse_cycle_line(line))
                except BadCycleRow:
                    continue
    return rows


def stored_nights(store_root: str, night: dt.date, user_key: str) -> list[NightOutcome]:
    """The user's valid nights among the 28 before ``night``, from the span store."""
    from components.nightly_features.beam_job import stored_history
    from components.nightly_features.span_store import SpanStore, read_gzip_lines
    from components.nightly_features.window import history_nights

    needle = f'"{fc.USER_KEY}": "{user_key}"'
    out = []
    for entry in SpanStore(store_root).entries(history_nights(night)).values():
        for line in read_gzip_lines(entry.stats_file):
            if needle in line:
                key, outcome = stored_history(line)
                if key == user_key:
                    out.append(outcome)
    return out


def upload_request(
    upload: bytes,
    user_id: str,
    night: dt.date,
    cycles_file: str | Path,
    store_root: str,
    salt: bytes,
    rules: rf.NightRules | None = None,
) -> OnlineRequest:
    """Turn one raw upload into the prediction request the batch path builds for that night."""
    from components.nightly_features.beam_job import REQUEST_SPEC
    from components.nightly_features.user_history import build_user_examples, pseudonymise
    from transforms.tf_example import to_serialized_example

    if not rf.USER_ID_PATTERN.match(user_id):
        raise BadUpload(f"bad user id {user_id!r}")
    rel_path = rf.night_path(night.isoformat(), user_id)
    outcome = process_raw_file(rel_path, upload, rules or rf.NightRules())
    if not outcome.valid:
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(outcome.rows_rejected.items()))
        detail = f" ({outcome.file_error})" if outcome.file_error else ""
        raise BadUpload(
            f"the upload for {night} is not a valid night: {outcome.invalid_reason}{detail}"
            + (f"; rows rejected: {rejected}" if rejected else "")
        )
    user_key = pseudonymise(user_id, salt)
    history = stored_nights(store_root, night, user_key)
    cycles = user_cycles(cycles_file, user_id)
    result = build_user_examples(user_id, [outcome, *history], cycles, user_key)
    requests = [r for r in result.requests if r[fc.NIGHT_DATE][0].decode() == night.isoformat()]
    if not requests:
        reason = result.not_scored.get(night.isoformat(), "not scored")
        raise BadUpload(f"the night {night} can't be scored: {reason}")
    return OnlineRequest(
        user_key, night.isoformat(), requests[0], to_serialized_example(requests[0], REQUEST_SPEC)
    )


def request_for_upload(
    upload_path: Path,
    user_id: str,
    night_text: str | None,
    config,
    data_root: str | None,
    salt_file: str | None,
) -> OnlineRequest:
    """``upload_request`` for a local set-up (``config`` is a ``LocalConfig``).

    The upload's night comes from ``night_text`` or its path; the cycle log from the data root
    (the default data when None, generated on first use); the span store and salt from ``config``.
    """
    from components.nightly_features.salt import load_salt
    from components.nightly_features.window import parse_night
    from pipeline.data import ensure_default_data

    night = parse_night(night_text) if night_text else rf.night_in_path(str(upload_path))
    if night is None:
        raise BadUpload(f"--upload {upload_path}: give --date (no date folder in its path)")
    try:
        upload = Path(upload_path).read_bytes()
    except OSError as e:
        raise BadUpload(f"cannot read the upload {upload_path}: {e.strerror or e}") from e
    if not data_root:
        ensure_default_data(config)
    cfg = config.pipeline_config(Path(data_root) if data_root else None)
    salt = load_salt(salt_file, create_local=config.salt_file)
    return upload_request(
        upload, user_id, night, Path(cfg.data_root) / rf.CYCLES_FILE, cfg.span_store, salt
    )


def published_predictions(predictions_root: str, night: str) -> tuple[dict, list[dict]]:
    """The summary and the predictions NightlyPredictions published for ``night``."""
    import json

    from components.nightly_predictions import PREDICTIONS_FILE, SUMMARY_FILE

    folder = Path(predictions_root) / night
    if not (folder / SUMMARY_FILE).is_file():
        raise FileNotFoundError(
            f"no predictions published for {night} in {folder} (has that night run?)"
        )
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    rows = [json.loads(line) for line in gzip.open(folder / PREDICTIONS_FILE)]
    return summary, rows
