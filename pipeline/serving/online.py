"""One raw upload to the app's answer, with exactly the feature job's functions.

``upload_request`` parses, validates and summarises one night's raw file with
``records.process_raw_file`` (what the Beam job's ``_ProcessNightFn`` calls), reads the user's
stored statistics of the 28 previous nights and her cycle-log rows from the online store
(``components.online_store``, keyed by her pseudonym: the lines the span store's statistics
files hold and the cycle log's raw lines, written by the ingest), parses them with the job's own
``prediction_request.stored_history`` and ``records.parse_cycle_line``, and builds the request
with ``prediction_request.night_request``: the same code as the batch path, not a copy, so the
request equals the batch path's byte for byte (``tests/e2e/test_online_path.py`` proves it on
SQLite and Redis). A request reads a fixed number of keys (cost independent of the fleet's size)
and never generates data.

Each history night the online store holds is checked against its span-store entry: a store night
built from another version of the night's statistics file than the entry records (stale, or
damaged) stops the request with ``StoredFileError`` naming the repair, as the batch path does.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path

from components.nightly_features.prediction_request import NightRequest
from components.nightly_features.records import (
    BadCycleRow,
    CycleRow,
    NightOutcome,
    parse_cycle_line,
    process_raw_file,
)
from components.online_store import OnlineStore
from components.published_predictions import (  # re-exported: the CLI reaches stages here
    published_ovulation as published_ovulation,
)
from components.published_predictions import (  # re-exported: the CLI reaches stages here
    published_predictions as published_predictions,
)
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
    NO_ONLINE_STORE = "no_online_store"  # no online store configured, or it can't be opened
    HISTORY_PRUNED = "history_pruned"  # the night's history is older than the online store keeps


def cycle_rows(lines: list[bytes]) -> list[CycleRow]:
    """Her cycle rows from the store's raw lines (only lines the job parsed are stored)."""
    rows = []
    for line in lines:
        try:
            rows.append(parse_cycle_line(line))
        except BadCycleRow:  # never staged; a damaged store's line is skipped as the job would
            continue
    return rows


def stored_state(
    online: OnlineStore, store_root: str, night: dt.date, user_key: str
) -> tuple[list[NightOutcome], list[CycleRow]]:
    """Her valid nights among the 28 before ``night`` and her cycle rows, from the online store.

    The nights are those the span store has an entry for, each checked against it: a night the
    online store lacks, or holds from another statistics file than the entry's, raises
    ``StoredFileError`` naming the night and its repair; a night older than the store keeps
    raises ``BadUpload``.
    """
    from components.nightly_features.prediction_request import stored_history
    from components.spans.dates import history_nights
    from components.spans.store import SpanStore, StoredFileError

    found = SpanStore(store_root).entries(history_nights(night))
    entries = {n.isoformat(): e for n, e in found.items()}
    state = online.user_state(user_key, sorted(entries))
    for name, entry in sorted(entries.items()):
        digest = state.digests.get(name)
        if digest is None and state.pruned_before and name < state.pruned_before:
            raise BadUpload(
                f"the online store {online.url} keeps the nights from {state.pruned_before} on "
                f"(those a request of the last nights needs); the history of {night} starts "
                "before: its answer is in that night's published predictions",
                UploadRefusal.HISTORY_PRUNED,
            )
        if digest is None:
            raise StoredFileError(name, f"the online store {online.url} holds no rows of it")
        recorded = entry.files.get(entry.stats_file) if entry.files else None
        if recorded is not None and digest != recorded:
            raise StoredFileError(
                name,
                f"the online store {online.url} holds its rows from another version of "
                f"{entry.stats_file} than the entry records",
            )
    history = []
    for line in (state.lines[n] for n in sorted(state.lines) if n in entries):
        key, outcome = stored_history(line)
        if key == user_key:
            history.append(outcome)
    return history, cycle_rows(state.cycles)


