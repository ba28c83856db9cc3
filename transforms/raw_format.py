"""The raw recording format a device uploads, and the rules a row must pass to be accepted.

One file per user-night: ``<root>/nights/<YYYY-MM-DD>/<user_id>.csv.gz``, where the date is the
evening the night starts. A gzip-compressed CSV with a header line, one row every 10 seconds.

Why gzip CSV: a wearable syncs through a phone app that uploads what the firmware buffered. A
line-oriented text format appends cheaply on the device, survives partial uploads detectably (gzip
has an end-of-stream marker and a CRC, so truncated and corrupt uploads are told apart from valid
ones), is read by every tool a person would debug with (``zcat | head``), and compresses 10-second
sensor rows about 4x. Columnar formats (Parquet) need the whole night in memory on the device and
cannot be appended to.

This module is the single source of the raw format and of the file, row and night rules, as code:
the feature extraction calls ``decode_raw``, ``row_reject_codes`` and ``assess_night`` on every
upload, and the synthetic generator calls the same functions to state in its manifest exactly what
the extraction will find. It imports numpy only.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

RAW_COLUMNS: tuple[str, ...] = (
    "timestamp",  # integer Unix seconds (UTC), nominally 10 s apart
    "heart_rate",  # beats per minute
    "hrv_rmssd",  # milliseconds, RMSSD over the 10 s epoch's beats
    "skin_temp_c",  # wrist skin temperature, degrees Celsius
    "breathing_rate",  # breaths per minute
    "perfusion",  # relative skin perfusion index, unitless, ~1.0
    "sleep_state",  # SleepState code
    "motion",  # mean acceleration magnitude above gravity, in g
)
HEADER_LINE = ",".join(RAW_COLUMNS)
COLUMN_INDEX: dict[str, int] = {name: j for j, name in enumerate(RAW_COLUMNS)}
SAMPLE_PERIOD_S = 10
NIGHTS_DIR = "nights"
RAW_SUFFIX = ".csv.gz"
NIGHTS_GLOB = f"{NIGHTS_DIR}/*/*{RAW_SUFFIX}"  # every raw file under a data root
CYCLES_FILE = "cycles.csv"
CYCLES_COLUMNS: tuple[str, ...] = (
    "user_id",
    "cycle_index",
    "start_date",
    "length_days",
    "ovulation_day",
    "menses_days",
)
MANIFEST_FILE = "manifest.json"

# A user id as the app issues it; anything else in a file name is rejected as a bad path.
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SleepState:
    """Sleep-state codes the firmware writes."""

    WAKE = 0
    LIGHT = 1
    DEEP = 2
    REM = 3
    ALL = (0, 1, 2, 3)
    ASLEEP = (1, 2, 3)


@dataclass(frozen=True)
class Range:
    """An inclusive physiological range a value must fall in."""

    low: float
    high: float


# Accepted ranges (inclusive). Values outside are rejected as ``out_of_range``.
VALID_RANGES: dict[str, Range] = {
    "heart_rate": Range(25.0, 220.0),
    "hrv_rmssd": Range(1.0, 300.0),
    "skin_temp_c": Range(25.0, 42.0),
    "breathing_rate": Range(4.0, 40.0),
    "perfusion": Range(0.0, 10.0),
    "sleep_state": Range(0, 3),
    "motion": Range(0.0, 16.0),
}
# A skin temperature in this band is a device reporting Fahrenheit (77 F = 25 C, 108 F = 42 C).
FAHRENHEIT_BAND = Range(77.0, 108.0)
# Motion at or below this (g) counts as "low motion" for the nightly feature statistics.
LOW_MOTION_G = 0.1

# The night's window. The file in ``nights/<D>/`` holds the night that starts on the evening of D
# in the device's local time, taken as local noon on D to local noon on D+1. Timestamps are UTC
# and the format carries no time zone (neither the header nor the path names one), so a row
# belongs to the night when that window holds it in some zone from UTC-12 to UTC+14: from D-1
# 22:00 to D+2 00:00 UTC, widened by ``NIGHT_CLOCK_TOLERANCE_S`` each side for a device clock
# that is off. Rows outside are rejected as ``outside_night`` (a buffer from another night, a
# clock reset to 1970, a timestamp in milliseconds).
NIGHT_LOCAL_START_S = 12 * 3600  # local noon on the evening's date
NIGHT_LOCAL_END_S = 36 * 3600  # local noon the next day
UTC_OFFSETS_S = Range(-12 * 3600, 14 * 3600)  # every zone in use, UTC-12:00 to UTC+14:00
NIGHT_CLOCK_TOLERANCE_S = 3600


def night_window(night: dt.date) -> tuple[int, int]:
    """The first and last UTC Unix second (inclusive) a row of ``night``'s file may carry."""
    midnight = (night - dt.date(1970, 1, 1)).days * 86400
    first = midnight + NIGHT_LOCAL_START_S - int(UTC_OFFSETS_S.high) - NIGHT_CLOCK_TOLERANCE_S
    last = midnight + NIGHT_LOCAL_END_S - int(UTC_OFFSETS_S.low) + NIGHT_CLOCK_TOLERANCE_S
    return first, last


