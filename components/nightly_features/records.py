"""What flows between the steps of the nightly-feature job: one night's outcome, one cycle row.

Plain dataclasses (picklable, so any Beam runner can ship them) and the pure functions that make
them from a raw file and from a line of the cycle log.
"""

from __future__ import annotations

import datetime as dt
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


def parse_night_path(rel_path: str) -> tuple[str, str]:
    """Return (user_id, night_date) from ``nights/<YYYY-MM-DD>/<user_id>.csv.gz``.

    Raises ``UnreadableFile`` with ``bad_path`` for anything else, including impossible dates.
    """
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) < 3 or parts[-3] != rf.NIGHTS_DIR or not parts[-1].endswith(rf.RAW_SUFFIX):
        raise UnreadableFile(
            rf.FileReject.BAD_PATH, f"expected nights/<date>/<user>.csv.gz: {rel_path}"
        )
    user_id = parts[-1][: -len(rf.RAW_SUFFIX)]
    if not rf.USER_ID_PATTERN.match(user_id):
        raise UnreadableFile(rf.FileReject.BAD_PATH, f"bad user id in {rel_path}")
    night = rf.night_in_path(rel_path)
    if night is None:
        raise UnreadableFile(rf.FileReject.BAD_PATH, f"bad or impossible date in {rel_path}")
    return user_id, night.isoformat()


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
        return NightOutcome(
            rel_path, None, None, file_reject=e.reason, file_error=e.detail, invalid_reason=e.reason
        )
    out = NightOutcome(rel_path, user_id, night_date)
    try:
        parsed = parse_rows(rf.decode_raw(data))
    except UnreadableFile as e:
        out.file_reject, out.file_error, out.invalid_reason = e.reason, e.detail, e.reason
        return out
    out.rows_total = parsed.rows_total
    out.rows_accepted = parsed.rows_accepted
    out.rejected_rows = parsed.rejected
    out.rows_rejected = parsed.reject_counts()
    assessment = rf.assess_night(parsed.columns, rules)
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


def parse_cycle_line(line: str) -> CycleRow:
    """Parse one line of ``cycles.csv`` (without the header); raise ``BadCycleRow`` if unusable."""
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