def upload_request(
    upload: bytes,
    user_id: str,
    night: dt.date,
    online: OnlineStore,
    store_root: str,
    salt: bytes,
    rules: rf.NightRules | None = None,
) -> NightRequest:
    """Turn one raw upload into the prediction request the batch path builds for that night.

    Her history and cycles come from ``online`` (an open ``OnlineStore``), checked against the
    span store at ``store_root``.
    """
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
    if not isinstance(online, OnlineStore):
        raise TypeError(f"upload_request needs an open OnlineStore, got {type(online).__name__}")
    history, cycles = stored_state(online, store_root, night, user_key)
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

    The upload's night comes from ``night_text`` or its path; the span store, the online store
    (``PipelineConfig.online_store_url``) and the salt from ``config`` (with ``data_root``, as
    the run that ingested the nights had it). Nothing is generated to answer an upload.
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
    source = upload_source(cfg, salt_file, local_salt=config.salt_file)
    try:
        return source.request(upload, user_id, night)
    finally:
        source.close()


@dataclass(frozen=True)
class UploadSource:
    """What turns uploads into requests: the online store, the span store and the salt.

    Each thread that builds requests opens the online store once and keeps it (a SQLite
    connection belongs to its thread; a Redis client keeps its connection pool), so a request pays
    for its reads only.
    """

    online_url: str
    store_root: str
    salt: bytes
    _opened: threading.local = field(
        default_factory=threading.local, compare=False, repr=False
    )

    def store(self) -> OnlineStore:
        """Return the calling thread's open online store (opened on first use)."""
        from components.online_store import open_store

        online = getattr(self._opened, "store", None)
        if online is None:
            if not self.online_url:
                raise BadUpload(
                    f"no online store is configured for the span store {self.store_root}: set "
                    "online_store (redis://host:port/db) in the pipeline config",
                    UploadRefusal.NO_ONLINE_STORE,
                )
            try:
                online = open_store(self.online_url)
            except (FileNotFoundError, ValueError) as e:
                raise BadUpload(
                    f"cannot open the online store: {e}", UploadRefusal.NO_ONLINE_STORE
                ) from e
            self._opened.store = online
        return online

    def request(self, upload: bytes, user_id: str, night: dt.date) -> NightRequest:
        """``upload_request`` against this source.

        An online store that stops answering (a Redis server gone, a SQLite file locked past its
        timeout) is ``BadUpload`` with ``no_online_store``; the next request opens it again.
        """
        try:
            return upload_request(
                upload, user_id, night, self.store(), self.store_root, self.salt
            )
        except _store_errors() as e:
            self.close()
            raise BadUpload(
                f"the online store {self.online_url} does not answer: {e}",
                UploadRefusal.NO_ONLINE_STORE,
            ) from e

    def problem(self) -> str | None:
        """Why no request can be built now (no span store, or no online store), else None."""
        from tfx.dsl.io import fileio

        if not fileio.isdir(self.store_root):
            return f"no span store at {self.store_root}"
        try:
            self.store().nights()
        except BadUpload as e:
            return str(e)
        except Exception as e:  # noqa: BLE001 - an unreachable server, whatever its client says
            self.close()
            return f"the online store {self.online_url} does not answer: {e}"
        return None

    def close(self) -> None:
        """Close this thread's online store, if it opened one."""
        online = getattr(self._opened, "store", None)
        if online is not None:
            self._opened.store = None
            online.close()


def _store_errors() -> tuple[type[Exception], ...]:
    """The errors of an online store's client that mean the store does not answer."""
    import sqlite3

    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (sqlite3.OperationalError, RedisConnectionError, RedisTimeoutError)


def upload_source(cfg, salt_file: str | None, local_salt: Path | None = None) -> UploadSource:
    """The online store, span store and salt of a pipeline config (a ``PipelineConfig``).

    The salt is ``salt_file``, else the environment's (``load_salt``), else, for a local set-up,
    ``local_salt`` (created once). Nothing is generated to answer an upload: a request reads the
    store the ingest wrote.
    """
    from components.nightly_features.salt import load_salt

    salt = load_salt(salt_file, create_local=local_salt)
    return UploadSource(cfg.online_store_url, cfg.span_store, salt)
