"""Which nights a run of the feature job ingests.

Raw recordings land in one dated folder per night (``nights/<YYYY-MM-DD>/``); each folder is a
span (``components.spans.dates``). A nightly run ingests the new night, plus any earlier night the
span store says must be (re)processed (see ``components.spans.plan.plan_ingest``): it reads only
those nights' raw files, and takes the history features of their first nights from the stored
nightly statistics of earlier spans. A whole re-processing (``cyclecast features``)
selects every night.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from transforms import raw_format as rf


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
        return [rf.night_files(n.isoformat()) for n in sorted(self.nights)]

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
