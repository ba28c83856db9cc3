"""One raw upload to the app's answer, with exactly the feature job's functions.

``upload_request`` parses, validates and summarises one night's raw file with
``records.process_raw_file`` (what the Beam job's ``_ProcessNightFn`` calls), reads the user's
previous 28 nights from the span store's stored nightly statistics
(``prediction_request.stored_history``, as the job reads them), joins her cycle log rows
(``records.parse_cycle_line``) and builds the request with ``prediction_request.night_request``:
the same code as the batch path, not a copy, so the request equals the batch path's byte for byte
(``tests/e2e/test_online_path.py`` proves it). It reads the cycle log and span store it is given and
never generates data.

The stored statistics are read by scanning the 28 nights' files for the user's pseudonym; at fleet
scale an app backend would load the same files into a key-value store keyed by the pseudonym.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from components.nightly_features.prediction_request import NightRequest
from components.nightly_features.records import (
    BadCycleRow,
    CycleRow,
    NightOutcome,
    parse_cycle_line,
    process_raw_file,
)
from components.published_predictions import (  # re-exported: the CLI reaches stages here
    published_ovulation as published_ovulation,
)
from components.published_predictions import (  # re-exported: the CLI reaches stages here
    published_predictions as published_predictions,
)
from transforms import features as fc
from transforms import raw_format as rf


class BadUpload(ValueError):
    """The upload can't be scored; the message gives the quarantine's reason.

    ``reason`` names it for machines: a quarantine or night reason of ``raw_format``
    (``corrupt_file``, ``truncated_file``, ``wrong_night``, ``feature_out_of_range``...), a
    ``user_history.NotScored`` reason (``too_little_history``...), or one of ``UploadRefusal``'s.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class UploadRefusal:
    """Reasons of a refused upload that are neither the quarantine's nor the batch path's."""

    BAD_USER_ID = "bad_user_id"  # not a user id the raw layout allows
    BAD_NIGHT = "bad_night"  # no night given, or not a date
    UNREADABLE = "unreadable_upload"  # the upload file could not be read
    NO_CYCLE_LOG = "no_cycle_log"  # the data root holds no cycle log


def user_cycles(cycles_file: str | Path, user_id: str) -> list[CycleRow]:
    """The user's rows of the cycle log (unusable lines are skipped: the job quarantines them).

    Read as bytes, line by line, as the feature job reads it: a non-UTF-8 line is one unusable
    line, not a failed read.
    """
    rows = []
    prefix = f"{user_id},".encode()
    with open(cycles_file, "rb") as f:
        next(f, None)  # the header
        for line in f:
            if line.startswith(prefix):
                try:
                    rows.append(parse_cycle_line(line))
                except BadCycleRow:
                    continue
    return rows


def stored_nights(store_root: str, night: dt.date, user_key: str) -> list[NightOutcome]:
    """The user's valid nights among the 28 before ``night``, from the span store.

    Each night's file is checked against its entry as the batch path checks it: a missing or
    damaged one raises ``StoredFileError`` naming the night and its repair.
    """
    from components.file_io import gzip_lines
    from components.nightly_features.prediction_request import stored_history
    from components.spans.dates import history_nights
    from components.spans.store import SpanStore

    needle = f'"{fc.USER_KEY}": "{user_key}"'
    out = []
    store = SpanStore(store_root)
    for entry in store.entries(history_nights(night)).values():
        for line in gzip_lines(store.read_verified(entry, entry.stats_file)):
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
) -> NightRequest:
    """Turn one raw upload into the prediction request the batch path builds for that night."""
    from components.nightly_features.prediction_request import CannotScore, night_request
    from components.nightly_features.user_history import pseudonymise

    if not rf.USER_ID_PATTERN.match(user_id):
        raise BadUpload(f"bad user id {user_id!r}", UploadRefusal.BAD_USER_ID)
    rel_path = rf.night_path(night.isoformat(), user_id)
    outcome = process_raw_file(rel_path, upload, rules or rf.NightRules())
    if not outcome.valid:
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(outcome.rows_rejected.items()))
        why = outcome.file_error or outcome.invalid_detail  # e.g. the schema range it broke
        detail = f" ({why})" if why else ""
        raise BadUpload(
            f"the upload for {night} is not a valid night: {outcome.invalid_reason}{detail}"
            + (f"; rows rejected: {rejected}" if rejected else ""),
            outcome.invalid_reason,
        )
    user_key = pseudonymise(user_id, salt)
    history = stored_nights(store_root, night, user_key)
    cycles = user_cycles(cycles_file, user_id)
    try:
        return night_request(user_id, user_key, outcome, history, cycles)
    except CannotScore as e:
        raise BadUpload(str(e), e.reason) from e


