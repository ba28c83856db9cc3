"""A night selection: the nights' folders it reads and the nights it emits."""

from __future__ import annotations

import datetime as dt

import pytest

from components.nightly_features.selection import NightSelection
from transforms import raw_format as rf


def test_selection_reads_only_its_nights_folders():
    sel = NightSelection.of([dt.date(2026, 3, 2), dt.date(2026, 3, 1)])
    assert sel.raw_patterns() == ["nights/2026-03-01/*.csv.gz", "nights/2026-03-02/*.csv.gz"]
    assert sel.emits("2026-03-01") and not sel.emits("2026-02-28") and sel.emits(None)
    assert sel.describe() == "2026-03-01..2026-03-02 (2 nights)"
    assert NightSelection().raw_patterns() == [rf.NIGHTS_GLOB] and NightSelection().emits("x")
    with pytest.raises(ValueError, match="at least one night"):
        NightSelection.of([])