class RowReject:
    """Reasons a row is rejected, checked in this order; the first that applies is the reason.

    - ``unparseable``: wrong number of fields, or a non-empty field that is not a number.
    - ``missing_value``: an empty or NaN field (off-wrist epochs leave the vitals empty).
    - ``fahrenheit``: skin temperature in ``FAHRENHEIT_BAND``: the device reports the wrong unit.
    - ``out_of_range``: a value outside ``VALID_RANGES`` (infinities included), a timestamp that
      is not a non-negative whole number, or a sleep state that is not a whole-number code.
    - ``outside_night``: the timestamp is outside the night's window (``night_window``).
    - ``duplicate_timestamp``: the timestamp equals one already accepted from this file.
    - ``out_of_order``: the timestamp is earlier than the latest one accepted from this file.
    """

    UNPARSEABLE = "unparseable"
    MISSING_VALUE = "missing_value"
    FAHRENHEIT = "fahrenheit"
    OUT_OF_RANGE = "out_of_range"
    OUTSIDE_NIGHT = "outside_night"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    OUT_OF_ORDER = "out_of_order"
    ALL = (
        UNPARSEABLE,
        MISSING_VALUE,
        FAHRENHEIT,
        OUT_OF_RANGE,
        OUTSIDE_NIGHT,
        DUPLICATE_TIMESTAMP,
        OUT_OF_ORDER,
    )


class FileReject:
    """Reasons a whole file is rejected before any row is read.

    - ``truncated_file``: the gzip stream ends before its end-of-stream marker.
    - ``corrupt_file``: not gzip, a failed CRC or a damaged deflate stream, or not UTF-8 text.
    - ``bad_header``: the first line is not ``HEADER_LINE``.
    - ``bad_path``: the path is not ``nights/<YYYY-MM-DD>/<user_id>.csv.gz``.
    - ``not_a_file``: the name is a raw file's, but what it names is a directory or a symbolic
      link whose target does not exist (only a local file system has either).
    - ``unreadable_file``: the file is listed but could not be opened or read (permission denied,
      an I/O error, gone since the listing): a fault of the store, not of the upload, so the
      night is read again on the next run (``components.spans.plan``).
    """

    TRUNCATED = "truncated_file"
    CORRUPT = "corrupt_file"
    BAD_HEADER = "bad_header"
    BAD_PATH = "bad_path"
    NOT_A_FILE = "not_a_file"
    UNREADABLE = "unreadable_file"
    ALL = (TRUNCATED, CORRUPT, BAD_HEADER, BAD_PATH, NOT_A_FILE, UNREADABLE)


@dataclass(frozen=True)
class NightRules:
    """When a night's accepted rows make a valid night (docs/DOMAIN.md: night validity)."""

    min_worn_hours: float = 4.0
    min_sleep_hours: float = 3.0
    max_gap_hours: float = 2.0
    # A file whose rows are more than this share ``outside_night`` holds another night.
    max_outside_share: float = 0.5


class NightInvalid:
    """Reasons a night is invalid, checked in this order.

    A night with no file at all is not seen by the job; the history features mask it as missing.

    - a ``FileReject`` reason when the file could not be read;
    - ``wrong_night``: more than ``max_outside_share`` of the file's rows were ``outside_night``;
    - ``no_valid_rows``: every row was rejected;
    - ``short_wear``: accepted rows x ``SAMPLE_PERIOD_S`` under ``min_worn_hours``;
    - ``short_sleep``: accepted asleep rows x ``SAMPLE_PERIOD_S`` under ``min_sleep_hours``;
    - ``long_gap``: two consecutive accepted rows more than ``max_gap_hours`` apart;
    - ``no_low_motion_sleep``: no accepted asleep row at low motion to compute features from.
    """

    WRONG_NIGHT = "wrong_night"
    NO_VALID_ROWS = "no_valid_rows"
    SHORT_WEAR = "short_wear"
    SHORT_SLEEP = "short_sleep"
    LONG_GAP = "long_gap"
    NO_LOW_MOTION_SLEEP = "no_low_motion_sleep"
    ALL = (WRONG_NIGHT, NO_VALID_ROWS, SHORT_WEAR, SHORT_SLEEP, LONG_GAP, NO_LOW_MOTION_SLEEP)


