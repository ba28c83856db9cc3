"""The verdict the raw-format rules give on what the generator writes (the manifest's ground truth).

This applies the rules of ``transforms.raw_format`` to the quantised rows (vectorised) and to the
compressed bytes, so the manifest states exactly what a validator following those rules finds.

Row rules in ``RowReject`` order; the timestamp rules are vectorised with one observation: the
latest accepted timestamp before row ``r`` equals the running maximum of the timestamps of the
value-valid rows before ``r`` (a value-valid row either raises that maximum and is accepted, or is
rejected and leaves it unchanged). So a value-valid row is accepted iff its timestamp exceeds that
running maximum; otherwise it is a duplicate iff its timestamp is among the accepted ones (all of
which come earlier, since accepted timestamps increase), else out of order.
"""

from __future__ import annotations

import gzip
import io
import zlib

import numpy as np

from transforms import raw_format
from transforms.raw_format import FileReject, NightInvalid, NightRules, RowReject

ACCEPTED = -1
# file_reject_reason when the two gzip readers disagree (the generator never writes such a file).
AMBIGUOUS = "ambiguous"
_COLUMN = {name: j for j, name in enumerate(raw_format.RAW_COLUMNS)}


def row_reject_codes(table: np.ndarray) -> np.ndarray:
    """Return per row ``ACCEPTED`` or the index in ``RowReject.ALL`` of the reason it is rejected.

    ``table`` is the quantised ``(n, 8)`` float table in file order, NaN for empty fields. Rows the
    generator writes are always parseable, so ``unparseable`` never occurs.
    """
    n = table.shape[0]
    codes = np.full(n, ACCEPTED, dtype=np.int64)
    missing = np.isnan(table).any(axis=1)

    temp = table[:, _COLUMN["skin_temp_c"]]
    band = raw_format.FAHRENHEIT_BAND
    with np.errstate(invalid="ignore"):
        fahrenheit = ~missing & (temp >= band.low) & (temp <= band.high)
        out_of_range = np.zeros(n, dtype=bool)
        for name, bounds in raw_format.VALID_RANGES.items():
            col = table[:, _COLUMN[name]]
            out_of_range |= (col < bounds.low) | (col > bounds.high)
        state = table[:, _COLUMN["sleep_state"]]
        out_of_range |= ~np.isin(state, raw_format.SleepState.ALL)
    out_of_range &= ~missing & ~fahrenheit

    value_ok = ~(missing | fahrenheit | out_of_range)
    ts = table[:, _COLUMN["timestamp"]]
    running = np.maximum.accumulate(np.where(value_ok, ts, -np.inf))
    previous_max = np.concatenate([[-np.inf], running[:-1]])
    accepted = value_ok & (ts > previous_max)
    rejected_ts = value_ok & ~accepted
    duplicate = rejected_ts & np.isin(ts, ts[accepted])
    out_of_order = rejected_ts & ~duplicate

    for reason, mask in (
        (RowReject.MISSING_VALUE, missing),
        (RowReject.FAHRENHEIT, fahrenheit),
        (RowReject.OUT_OF_RANGE, out_of_range),
        (RowReject.DUPLICATE_TIMESTAMP, duplicate),
        (RowReject.OUT_OF_ORDER, out_of_order),
    ):
        codes[mask] = RowReject.ALL.index(reason)
    return codes


def count_row_rejects(codes: np.ndarray) -> dict[str, int]:
    """Return ``{reason: count}`` of the rejected rows (reasons with a zero count left out)."""
    counts = np.bincount(codes[codes != ACCEPTED], minlength=len(RowReject.ALL))
    return {reason: int(c) for reason, c in zip(RowReject.ALL, counts, strict=True) if c}


def night_invalid_reason(
    table: np.ndarray, codes: np.ndarray, rules: NightRules | None = None
) -> str | None:
    """Return the ``NightInvalid`` reason for a readable night's accepted rows, or ``None``.

    Worn and asleep time are counted as accepted rows times the sample period.
    """
    rules = rules or NightRules()
    accepted = table[codes == ACCEPTED]
    if accepted.shape[0] == 0:
        return NightInvalid.NO_VALID_ROWS
    period = raw_format.SAMPLE_PERIOD_S
    if accepted.shape[0] * period < rules.min_worn_hours * 3600:
        return NightInvalid.SHORT_WEAR
    asleep = np.isin(accepted[:, _COLUMN["sleep_state"]], raw_format.SleepState.ASLEEP)
    if asleep.sum() * period < rules.min_sleep_hours * 3600:
        return NightInvalid.SHORT_SLEEP
    ts = accepted[:, _COLUMN["timestamp"]]
    if ts.size > 1 and np.diff(ts).max() > rules.max_gap_hours * 3600:
        return NightInvalid.LONG_GAP
    low_motion = accepted[:, _COLUMN["motion"]] <= raw_format.LOW_MOTION_G
    if not (asleep & low_motion).any():
        return NightInvalid.NO_LOW_MOTION_SLEEP
    return None


def file_reject_reason(data: bytes) -> str | None:
    """Return the ``FileReject`` reason Python's gzip readers give ``data``, or ``None``.

    ``EOFError`` (stream ends before its end marker) is ``truncated_file``; ``zlib.error``,
    ``gzip.BadGzipFile`` (bad magic, CRC or length) and non-UTF-8 text are ``corrupt_file``.
    Both ``gzip.decompress`` and streaming ``gzip.GzipFile`` reads are tried, and a file only gets
    a reason when both readers raise errors mapping to it.
    """
    reasons = set()
    for reader in (gzip.decompress, _stream_read):
        try:
            reader(data).decode("utf-8")
        except EOFError:
            reasons.add(FileReject.TRUNCATED)
        except (zlib.error, gzip.BadGzipFile, UnicodeDecodeError):
            reasons.add(FileReject.CORRUPT)
        else:
            reasons.add(None)
    if len(reasons) != 1:
        return AMBIGUOUS
    return reasons.pop()


def _stream_read(data: bytes) -> bytes:
    """Decompress ``data`` with a streaming ``gzip.GzipFile`` read."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        return stream.read()
