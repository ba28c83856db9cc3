"""Orchestration: simulate every user's cycles, nights and faults, and write the dataset.

Output under ``out_dir`` (formats from ``transforms.raw_format``):

- ``nights/<YYYY-MM-DD>/<user_id>.csv.gz``: one raw file per recorded user-night;
- ``cycles.csv``: the cycle log (``CYCLES_COLUMNS``), ground truth for labels;
- ``manifest.json``: parameters, totals and one record per user-night stating which faults it got
  and exactly what a validator following ``raw_format``'s rules must find.

Same arguments, same bytes: every random stream is ``np.random.default_rng([seed, user_index,
stream, ...])``, files are gzipped with mtime 0 and no file name, and all output is ordered.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from synthetic import expectations, raw_file
from synthetic import faults as injection
from synthetic.cycles import Cycle, simulate_user_cycles
from synthetic.faults import FaultRates, NightFaultPlan
from synthetic.night_rows import (
    NORMAL_NIGHT_HOURS,
    anchor_to_latent,
    simulate_night,
)
from synthetic.physiology import (
    NightlyLatents,
    draw_user_traits,
    simulate_nightly_latents,
)
from transforms import raw_format
from transforms.raw_format import FileReject, NightInvalid, NightRules, RowReject

__all__ = ["FaultRates", "GenerationSummary", "generate_dataset", "user_id"]

DEFAULT_START_DATE = dt.date(2026, 1, 5)
# Users start their first cycle on start_date plus 0..27 days, so nights spread over the calendar.
START_OFFSET_DAYS = 28
LATENT_DECIMALS = 4

# Random streams per user: np.random.default_rng([seed, user_index, STREAM, ...]).
_STREAM_CYCLES = 0
_STREAM_TRAITS = 1
_STREAM_LATENTS = 2
_STREAM_FAULT_PLAN = 3
_STREAM_NIGHT_ROWS = 4
_STREAM_NIGHT_FAULTS = 5


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate_dataset`` wrote (the manifest's totals, plus where)."""

    users: int
    cycles: int
    nights_total: int
    files_written: int
    nights_missing: int
    rows_written: int
    faults: dict[str, int]  # user-nights affected, per fault name
    row_rejects: dict[str, int]
    file_rejects: dict[str, int]
    invalid_nights: dict[str, int]
    motion_corrupted_rows: int
    out_dir: str

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass
class _Totals:
    """Running totals while generating."""

    nights_total: int = 0
    files_written: int = 0
    nights_missing: int = 0
    rows_written: int = 0
    motion_corrupted_rows: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(injection.FAULT_NAMES, 0))
    row_rejects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RowReject.ALL, 0))
    file_rejects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FileReject.ALL, 0))
    invalid_nights: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(FileReject.ALL + NightInvalid.ALL, 0)
    )

    def add(self, record: dict[str, Any]) -> None:
        """Add one manifest night record."""
        self.nights_total += 1
        if record["path"] is None:
            self.nights_missing += 1
        else:
            self.files_written += 1
        self.rows_written += record["rows_written"]
        self.motion_corrupted_rows += record["motion_corrupted_rows"]
        for name in record["faults"]:
            self.faults[name] += 1
        for reason, count in record["expected_row_rejects"].items():
            self.row_rejects[reason] += count
        if record["expected_file_reject"] is not None:
            self.file_rejects[record["expected_file_reject"]] += 1
        if record["expected_night_invalid"] is not None:
            self.invalid_nights[record["expected_night_invalid"]] += 1

    def to_manifest(self) -> dict[str, Any]:
        """Return the totals as they appear in the manifest."""
        return {
            "nights_total": self.nights_total,
            "nights_written": self.files_written,
            "nights_missing": self.nights_missing,
            "nights_invalid": sum(self.invalid_nights.values()),
            "rows_written": self.rows_written,
            "motion_corrupted_rows": self.motion_corrupted_rows,
            "fault_nights": dict(self.faults),
            "row_rejects": dict(self.row_rejects),
            "file_rejects": dict(self.file_rejects),
            "invalid_nights": dict(self.invalid_nights),
        }