def night_in_path(rel_path: str) -> dt.date | None:
    """Return the night of ``nights/<YYYY-MM-DD>/<file>``; None when the path has no valid date."""
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) < 3 or parts[-3] != NIGHTS_DIR or not DATE_PATTERN.match(parts[-2]):
        return None
    try:
        return dt.date.fromisoformat(parts[-2])
    except ValueError:  # e.g. 2026-02-30
        return None


def night_dir(date_iso: str) -> str:
    """Return the folder of one night's raw files relative to the data root."""
    return f"{NIGHTS_DIR}/{date_iso}"


def night_files(date_iso: str) -> str:
    """Return the pattern of one night's raw files relative to the data root."""
    return f"{night_dir(date_iso)}/*{RAW_SUFFIX}"


def night_path(date_iso: str, user_id: str) -> str:
    """Return the path of a user-night's raw file relative to the data root."""
    return f"{night_dir(date_iso)}/{user_id}{RAW_SUFFIX}"


# Every night's raw files with TFX's date placeholders: the span is the folder's date.
DATED_NIGHTS_PATTERN = night_files("{YYYY}-{MM}-{DD}")


class UnreadableFile(Exception):
    """The whole file could not be read; ``reason`` is a ``FileReject`` reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_raw(data: bytes, decompress: Callable[[bytes], bytes] = gzip.decompress) -> str:
    """Decompress and decode a raw upload; raise ``UnreadableFile`` (truncated or corrupt) if not.

    A stream that ends before its end-of-stream marker (``EOFError``) is truncated; a bad magic
    number, CRC, length or deflate stream (``OSError``, ``zlib.error``) or non-UTF-8 text is
    corrupt. ``decompress`` lets the generator check that every gzip reader gives one verdict.
    """
    try:
        raw = decompress(data)
    except EOFError as e:
        raise UnreadableFile(FileReject.TRUNCATED, str(e) or "gzip stream ended early") from e
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UnreadableFile(FileReject.CORRUPT, str(e)) from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnreadableFile(FileReject.CORRUPT, f"not UTF-8 text: {e}") from e


ACCEPTED = -1  # row_reject_codes' code for a row that passed every check


def row_reject_codes(
    values: np.ndarray, unparseable: np.ndarray | None = None, night: dt.date | None = None
) -> np.ndarray:
    """Per row, ``ACCEPTED`` or the index in ``RowReject.ALL`` of the reason it is rejected.

    ``values`` is the ``(n, 8)`` float table of a file's rows in file order (``RAW_COLUMNS``), NaN
    for empty fields; ``unparseable`` marks the rows that could not be read as numbers (their
    values are ignored); ``night`` is the file's night (its folder's date), whose window the
    timestamps must fall in (None: a table checked on its own, with no night to hold it to). The
    checks run in ``RowReject`` order, vectorised; a row outside the night never counts as the
    latest accepted timestamp.

    The timestamp checks rest on one observation: the latest accepted timestamp before row ``r`` is
    the running maximum of the timestamps of the value-valid rows before ``r`` (a value-valid row
    either raises that maximum and is accepted, or is rejected and leaves it unchanged). So a
    value-valid row is accepted iff its timestamp exceeds that running maximum; otherwise it is a
    duplicate iff its timestamp is among the accepted ones (all of which come earlier, since
    accepted timestamps increase), else out of order.
    """
    n = values.shape[0]
    parsed = np.ones(n, dtype=bool) if unparseable is None else ~unparseable
    ts = values[:, COLUMN_INDEX["timestamp"]]
    state = values[:, COLUMN_INDEX["sleep_state"]]
    temp = values[:, COLUMN_INDEX["skin_temp_c"]]
    with np.errstate(invalid="ignore"):
        missing = parsed & np.isnan(values).any(axis=1)
        checked = parsed & ~missing
        fahrenheit = checked & (temp >= FAHRENHEIT_BAND.low) & (temp <= FAHRENHEIT_BAND.high)
        checked &= ~fahrenheit
        in_range = np.isfinite(ts) & (ts >= 0) & (ts == np.floor(ts)) & (state == np.floor(state))
        for name, bounds in VALID_RANGES.items():
            col = values[:, COLUMN_INDEX[name]]
            in_range &= (col >= bounds.low) & (col <= bounds.high)
        out_of_range = checked & ~in_range
        value_ok = checked & in_range
        outside = np.zeros(n, dtype=bool)
        if night is not None:
            first, last = night_window(night)
            outside = value_ok & ((ts < first) | (ts > last))
            value_ok &= ~outside

    running = np.maximum.accumulate(np.where(value_ok, ts, -np.inf))
    previous_max = np.concatenate([[-np.inf], running])[:-1]
    accepted = value_ok & (ts > previous_max)
    late = value_ok & ~accepted
    duplicate = late & np.isin(ts, ts[accepted])

    codes = np.full(n, ACCEPTED, dtype=np.int64)
    for reason, mask in (
        (RowReject.UNPARSEABLE, ~parsed),
        (RowReject.MISSING_VALUE, missing),
        (RowReject.FAHRENHEIT, fahrenheit),
        (RowReject.OUT_OF_RANGE, out_of_range),
        (RowReject.OUTSIDE_NIGHT, outside),
        (RowReject.DUPLICATE_TIMESTAMP, duplicate),
        (RowReject.OUT_OF_ORDER, late & ~duplicate),
    ):
        codes[mask] = RowReject.ALL.index(reason)
    return codes


def is_asleep(sleep_state: np.ndarray) -> np.ndarray:
    """Rows whose sleep state is one of ``SleepState.ASLEEP`` (a loop of ==, cheaper than isin)."""
    out = np.zeros(np.shape(sleep_state), dtype=bool)
    for code in SleepState.ASLEEP:
        out |= sleep_state == code
    return out


def feature_rows(sleep_state: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The rows the nightly statistics are computed over: asleep, at or below ``LOW_MOTION_G``."""
    return is_asleep(sleep_state) & (motion <= LOW_MOTION_G)


