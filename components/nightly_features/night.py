"""One user-night: read the raw file, validate its rows, assess the night, extract its features.

Pure functions over bytes and numpy arrays, vectorised per night: the Beam job calls them in a DoFn,
the tests call them directly on hand-built files. Nothing here knows about Beam or TensorFlow.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field

import numpy as np

from transforms import features as fc
from transforms import raw_format as rf

_N_COLS = len(rf.RAW_COLUMNS)
_COL = {name: i for i, name in enumerate(rf.RAW_COLUMNS)}
_VITALS = ("heart_rate", "hrv_rmssd", "skin_temp_c", "breathing_rate", "perfusion")


@dataclass
class RejectedRow:
    """A row that failed validation: its 1-based line number in the file, reason and text."""

    line_no: int
    reason: str
    line: str


@dataclass
class ParsedNight:
    """The accepted rows of one file as columns, plus what was rejected and why."""

    columns: dict[str, np.ndarray]
    rows_total: int
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def rows_accepted(self) -> int:
        """Number of rows that passed every check."""
        return int(self.columns["timestamp"].shape[0])

    def reject_counts(self) -> dict[str, int]:
        """Rejected rows counted by reason (only reasons that occurred)."""
        counts: dict[str, int] = {}
        for r in self.rejected:
            counts[r.reason] = counts.get(r.reason, 0) + 1
        return counts


class UnreadableFile(Exception):
    """The whole file could not be read; ``reason`` is a ``raw_format.FileReject`` name."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_file(data: bytes) -> str:
    """Decompress and decode a raw upload, classifying failures as truncated or corrupt."""
    try:
        raw = gzip.decompress(data)
    except EOFError as e:
        raise UnreadableFile(rf.FileReject.TRUNCATED, str(e) or "gzip stream ended early") from e
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UnreadableFile(rf.FileReject.CORRUPT, str(e)) from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnreadableFile(rf.FileReject.CORRUPT, f"not UTF-8 text: {e}") from e