def user_id(user_index: int) -> str:
    """Return the id of user ``user_index`` (0-based): ``u00001``, ``u00002``, ..."""
    uid = f"u{user_index + 1:05d}"
    if not raw_format.USER_ID_PATTERN.match(uid):
        raise ValueError(f"invalid user id {uid!r}")
    return uid


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    """Create ``out``; refuse (or, with ``overwrite``, remove) an earlier dataset in it."""
    existing = [
        out / name
        for name in (raw_format.NIGHTS_DIR, raw_format.CYCLES_FILE, raw_format.MANIFEST_FILE)
        if (out / name).exists()
    ]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a dataset ({existing[0].name}); pass overwrite")
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (out / raw_format.NIGHTS_DIR).mkdir(parents=True, exist_ok=True)


def _night_record(uid: str, latents: NightlyLatents, k: int, **fields: Any) -> dict[str, Any]:
    """Return a manifest night record with the fields every record has."""
    record: dict[str, Any] = {
        "user_id": uid,
        "date": latents.dates[k].isoformat(),
        "cycle_index": int(latents.cycle_index[k]),
        "cycle_day": int(latents.cycle_day[k]),
        "latent": {name: round(value, LATENT_DECIMALS) for name, value in latents.night(k).items()},
        "path": None,
        "faults": [],
        "rows_written": 0,
        "motion_corrupted_rows": 0,
        "expected_row_rejects": {},
        "expected_file_reject": None,
        "expected_night_invalid": None,
    }
    record.update(fields)
    return record


def _generate_night(
    out: Path,
    seed: int,
    user_index: int,
    uid: str,
    latents: NightlyLatents,
    k: int,
    plan: NightFaultPlan,
    rates: FaultRates,
) -> dict[str, Any]:
    """Simulate, fault and write night ``k`` of one user; return its manifest record."""
    if plan.missing:
        return _night_record(uid, latents, k, faults=[injection.MISSING_NIGHT])

    date = latents.dates[k]
    latent = latents.night(k)
    rng_rows = np.random.default_rng([seed, user_index, _STREAM_NIGHT_ROWS, k])
    rng_faults = np.random.default_rng([seed, user_index, _STREAM_NIGHT_FAULTS, k])
    applied: set[str] = set()

    if plan.short:
        hours = rng_faults.uniform(*injection.SHORT_NIGHT_HOURS)
        applied.add(injection.SHORT_NIGHT)
    else:
        hours = rng_rows.uniform(*NORMAL_NIGHT_HOURS)
    rec = simulate_night(rng_rows, date, latent, hours)
    if plan.off_wrist:
        injection.apply_off_wrist(rng_faults, rec)
        applied.add(injection.OFF_WRIST)
    motion_rows = 0
    if plan.motion_corrupted:
        motion_rows = injection.apply_motion_bursts(rng_faults, rec)
        applied.add(injection.MOTION_CORRUPTED)
    anchor_to_latent(rec, latent)

    table = rec.to_table(fahrenheit=plan.fahrenheit)
    if plan.fahrenheit:
        applied.add(injection.FAHRENHEIT)
    injected = injection.inject_row_faults(
        rng_faults,
        table,
        clean=~rec.off_wrist & ~rec.motion_corrupted,
        duplicates=plan.duplicated_rows,
        swaps=plan.swaps,
        glitch_rate=0.0 if plan.fahrenheit else rates.sensor_glitch_row,
    )
    for count, name in (
        (injected.glitches, injection.SENSOR_GLITCH),
        (injected.duplicates, injection.DUPLICATED_ROWS),
        (injected.swaps, injection.OUT_OF_ORDER_ROWS),
    ):
        if count:
            applied.add(name)

    written = raw_file.quantise(injected.table)
    codes = raw_format.row_reject_codes(written, night=date)
    data = raw_file.compress(raw_file.format_rows(written))
    if plan.file_fault == FileReject.TRUNCATED:
        data = injection.truncate_gzip(rng_faults, data)
        applied.add(injection.TRUNCATED_FILE)
    elif plan.file_fault == FileReject.CORRUPT:
        data = injection.corrupt_gzip(rng_faults, data)
        applied.add(injection.CORRUPT_FILE)

    if plan.file_fault is not None:
        row_rejects: dict[str, int] = {}
        night_invalid: str | None = plan.file_fault
    else:
        row_rejects = expectations.count_row_rejects(codes)
        night_invalid = expectations.night_invalid_reason(written, codes)

    rel_path = raw_format.night_path(date.isoformat(), uid)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _night_record(
        uid,
        latents,
        k,
        path=rel_path,
        faults=[name for name in injection.FAULT_NAMES if name in applied],
        rows_written=int(written.shape[0]),
        motion_corrupted_rows=motion_rows,
        expected_row_rejects=row_rejects,
        expected_file_reject=plan.file_fault,
        expected_night_invalid=night_invalid,
    )


