"""What flows between the steps of the nightly-feature job: one night's outcome, one cycle row.

Plain dataclasses (picklable, so any Beam runner can ship them) and the pure functions that make
them from a raw file and from a line of the cycle log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from components.nightly_features.night import RejectedRow, extract_features, parse_rows
from transforms import night_ranges
from transforms import raw_format as rf
from transforms.raw_format import UnreadableFile


@dataclass
class NightOutcome:
    """Everything the job learned from one raw file. ``user_id`` is raw: never written out."""

    rel_path: str
    user_id: str | None
    night_date: str | None
    rows_total: int = 0
    rows_accepted: int = 0
    rejected_rows: list[RejectedRow] = field(default_factory=list)
    rows_rejected: dict[str, int] = field(default_factory=dict)  # by reason
    file_reject: str | None = None
    file_error: str | None = None
    valid: bool = False
    invalid_reason: str | None = None
    invalid_detail: str | None = None  # which figure broke which bound, for a schema-range reject
    quality: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    # A valid night from the span store's statistics: history for later nights, not ingested.
    stored: bool = False


# A copy saved beside an earlier upload of the same name, as phones and browsers name them.
_COPY_NAME = re.compile(r"^(?P<user>[A-Za-z0-9_-]{1,64}) ?\(\d+\)$")


def name_user_id(rel_path: str) -> str | None:
    """The user id a raw file's name stands for, or None when no user id can be read from it.

    ``<user_id>.csv.gz`` gives its user id; so does a re-sent copy, ``<user_id> (1).csv.gz``
    (still a ``bad_path``: only the quarantine uses it, pseudonymised, to say whose copy it is).
    """
    name = rel_path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name[: -len(rf.RAW_SUFFIX)] if name.endswith(rf.RAW_SUFFIX) else name
    if rf.USER_ID_PATTERN.match(stem):
        return stem
    copy = _COPY_NAME.match(stem)
    return copy["user"] if copy else None


def parse_night_path(rel_path: str) -> tuple[str, str]:
    """Return (user_id, night_date) from ``nights/<YYYY-MM-DD>/<user_id>.csv.gz``.

    Raises ``UnreadableFile`` with ``bad_path`` for anything else, including impossible dates.
    The message never quotes the path: it may hold a raw user id, and it is written out.
    """
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) < 3 or parts[-3] != rf.NIGHTS_DIR or not parts[-1].endswith(rf.RAW_SUFFIX):
        raise UnreadableFile(rf.FileReject.BAD_PATH, "expected nights/<date>/<user_id>.csv.gz")
    user_id = parts[-1][: -len(rf.RAW_SUFFIX)]
    if not rf.USER_ID_PATTERN.match(user_id):
        copy = " (a re-sent copy)" if name_user_id(rel_path) else ""
        raise UnreadableFile(rf.FileReject.BAD_PATH, f"the file name is not <user_id>.csv.gz{copy}")
    night = rf.night_in_path(rel_path)
    if night is None:
        raise UnreadableFile(rf.FileReject.BAD_PATH, "the folder is not a possible date")
    return user_id, night.isoformat()


def _rejected(rel_path: str, user_id: str | None, night: str | None, e: UnreadableFile):
    return NightOutcome(
        rel_path, user_id, night, file_reject=e.reason, file_error=e.detail, invalid_reason=e.reason
    )


def read_raw_file(
    rel_path: str,
    read: Callable[[], bytes],
    rules: rf.NightRules,
    ranges: night_ranges.Ranges | None = None,
) -> tuple[NightOutcome, int]:
    """``process_raw_file`` on the bytes ``read()`` returns; also return how many bytes it read.

    The path is checked first, so a bad path is never read. A read that fails (``OSError``:
    permission denied, an I/O error, a file gone since it was listed) makes an ``unreadable_file``
    night of the user's, counted in its night and read again on the next run; the error keeps the
    system's words, never the path.
    """
    try:
        user_id, night_date = parse_night_path(rel_path)
    except UnreadableFile as e:
        return _rejected(rel_path, None, None, e), 0
    try:
        data = read()
    except UnreadableFile as e:  # named like an upload, but not a file (``not_a_file``)
        return _rejected(rel_path, user_id, night_date, e), 0
    except OSError as e:
        detail = f"could not read the file: {e.strerror or type(e).__name__}"
        return _rejected(
            rel_path, user_id, night_date, UnreadableFile(rf.FileReject.UNREADABLE, detail)
        ), 0
    return process_raw_file(rel_path, data, rules, ranges), len(data)


def process_raw_file(
    rel_path: str,
    data: bytes,
    rules: rf.NightRules,
    ranges: night_ranges.Ranges | None = None,
) -> NightOutcome:
    """Read, validate, assess and featurise one raw file; never raises for bad input.

    A night that passes the night rules is then held to the schema's ranges
    (``transforms.night_ranges``; ``ranges`` defaults to the project's schema): outside them it
    is invalid with ``night_ranges.OUT_OF_RANGE`` and ``invalid_detail`` names the figure.
    """
    try:
        user_id, night_date = parse_night_path(rel_path)
    except UnreadableFile as e:
        return _rejected(rel_path, None, None, e)
    out = NightOutcome(rel_path, user_id, night_date)
    try:
        parsed = parse_rows(rf.decode_raw(data), dt.date.fromisoformat(night_date))
    except UnreadableFile as e:
        out.file_reject, out.file_error, out.invalid_reason = e.reason, e.detail, e.reason
        return out
    out.rows_total = parsed.rows_total
    out.rows_accepted = parsed.rows_accepted
    out.rejected_rows = parsed.rejected
    out.rows_rejected = parsed.reject_counts()
    assessment = rf.assess_night(
        parsed.columns,
        rules,
        rows_total=parsed.rows_total,
        rows_outside=out.rows_rejected.get(rf.RowReject.OUTSIDE_NIGHT, 0),
    )
    out.quality = assessment.quality
    out.valid = assessment.valid
    out.invalid_reason = assessment.invalid_reason
    if out.valid:
        out.features = extract_features(parsed.columns)
        broken = night_ranges.out_of_range(
            {**out.features, **out.quality},
            night_ranges.night_ranges() if ranges is None else ranges,
        )
        if broken is not None:
            out.valid, out.features = False, {}
            out.invalid_reason, out.invalid_detail = night_ranges.OUT_OF_RANGE, broken
    return out


@dataclass(frozen=True)
class CycleRow:
    """One cycle of the app's cycle log. ``length_days`` is None for the open, current cycle."""

    user_id: str
    cycle_index: int
    start_date: dt.date
    length_days: int | None
    ovulation_day: int | None
    menses_days: int | None

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` falls in this cycle (an open cycle contains every later day)."""
        if day < self.start_date:
            return False
        return self.length_days is None or (day - self.start_date).days < self.length_days


class BadCycleRow(ValueError):
    """A cycle-log line that can't be used; the message names the problem."""


def _opt_int(value: str, name: str) -> int | None:
    value = value.strip()
    if value == "":
        return None
    try:
        return int(value)
    except ValueError as e:
        raise BadCycleRow(f"{name} is not a whole number: {value!r}") from e


def decode_cycle_line(line: bytes) -> str:
    """One line of ``cycles.csv`` as text; ``BadCycleRow`` when it is not UTF-8."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = f"byte 0x{line[e.start]:02x} at column {e.start + 1}"
        raise BadCycleRow(f"not UTF-8 text: {bad}") from e


def parse_cycle_line(line: str | bytes) -> CycleRow:
    """Parse one line of ``cycles.csv`` (without the header); raise ``BadCycleRow`` if unusable.

    ``line`` may be the file's bytes (the feature job and the online path read it so, so a
    non-UTF-8 byte makes one bad line, quarantined, rather than a failed read).
    """
    if isinstance(line, bytes):
        line = decode_cycle_line(line)
    parts = line.rstrip("\r\n").split(",")
    if len(parts) != len(rf.CYCLES_COLUMNS):
        raise BadCycleRow(f"expected {len(rf.CYCLES_COLUMNS)} fields, got {len(parts)}")
    user_id, idx, start, length, ovulation, menses = (p.strip() for p in parts)
    if not rf.USER_ID_PATTERN.match(user_id):
        raise BadCycleRow("bad user_id")
    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError as e:
        raise BadCycleRow(f"start_date is not an ISO date: {start!r}") from e
    cycle_index = _opt_int(idx, "cycle_index")
    if cycle_index is None or cycle_index < 0:
        raise BadCycleRow("cycle_index missing or negative")
    length_days = _opt_int(length, "length_days")
    ovulation_day = _opt_int(ovulation, "ovulation_day")
    if length_days is not None and not 10 <= length_days <= 120:
        raise BadCycleRow(f"length_days {length_days} outside 10-120")
    if ovulation_day is not None and (
        ovulation_day < 1 or (length_days is not None and ovulation_day > length_days)
    ):
        raise BadCycleRow(f"ovulation_day {ovulation_day} outside the cycle")
    return CycleRow(
        user_id,
        cycle_index,
        start_date,
        length_days,
        ovulation_day,
        _opt_int(menses, "menses_days"),
    )