def _to_float_matrix(fields: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Convert well-formed rows of strings to floats; return (values, parse_ok mask)."""
    n = len(fields)
    if n == 0:
        return np.empty((0, _N_COLS)), np.zeros(0, dtype=bool)
    arr = np.array(fields, dtype=object)
    arr[arr == ""] = "nan"
    try:
        return arr.astype(np.float64), np.ones(n, dtype=bool)
    except ValueError:
        pass
    values = np.full((n, _N_COLS), np.nan)
    ok = np.ones(n, dtype=bool)
    for i, row in enumerate(arr):
        try:
            values[i] = [float(x) for x in row]
        except ValueError:
            ok[i] = False
    return values, ok


def _fast_values(text: str, n_rows: int) -> np.ndarray | None:
    """Parse a well-formed body in one C pass (pyarrow); None when any line is malformed.

    Every line must have 8 numeric or empty fields; anything else (a short line, a word, a quote,
    a blank line) returns None and the row-by-row parser classifies each line.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start = text.find("\n") + 1
    if n_rows == 0 or '"' in text:
        return None
    try:
        table = pacsv.read_csv(
            io.BytesIO(text[start:].encode()),
            read_options=pacsv.ReadOptions(column_names=list(rf.RAW_COLUMNS)),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.float64() for c in rf.RAW_COLUMNS}
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != n_rows:
        return None
    return np.column_stack([table.column(c).to_numpy() for c in rf.RAW_COLUMNS])


def parse_rows(text: str) -> ParsedNight:
    """Validate every row of a decoded raw file; return accepted columns and the rejects.

    The checks and their order are ``raw_format.RowReject``'s. Raises ``UnreadableFile`` with
    ``bad_header`` when the header line is not the expected one.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].strip() != rf.HEADER_LINE:
        got = lines[0][:120] if lines else "<empty file>"
        raise UnreadableFile(rf.FileReject.BAD_HEADER, f"expected {rf.HEADER_LINE!r}, got {got!r}")
    body = lines[1:]
    n = len(body)
    reasons = np.full(n, "", dtype=object)
    vals = _fast_values(text, n)
    if vals is None:  # something in the file is malformed: find it row by row
        vals = np.full((n, _N_COLS), np.nan)
        split = [line.rstrip("\r").split(",") for line in body]
        shaped = np.array([len(parts) == _N_COLS for parts in split], dtype=bool)
        reasons[~shaped] = rf.RowReject.UNPARSEABLE
        good_idx = np.flatnonzero(shaped)
        if good_idx.size:
            parsed, ok = _to_float_matrix([split[i] for i in good_idx])
            vals[good_idx] = parsed
            reasons[good_idx[~ok]] = rf.RowReject.UNPARSEABLE

    pending = reasons == ""
    missing = pending & np.isnan(vals).any(axis=1)
    reasons[missing] = rf.RowReject.MISSING_VALUE
    pending &= ~missing

    temp = vals[:, _COL["skin_temp_c"]]
    band = rf.FAHRENHEIT_BAND
    fahrenheit = pending & (temp >= band.low) & (temp <= band.high)
    reasons[fahrenheit] = rf.RowReject.FAHRENHEIT
    pending &= ~fahrenheit

    out = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for name, rng in rf.VALID_RANGES.items():
            col = vals[:, _COL[name]]
            out |= ~((col >= rng.low) & (col <= rng.high))
        ts = vals[:, _COL["timestamp"]]
        state = vals[:, _COL["sleep_state"]]
        out |= ~np.isfinite(ts) | (ts < 0) | (ts != np.floor(ts))
        out |= state != np.floor(state)
    out &= pending
    reasons[out] = rf.RowReject.OUT_OF_RANGE
    pending &= ~out

    # Timestamp order: a candidate is accepted when it is later than every earlier candidate
    # (accepted timestamps are strictly increasing, so the latest accepted is that maximum).
    cand = np.flatnonzero(pending)
    if cand.size:
        cts = ts[cand]
        prev_max = np.concatenate(([-np.inf], np.maximum.accumulate(cts)[:-1]))
        accepted_c = cts > prev_max
        acc_ts = cts[accepted_c]
        acc_pos = np.flatnonzero(accepted_c)
        for j in np.flatnonzero(~accepted_c):
            k = np.searchsorted(acc_ts, cts[j])
            is_dup = k < acc_ts.size and acc_ts[k] == cts[j] and acc_pos[k] < j
            reasons[cand[j]] = (
                rf.RowReject.DUPLICATE_TIMESTAMP if is_dup else rf.RowReject.OUT_OF_ORDER
            )
        pending[cand[~accepted_c]] = False

    keep = np.flatnonzero(pending)
    columns = {name: vals[keep, i] for i, name in enumerate(rf.RAW_COLUMNS)}
    columns["timestamp"] = columns["timestamp"].astype(np.int64)
    columns["sleep_state"] = columns["sleep_state"].astype(np.int64)
    rejected = [
        RejectedRow(line_no=int(i) + 2, reason=str(reasons[i]), line=body[i])
        for i in np.flatnonzero(~pending)
    ]
    return ParsedNight(columns=columns, rows_total=n, rejected=rejected)


@dataclass(frozen=True)
class NightAssessment:
    """Whether a night is valid, why not, and its quality figures in hours."""

    valid: bool
    invalid_reason: str | None
    quality: dict[str, float]


def assess_night(columns: dict[str, np.ndarray], rules: rf.NightRules) -> NightAssessment:
    """Apply ``raw_format.NightRules`` to a night's accepted rows."""
    hours_per_row = rf.SAMPLE_PERIOD_S / 3600.0
    ts = columns["timestamp"]
    asleep = _asleep(columns["sleep_state"])
    low_motion = columns["motion"] <= rf.LOW_MOTION_G
    quality = {
        "worn_hours": float(ts.size * hours_per_row),
        "sleep_hours": float(asleep.sum() * hours_per_row),
        "low_motion_sleep_hours": float((asleep & low_motion).sum() * hours_per_row),
    }
    max_gap_h = float(np.diff(ts).max() / 3600.0) if ts.size > 1 else 0.0
    reason = None
    if ts.size == 0:
        reason = rf.NightInvalid.NO_VALID_ROWS
    elif quality["worn_hours"] < rules.min_worn_hours:
        reason = rf.NightInvalid.SHORT_WEAR
    elif quality["sleep_hours"] < rules.min_sleep_hours:
        reason = rf.NightInvalid.SHORT_SLEEP
    elif max_gap_h > rules.max_gap_hours:
        reason = rf.NightInvalid.LONG_GAP
    elif quality["low_motion_sleep_hours"] == 0.0:
        reason = rf.NightInvalid.NO_LOW_MOTION_SLEEP
    return NightAssessment(valid=reason is None, invalid_reason=reason, quality=quality)


def _asleep(states: np.ndarray) -> np.ndarray:
    """Rows whose sleep state is one of ``raw_format.SleepState.ASLEEP`` (``np.isin``, cheaper)."""
    out = np.zeros(states.shape, dtype=bool)
    for code in rf.SleepState.ASLEEP:
        out |= states == code
    return out


# The columns whose median is a nightly statistic, and the statistic each of them gives.
_MEDIANS = {name: col for name, (col, stat) in fc.NIGHTLY_STATS.items() if stat == "median"}
_P10 = {name: col for name, (col, stat) in fc.NIGHTLY_STATS.items() if stat == "p10"}


def extract_features(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """Robust nightly statistics over the asleep, low-motion accepted rows.

    Motion-corrupted epochs (motion above ``raw_format.LOW_MOTION_G``) and wake epochs are left
    out, and medians and percentiles keep the few remaining artefacts from moving the figures.
    Call only on a valid night (``assess_night``), which guarantees such rows exist.
    """
    sel = _asleep(columns["sleep_state"]) & (columns["motion"] <= rf.LOW_MOTION_G)
    if not sel.any():
        raise ValueError("no asleep low-motion rows: assess the night before extracting features")
    # every median in one call over the stacked columns (the same values as one call each)
    medians = np.median(np.stack([columns[col][sel] for col in _MEDIANS.values()]), axis=1)
    stats = dict(zip(_MEDIANS, (float(m) for m in medians), strict=True))
    stats.update({name: float(np.percentile(columns[col][sel], 10)) for name, col in _P10.items()})
    return {name: stats[name] for name in fc.NIGHTLY_STATS}
