"""Hand-built raw files for tests: exact rows, so every expected answer is known."""

from __future__ import annotations

import gzip

from transforms import raw_format as rf

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


def write_steady_root(root, users=("u1", "u2", "u3"), nights=6, first="2026-01-05",
                      vary_heart_rate=False) -> None:
    """A data root of steady 5-hour nights for ``users`` from ``first``, and a 28-day cycle log.

    With ``vary_heart_rate`` night k's heart rate is 55 + k, so history values can be told apart.
    """
    import datetime as dt

    start = dt.date.fromisoformat(first)
    root.mkdir(parents=True)
    (root / rf.CYCLES_FILE).write_text(
        ",".join(rf.CYCLES_COLUMNS) + "\n"
        + "".join(f"{u},0,{start.isoformat()},28,14,5\n" for u in users))
    for u in users:
        for k in range(nights):
            path = root / rf.night_path((start + dt.timedelta(days=k)).isoformat(), u)
            path.parent.mkdir(parents=True, exist_ok=True)
            hr = str(55 + k) if vary_heart_rate else "60.0"
            path.write_bytes(to_file(steady_night(5, start=T0 + 86400 * k, hr=hr)))


def read_jsonl(directory, name: str) -> list[dict]:
    """Every record of a quarantine output (``<name>-*.jsonl.gz``) under ``directory``."""
    import json
    from pathlib import Path

    out = []
    for path in sorted(Path(directory).glob(f"{name}-*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            out.extend(json.loads(line) for line in f)
    return out
