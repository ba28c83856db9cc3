"""Which nights a run of the feature job emits, and which it reads only as history.

Raw recordings land in one dated folder per night (``nights/<YYYY-MM-DD>/``); each folder is a
span, numbered like TFX's date spans (days since 1970-01-01). A nightly run emits the examples of a
rolling window of the latest ``N`` nights ending with the new night, and reads the
``HISTORY_NIGHTS`` nights before the window only to fill in the history features of its first
nights: those context nights are neither emitted nor counted again (an earlier run counted them).
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True)
class NightWindow:
    """Nights ``first``..``last`` (inclusive) are emitted; None leaves that end open."""

    first: dt.date | None = None
    last: dt.date | None = None

    def __post_init__(self):
        if self.first and self.last and self.first > self.last:
            raise ValueError(f"window starts {self.first} after it ends {self.last}")

    @classmethod
    def ending(cls, last: dt.date, nights: int | None) -> NightWindow:
        """The window of ``nights`` nights ending with ``last`` (every earlier night if None)."""
        if nights is not None and nights < 1:
            raise ValueError(f"a window needs at least one night, got {nights}")
        first = None if nights is None else last - dt.timedelta(days=nights - 1)
        return cls(first=first, last=last)

    @property
    def read_from(self) -> dt.date | None:
        """The first night read: the window's first night less the history the features need."""
        return None if self.first is None else self.first - dt.timedelta(days=fc.HISTORY_NIGHTS)

    def reads(self, rel_path: str) -> bool:
        """True when the job must read this raw file (a path with no valid date always is)."""
        night = rf.night_in_path(rel_path)
        if night is None:
            return True  # quarantined as bad_path by every run, so it can't go unnoticed
        if self.last is not None and night > self.last:
            return False
        return self.read_from is None or night >= self.read_from

    def emits(self, night_date: str | None) -> bool:
        """True when a night's examples, rejects and ledger entry belong to this run's output."""
        if night_date is None:
            return True
        night = dt.date.fromisoformat(night_date)
        if self.first is not None and night < self.first:
            return False
        return self.last is None or night <= self.last

    def describe(self) -> str:
        """Return the window as text, e.g. ``2026-03-01..2026-03-28``."""
        return f"{self.first or 'start'}..{self.last or 'end'}"
