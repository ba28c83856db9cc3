"""Which nights a run of the feature job ingests, and the date arithmetic of spans.

Raw recordings land in one dated folder per night (``nights/<YYYY-MM-DD>/``); each folder is a
span, numbered like TFX's date spans (days since 1970-01-01). A nightly run ingests the new night,
plus any earlier night the span store says must be (re)processed (see ``span_store.plan_ingest``):
it reads only those nights' raw files, and takes the history features of their first nights from
the stored nightly statistics of earlier spans. A whole re-processing (``cyclecast features``)
selects every night.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from transforms import features as fc
from transforms import raw_format as rf

UNIX_EPOCH = dt.date(1970, 1, 1)
# The raw files of one night, with TFX's date placeholders: the span is the folder's date.
DATED_NIGHTS_PATTERN = f"{rf.NIGHTS_DIR}/{{YYYY}}-{{MM}}-{{DD}}/*{rf.RAW_SUFFIX}"


def span_of(night: dt.date) -> int:
    """Return the span number of a night (days since 1970-01-01, as TFX numbers date spans)."""
    return (night - UNIX_EPOCH).days


def night_of(span: int) -> dt.date:
    """Return the night a span number stands for."""
    return UNIX_EPOCH + dt.timedelta(days=span)


def parse_night(text: str) -> dt.date:
    """Parse an ISO night date, with an error that names the expected form."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"night {text!r} is not a date in the form YYYY-MM-DD") from None


def night_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every night from ``first`` to ``last``, inclusive."""
    if first > last:
        raise ValueError(f"range starts {first} after it ends {last}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def history_nights(night: dt.date) -> list[dt.date]:
    """The ``HISTORY_NIGHTS`` nights whose statistics a night's history features hold."""
    return [night - dt.timedelta(days=back) for back in range(fc.HISTORY_NIGHTS, 0, -1)]


@dataclass(frozen=True)
class NightSelection:
    """The nights a run ingests (emits examples, rejects and ledger entries for); None: all."""

    nights: frozenset[dt.date] | None = None

    @classmethod
    def of(cls, nights: Iterable[dt.date]) -> NightSelection:
        """Select these nights (at least one)."""
        chosen = frozenset(nights)
        if not chosen:
            raise ValueError("a selection needs at least one night")
        return cls(chosen)

    @property
    def first(self) -> dt.date | None:
        """The earliest selected night (None when every night is)."""
        return None if self.nights is None else min(self.nights)

    @property
    def last(self) -> dt.date | None:
        """The latest selected night (None when every night is)."""
        return None if self.nights is None else max(self.nights)

    def raw_patterns(self) -> list[str]:
        """The raw-file patterns to read, relative to the data root: only the selected nights'.

        Reading a few dated folders never lists the whole history; a whole re-processing reads
        every file under ``nights/``, including ones whose path holds no valid date.
        """
        if self.nights is None:
            return [rf.NIGHTS_GLOB]
        return [f"{rf.NIGHTS_DIR}/{n.isoformat()}/*{rf.RAW_SUFFIX}" for n in sorted(self.nights)]

    def emits(self, night_date: str | None) -> bool:
        """True when a night's examples, rejects and ledger entry belong to this run's output."""
        if night_date is None or self.nights is None:
            return True
        return dt.date.fromisoformat(night_date) in self.nights

    def describe(self) -> str:
        """Return the selection as text, e.g. ``2026-03-01..2026-03-28 (28 nights)``."""
        if self.nights is None:
            return "every night"
        if len(self.nights) == 1:
            return str(self.first)
        return f"{self.first}..{self.last} ({len(self.nights)} nights)"