def request_for_upload(
    upload_path: Path,
    user_id: str,
    night_text: str | None,
    config,
    data_root: str | None,
    salt_file: str | None,
) -> NightRequest:
    """``upload_request`` for a local set-up (``config`` is a ``LocalConfig``).

    The upload's night comes from ``night_text`` or its path; the cycle log from ``data_root``
    (the default data root when None, which must exist: nothing is generated to answer an
    upload); the span store and salt from ``config``.
    """
    from components.spans.dates import parse_night

    night = parse_night(night_text) if night_text else rf.night_in_path(str(upload_path))
    if night is None:
        raise BadUpload(
            f"--upload {upload_path}: give --date (no date folder in its path)",
            UploadRefusal.BAD_NIGHT,
        )
    try:
        upload = Path(upload_path).read_bytes()
    except OSError as e:
        raise BadUpload(
            f"cannot read the upload {upload_path}: {e.strerror or e}", UploadRefusal.UNREADABLE
        ) from e
    cfg = config.pipeline_config(Path(data_root) if data_root else None)
    source = upload_source(cfg, salt_file, local_salt=config.salt_file, data_root_flag=data_root)
    return source.request(upload, user_id, night)


@dataclass(frozen=True)
class UploadSource:
    """What turns uploads into requests: the cycle log, the span store and the salt."""

    cycles_file: Path
    store_root: str
    salt: bytes

    def request(self, upload: bytes, user_id: str, night: dt.date) -> NightRequest:
        """``upload_request`` against this source."""
        return upload_request(upload, user_id, night, self.cycles_file, self.store_root, self.salt)

    def problem(self) -> str | None:
        """Why no request can be built now (the cycle log or span store is gone), else None."""
        from tfx.dsl.io import fileio

        if not self.cycles_file.is_file():
            return f"no cycle log at {self.cycles_file}"
        if not fileio.isdir(self.store_root):
            return f"no span store at {self.store_root}"
        return None


def upload_source(
    cfg,
    salt_file: str | None,
    local_salt: Path | None = None,
    data_root_flag: str | None = None,
) -> UploadSource:
    """The cycle log, span store and salt of a pipeline config (a ``PipelineConfig``).

    The salt is ``salt_file``, else the environment's (``load_salt``), else, for a local set-up,
    ``local_salt`` (created once). The cycle log must exist: nothing is generated to answer an
    upload. ``data_root_flag`` is the ``--data-root`` given, named in that error.
    """
    from components.nightly_features.salt import load_salt

    cycles_file = Path(cfg.data_root) / rf.CYCLES_FILE
    if not cycles_file.is_file():
        if data_root_flag:
            where = f"--data-root {data_root_flag} holds no {rf.CYCLES_FILE}"
        elif local_salt is not None:
            where = (
                "the default data is not there: pass --data-root, the data root holding the "
                f"user's {rf.CYCLES_FILE} (`cyclecast run` generates the default data, predict "
                "never)"
            )
        else:
            where = f"the configured data_root holds no {rf.CYCLES_FILE}"
        raise BadUpload(f"no cycle log at {cycles_file}: {where}", UploadRefusal.NO_CYCLE_LOG)
    salt = load_salt(salt_file, create_local=local_salt)
    return UploadSource(cycles_file, cfg.span_store, salt)
