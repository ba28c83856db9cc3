"""Hand-built raw files for tests: exact rows, so every expected answer is known."""

from __future__ import annotations

import gzip

from components import raw_format as rf

T0 = 1_767_650_400  # 2026-01-05 22:00:00 UTC


def row(
    ts: int, hr="60.0", hrv="50.0", temp="34.00", br="15.0", perf="1.000", state="2", motion="0.010"
) -> str:
    """One raw CSV line; pass strings to control the exact text (e.g. '' for missing)."""
    return ",".join(str(v) for v in (ts, hr, hrv, temp, br, perf, state, motion))


def steady_night(hours: float, state: str = "2", start: int = T0, **values) -> list[str]:
    """A night of identical rows every 10 s for ``hours``."""
    n = int(hours * 3600 / rf.SAMPLE_PERIOD_S)
    return [row(start + i * rf.SAMPLE_PERIOD_S, state=state, **values) for i in range(n)]


def to_file(lines: list[str], header: str = rf.HEADER_LINE) -> bytes:
    """Gzip a header and lines the way a device uploads them."""
    return gzip.compress(("\n".join([header, *lines]) + "\n").encode(), mtime=0)
