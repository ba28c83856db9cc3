"""One user-night: read the raw file's rows into a table, and the night's features.

The file, row and night rules are the contract's (``transforms.raw_format``: ``decode_raw``,
``row_reject_codes``, ``assess_night``); this module parses the text they apply to and computes the
nightly statistics. Pure functions over text and numpy arrays, vectorised per night: the Beam job
calls them in a DoFn, the tests call them directly on hand-built files. Nothing here knows about
Beam or TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import numpy as np

from transforms import features as fc
from transforms import raw_format as rf

_N_COLS = len(rf.RAW_COLUMNS)


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


def parse_rows(text: str, night: dt.date | None = None) -> ParsedNight:
    """Validate every row of a decoded raw file; return accepted columns and the rejects.

    The checks and their order are ``raw_format.RowReject``'s; ``night`` is the file's night,
    whose window its timestamps must fall in (``raw_format.night_window``). Raises
    ``UnreadableFile`` with ``bad_header`` when the header line is not the expected one.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].strip() != rf.HEADER_LINE:
        got = lines[0][:120] if lines else "<empty file>"
        raise rf.UnreadableFile(
            rf.FileReject.BAD_HEADER, f"expected {rf.HEADER_LINE!r}, got {got!r}"
        )
    body = lines[1:]
    n = len(body)
    unparseable = np.zeros(n, dtype=bool)
    vals = _fast_values(text, n)
    if vals is None:  # something in the file is malformed: find it row by row
        vals = np.full((n, _N_COLS), np.nan)
        split = [line.rstrip("\r").split(",") for line in body]
        shaped = np.array([len(parts) == _N_COLS for parts in split], dtype=bool)
        unparseable[~shaped] = True
        good_idx = np.flatnonzero(shaped)
        if good_idx.size:
            parsed, ok = _to_float_matrix([split[i] for i in good_idx])
            vals[good_idx] = parsed
            unparseable[good_idx[~ok]] = True

    codes = rf.row_reject_codes(vals, unparseable, night)
    keep = np.flatnonzero(codes == rf.ACCEPTED)
    columns = {name: vals[keep, i] for i, name in enumerate(rf.RAW_COLUMNS)}
    columns["timestamp"] = columns["timestamp"].astype(np.int64)
    columns["sleep_state"] = columns["sleep_state"].astype(np.int64)
    rejected = [
        RejectedRow(line_no=int(i) + 2, reason=rf.RowReject.ALL[codes[i]], line=body[i])
        for i in np.flatnonzero(codes != rf.ACCEPTED)
    ]
    return ParsedNight(columns=columns, rows_total=n, rejected=rejected)


# The columns whose median is a nightly statistic, and the statistic each of them gives.
_MEDIANS = {name: col for name, (col, stat) in fc.NIGHTLY_STATS.items() if stat == "median"}
_P10 = {name: col for name, (col, stat) in fc.NIGHTLY_STATS.items() if stat == "p10"}


def extract_features(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """Robust nightly statistics over the asleep, low-motion accepted rows.

    Motion-corrupted epochs (motion above ``raw_format.LOW_MOTION_G``) and wake epochs are left
    out, and medians and percentiles keep the few remaining artefacts from moving the figures.
    Call only on a valid night (``raw_format.assess_night``), which guarantees such rows exist.
    """
    sel = rf.feature_rows(columns["sleep_state"], columns["motion"])
    if not sel.any():
        raise ValueError("no asleep low-motion rows: assess the night before extracting features")
    # every median in one call over the stacked columns (the same values as one call each)
    medians = np.median(np.stack([columns[col][sel] for col in _MEDIANS.values()]), axis=1)
    stats = dict(zip(_MEDIANS, (float(m) for m in medians), strict=True))
    stats.update({name: float(np.percentile(columns[col][sel], 10)) for name, col in _P10.items()})
    return {name: stats[name] for name in fc.NIGHTLY_STATS}