@dataclass(frozen=True)
class NightAssessment:
    """Whether a night is valid, why not, and its quality figures in hours."""

    valid: bool
    invalid_reason: str | None
    quality: dict[str, float]


def assess_night(
    columns: Mapping[str, np.ndarray],
    rules: NightRules,
    rows_total: int = 0,
    rows_outside: int = 0,
) -> NightAssessment:
    """Apply ``rules`` to a night's accepted rows (by column name), in ``NightInvalid`` order.

    ``rows_total`` is the file's row count and ``rows_outside`` how many of its rows were
    rejected ``outside_night``: more than ``rules.max_outside_share`` of them makes the night
    ``wrong_night``.
    """
    ts = columns["timestamp"]
    asleep = is_asleep(columns["sleep_state"])
    low_motion_sleep = asleep & (columns["motion"] <= LOW_MOTION_G)
    # Compared in whole seconds: rows x 10 s against hours x 3600 is exact, where the same
    # comparison in fractional hours can fall either side of a threshold by rounding.
    worn_s = ts.size * SAMPLE_PERIOD_S
    sleep_s = int(asleep.sum()) * SAMPLE_PERIOD_S
    max_gap_s = float(np.diff(ts).max()) if ts.size > 1 else 0.0
    quality = {
        "worn_hours": worn_s / 3600.0,
        "sleep_hours": sleep_s / 3600.0,
        "low_motion_sleep_hours": int(low_motion_sleep.sum()) * SAMPLE_PERIOD_S / 3600.0,
    }
    reason = None
    if rows_total and rows_outside > rules.max_outside_share * rows_total:
        reason = NightInvalid.WRONG_NIGHT
    elif ts.size == 0:
        reason = NightInvalid.NO_VALID_ROWS
    elif worn_s < rules.min_worn_hours * 3600:
        reason = NightInvalid.SHORT_WEAR
    elif sleep_s < rules.min_sleep_hours * 3600:
        reason = NightInvalid.SHORT_SLEEP
    elif max_gap_s > rules.max_gap_hours * 3600:
        reason = NightInvalid.LONG_GAP
    elif not low_motion_sleep.any():
        reason = NightInvalid.NO_LOW_MOTION_SLEEP
    return NightAssessment(valid=reason is None, invalid_reason=reason, quality=quality)
