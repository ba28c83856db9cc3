"""``bench --online`` rewrites its own section of BENCHMARKS.md; the full bench keeps it."""

from __future__ import annotations

from benchmarks.markdown import (
    LOG_HEADING,
    ONLINE_HEADING,
    SERVE_HEADING,
    kept_sections,
    online_markdown,
    with_section,
)

ROWS = [
    {"backend": "sqlite", "users": 80, "p50_ms": 6.0, "p99_ms": 10.0, "fill_seconds": 0.1,
     "requests": 2000, "uploads": 73},
    {"backend": "sqlite", "users": 200_000, "p50_ms": 6.5, "p99_ms": 12.0, "fill_seconds": 300,
     "requests": 2000, "uploads": 73},
]


def test_the_online_section_lands_before_the_log_and_replaces_itself():
    old = f"# Benchmarks\n\n## Serving\n\nfigures\n\n{LOG_HEADING}\n\n| change |\n"
    section = online_markdown(ROWS, "cyclecast bench --online --fleet-users 200000")
    assert "| sqlite | 200,000 | 6.50 | 12.00 | 1.20x | 300 |" in section
    assert "online request p50 6.5 ms, p99 12.0 ms at 200000 users (sqlite)" in section
    once = with_section(old, ONLINE_HEADING, section)
    assert once.index("## Serving") < once.index(ONLINE_HEADING) < once.index(LOG_HEADING)
    again = with_section(once, ONLINE_HEADING, section.replace("12.00", "13.00"))
    assert again.count(ONLINE_HEADING) == 1 and "13.00" in again and "| 12.00 |" not in again
    kept = kept_sections(f"{SERVE_HEADING}\n\nload\n\n" + again)
    assert kept.startswith(SERVE_HEADING) and kept.index(ONLINE_HEADING) < kept.index(LOG_HEADING)
    assert "## Serving" not in kept and "13.00" in kept
