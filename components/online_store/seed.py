"""Fill an online store from a span store that has none yet, without a Beam job.

A deployment whose span store predates the online store, or a test that wants every night of a
store kept (the ingest prunes what no recent request needs), publishes the committed nights' own
statistics lines (read and checked against their entries, as the batch path reads them) and the
cycle log's valid lines, through the same stage-then-publish steps the ingest uses.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import defaultdict
from pathlib import Path

from components.online_store.base import OnlineStore, join_cycle_lines, keyed_cycle_line
from transforms import features as fc


def seed_nights(online: OnlineStore, span_store: str, nights: list[dt.date]) -> int:
    """Publish the committed nights among ``nights``; return how many were published."""
    from components.file_io import gzip_lines
    from components.spans.store import SpanStore

    store = SpanStore(span_store)
    run = f"seed-{secrets.token_hex(4)}"
    published = 0
    for entry in store.entries(nights).values():
        lines = gzip_lines(store.read_verified(entry, entry.stats_file))
        online.stage_nights(run, [(entry.night, json.loads(t)[fc.USER_KEY], t) for t in lines])
        online.publish_night(run, entry.night, entry.files.get(entry.stats_file, ""))
        published += 1
    return published


def seed_cycles(online: OnlineStore, cycles_file: str | Path, salt: bytes) -> int:
    """Publish the cycle log's valid lines by pseudonym; return how many users have some."""
    from components.nightly_features.records import BadCycleRow, parse_cycle_line
    from components.nightly_features.user_history import pseudonymise

    by_user: dict[str, list[bytes]] = defaultdict(list)
    with open(cycles_file, "rb") as f:
        next(f, None)  # the header
        for line in f:
            try:
                row = parse_cycle_line(line)
            except BadCycleRow:  # the job quarantines it; it is never an online row
                continue
            key = pseudonymise(row.user_id, salt)
            by_user[key].append(keyed_cycle_line(key, line))
    run = f"seed-{secrets.token_hex(4)}"
    online.stage_cycles(run, [(k, join_cycle_lines(v)) for k, v in by_user.items()])
    online.publish_cycles(run)
    return len(by_user)
