"""The online store's request cost at fleet size (issue 25): 80 users against ``fleet_users``.

The probe users are 80 generated users (``synthetic.generate``): their real uploads of one night
are what is measured, with the full request build (``online.upload_request``: parse and check the
upload, read her 28 history nights, the digests and her cycle rows from the store, check them
against the span entries, build and serialise the request), in this process. Their stored
statistics lines are made directly from their raw files with the job's own per-file function
(``records.process_raw_file``: the features a valid night's statistics line holds), without a
Beam job. The fleet store adds ``fleet_users - 80`` users whose lines and cycle rows are copies
of the probe users' under other pseudonyms, so every user has the same data volume: the store
holds ``fleet_users`` x the history nights, staged and published as the ingest does. The span
store holds an index entry per night (its digest), as the request checks them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from transforms import features as fc
from transforms import raw_format as rf

PROBE_USERS = 80
PROBE_CYCLES = 2
SEED = 20261202
SALT = b"online-store-bench-salt-0123456789"
REQUESTS = 2000  # measured requests per store size (after 200 warm-up requests)
STAGE_BATCH = 20_000


def _probe_data(work: Path, progress: Callable[[str], None]):
    """The probe users' data: (data root, probe night, uploads, stats lines by night, cycles)."""
    from components.nightly_features.feature_outputs import quarantine_line
    from components.nightly_features.records import BadCycleRow, parse_cycle_line, process_raw_file
    from components.nightly_features.user_history import pseudonymise
    from synthetic.generate import generate_dataset

    data = work / "data"
    generate_dataset(data, users=PROBE_USERS, cycles=PROBE_CYCLES, seed=SEED, progress=False)
    nights = sorted(p.name for p in (data / rf.NIGHTS_DIR).iterdir())
    candidates = nights[fc.HISTORY_NIGHTS :]  # nights with a whole history window before them
    probe = max(candidates, key=lambda n: (len(list((data / rf.NIGHTS_DIR / n).iterdir())), n))
    probe_date = dt.date.fromisoformat(probe)
    history = {(probe_date - dt.timedelta(days=b)).isoformat() for b in range(1, 29)}
    lines: dict[str, dict[str, str]] = defaultdict(dict)  # night -> user key -> line
    rules = rf.NightRules()
    for night in sorted(history & set(nights)):
        for path in sorted((data / rf.NIGHTS_DIR / night).glob(f"*{rf.RAW_SUFFIX}")):
            user = path.name[: -len(rf.RAW_SUFFIX)]
            outcome = process_raw_file(rf.night_path(night, user), path.read_bytes(), rules)
            if outcome.valid:
                key = pseudonymise(user, SALT)
                record = {fc.USER_KEY: key, fc.NIGHT_DATE: night, "features": outcome.features}
                lines[night][key] = quarantine_line(record)
    cycles: dict[str, list[bytes]] = defaultdict(list)
    with open(data / rf.CYCLES_FILE, "rb") as f:
        next(f, None)
        for line in f:
            try:
                row = parse_cycle_line(line)
            except BadCycleRow:
                continue
            cycles[pseudonymise(row.user_id, SALT)].append(line)
    uploads = [
        (p.name[: -len(rf.RAW_SUFFIX)], p.read_bytes())
        for p in sorted((data / rf.NIGHTS_DIR / probe).glob(f"*{rf.RAW_SUFFIX}"))
    ]
    progress(f"probe data: {PROBE_USERS} users, night {probe}, {len(uploads)} uploads")
    return probe_date, uploads, lines, cycles


def _filler_key(i: int) -> str:
    return hashlib.sha256(f"filler-{i}".encode()).hexdigest()


def _digest(night: str) -> str:
    return hashlib.sha256(f"stats of {night}".encode()).hexdigest()


def _span_store(root: Path, nights: list[str]) -> str:
    """A span store with an entry per night whose recorded statistics digest is ``_digest``."""
    from components.spans.store import SpanEntry, SpanStore

    store = SpanStore(str(root))
    for night in nights:
        entry = SpanEntry(night, f"{root}/examples", f"{root}/quarantine", "fp", 1, "code")
        store.commit(SpanEntry(**{**entry.__dict__, "files": {entry.stats_file: _digest(night)}}))
    return store.root


def fill_store(online, users: int, lines: dict, cycles: dict, progress) -> float:
    """Stage and publish ``users`` users' nights and cycle rows; return the seconds it took."""
    from components.online_store.base import join_cycle_lines

    started = time.perf_counter()
    probe_keys = sorted(cycles)
    run = f"bench-{users}"
    for night, by_user in sorted(lines.items()):
        probe_lines = sorted(by_user.items())
        rows = [(night, k, line) for k, line in probe_lines]
        for i in range(users - len(probe_keys)):
            key, line = probe_lines[i % len(probe_lines)]
            rows.append((night, _filler_key(i), line.replace(key, _filler_key(i))))
            if len(rows) >= STAGE_BATCH:
                online.stage_nights(run, rows)
                rows = []
        online.stage_nights(run, rows)
        online.publish_night(run, night, _digest(night))
    rows = [(k, join_cycle_lines(v)) for k, v in cycles.items()]
    for i in range(users - len(probe_keys)):
        rows.append((_filler_key(i), join_cycle_lines(cycles[probe_keys[i % len(probe_keys)]])))
        if len(rows) >= STAGE_BATCH:
            online.stage_cycles(run, rows)
            rows = []
    online.stage_cycles(run, rows)
    online.publish_cycles(run)
    seconds = time.perf_counter() - started
    progress(f"filled {online.url} with {users:,} users in {seconds:.0f} s")
    return seconds


def request_latency(online, store_root: str, night: dt.date, uploads, repeats: int) -> dict:
    """p50/p99 ms of ``upload_request`` over the probe uploads it can answer, cycling."""
    from pipeline.serving.online import BadUpload, upload_request

    scorable = []
    for user, upload in uploads:
        try:
            upload_request(upload, user, night, online, store_root, SALT)
            scorable.append((user, upload))
        except BadUpload:
            continue
    for i in range(200):  # warm-up
        user, upload = scorable[i % len(scorable)]
        upload_request(upload, user, night, online, store_root, SALT)
    times = []
    for i in range(repeats):
        user, upload = scorable[i % len(scorable)]
        started = time.perf_counter()
        upload_request(upload, user, night, online, store_root, SALT)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "uploads": len(scorable),
        "requests": repeats,
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
    }


def online_bench(
    work: str,
    fleet_users: int,
    redis_url: str | None,
    progress: Callable[[str], None] = print,
    repeats: int = REQUESTS,
) -> list[dict]:
    """Measure request latency at 80 users and at ``fleet_users``, per backend; return rows."""
    from components.online_store import open_store

    root = Path(work)
    night, uploads, lines, cycles = _probe_data(root, progress)
    span_root = _span_store(root / "spans", sorted(lines))
    backends = [("sqlite", lambda users: f"sqlite:///{root}/online-{users}.sqlite")]
    if redis_url:
        backends.append(("redis", lambda users: redis_url))
    out = []
    for backend, url_for in backends:
        for users in (PROBE_USERS, fleet_users):
            online = open_store(url_for(users), create=True)  # Redis: publishing replaces
            fill = fill_store(online, users, lines, cycles, progress)
            figures = request_latency(online, span_root, night, uploads, repeats)
            figures.update(backend=backend, users=users, fill_seconds=fill)
            progress(
                f"online request p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms "
                f"at {users} users ({backend})"
            )
            out.append(figures)
            online.close()
            if backend == "sqlite":
                Path(url_for(users)[len("sqlite:///") :]).unlink()
    return out