def simulate_user(
    seed: int, user_index: int, n_cycles: int, start_date: dt.date
) -> tuple[list[Cycle], NightlyLatents]:
    """Simulate one user's cycle history and nightly latents (what ``generate_dataset`` draws).

    Cheap: no 10-second rows. ``benchmarks.ceiling`` reads the latents as a perfect extraction.
    """
    rng_cycles = np.random.default_rng([seed, user_index, _STREAM_CYCLES])
    first = start_date + dt.timedelta(days=int(rng_cycles.integers(0, START_OFFSET_DAYS)))
    cycles = simulate_user_cycles(rng_cycles, n_cycles, first)
    traits = draw_user_traits(np.random.default_rng([seed, user_index, _STREAM_TRAITS]))
    latents = simulate_nightly_latents(
        np.random.default_rng([seed, user_index, _STREAM_LATENTS]), cycles, traits
    )
    return cycles, latents


def _cycles_csv(rows: list[tuple[str, Cycle]]) -> str:
    """Return the text of ``cycles.csv``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(raw_format.CYCLES_COLUMNS)
    for uid, c in rows:
        writer.writerow(
            [
                uid,
                c.cycle_index,
                c.start_date.isoformat(),
                c.length_days,
                "" if c.ovulation_day is None else c.ovulation_day,
                c.menses_days,
            ]
        )
    return buffer.getvalue()


def generate_dataset(
    out_dir: str | Path,
    users: int,
    cycles: int,
    seed: int,
    faults: FaultRates | None = None,
    start_date: dt.date = DEFAULT_START_DATE,
    progress: bool = True,
    overwrite: bool = False,
) -> GenerationSummary:
    """Generate ``users`` women with ``cycles`` cycles each as a dataset under ``out_dir``.

    Writes the raw night files, ``cycles.csv`` and ``manifest.json`` (see the module docstring)
    and returns the totals. The same arguments always produce byte-identical output. Raises
    ``FileExistsError`` if ``out_dir`` already holds a dataset, unless ``overwrite`` (which
    removes the earlier ``nights/``, ``cycles.csv`` and ``manifest.json`` first).
    """
    if users < 1 or cycles < 1:
        raise ValueError("users and cycles must be at least 1")
    if users > 99999:
        raise ValueError("at most 99999 users (ids are u00001..u99999)")
    rates = faults if faults is not None else FaultRates()
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)

    totals = _Totals()
    records: list[dict[str, Any]] = []
    cycle_rows: list[tuple[str, Cycle]] = []
    bar = tqdm(range(users), desc="users", unit="user", disable=not progress, file=sys.stderr)
    for user_index in bar:
        uid = user_id(user_index)
        user_cycles, latents = simulate_user(seed, user_index, cycles, start_date)
        cycle_rows.extend((uid, c) for c in user_cycles)
        plans = injection.plan_user_faults(
            np.random.default_rng([seed, user_index, _STREAM_FAULT_PLAN]), len(latents), rates
        )
        for k, plan in enumerate(plans):
            record = _generate_night(out, seed, user_index, uid, latents, k, plan, rates)
            totals.add(record)
            records.append(record)

    (out / raw_format.CYCLES_FILE).write_text(_cycles_csv(cycle_rows), encoding="utf-8")
    manifest = {
        "parameters": {
            "seed": seed,
            "users": users,
            "cycles": cycles,
            "start_date": start_date.isoformat(),
            "fault_rates": rates.to_dict(),
            "night_rules": dataclasses.asdict(NightRules()),
            "decimals": dict(raw_file.DECIMALS),
        },
        "totals": totals.to_manifest(),
        "nights": records,
    }
    (out / raw_format.MANIFEST_FILE).write_text(
        json.dumps(manifest, sort_keys=True, indent=1) + "\n", encoding="utf-8"
    )
    return GenerationSummary(
        users=users,
        cycles=cycles,
        nights_total=totals.nights_total,
        files_written=totals.files_written,
        nights_missing=totals.nights_missing,
        rows_written=totals.rows_written,
        faults=dict(totals.faults),
        row_rejects=dict(totals.row_rejects),
        file_rejects=dict(totals.file_rejects),
        invalid_nights=dict(totals.invalid_nights),
        motion_corrupted_rows=totals.motion_corrupted_rows,
        out_dir=str(out),
    )
