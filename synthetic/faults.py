"""Fault injection: which nights get which fault, and how each fault changes rows or bytes.

Faults (docs/DOMAIN.md "faults to emit"): missing nights, off-wrist stretches, motion-corrupted
HR/HRV, short nights, duplicated rows, out-of-order rows, truncated and corrupt files, a device
reporting Fahrenheit, plus isolated out-of-range sensor glitches. Row-level injections are placed so
they cannot interact: each sits in its own block of four consecutive clean rows (not off-wrist, not
motion-corrupted), with an untouched clean row on either side. Then

- a glitch row is rejected ``out_of_range`` and nothing else changes;
- an exact copy inserted right after a clean row is rejected ``duplicate_timestamp``;
- swapping two adjacent clean rows rejects exactly one (the earlier timestamp, now second) as
  ``out_of_order``.

The manifest does not rely on this reasoning alone: ``expectations`` recomputes every verdict from
the rows as written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from synthetic import expectations
from synthetic.night_rows import ROWS_PER_MINUTE, NightRecording
from transforms import raw_format
from transforms.raw_format import FileReject, SleepState

# Fault names as recorded in the manifest.
MISSING_NIGHT = "missing_night"
OFF_WRIST = "off_wrist"
MOTION_CORRUPTED = "motion_corrupted"
SHORT_NIGHT = "short_night"
DUPLICATED_ROWS = "duplicated_rows"
OUT_OF_ORDER_ROWS = "out_of_order_rows"
TRUNCATED_FILE = "truncated_file"
CORRUPT_FILE = "corrupt_file"
FAHRENHEIT = "fahrenheit"
SENSOR_GLITCH = "sensor_glitch"
FAULT_NAMES: tuple[str, ...] = (
    MISSING_NIGHT,
    OFF_WRIST,
    MOTION_CORRUPTED,
    SHORT_NIGHT,
    DUPLICATED_ROWS,
    OUT_OF_ORDER_ROWS,
    TRUNCATED_FILE,
    CORRUPT_FILE,
    FAHRENHEIT,
    SENSOR_GLITCH,
)

# Fault sizes (assumed).
SHORT_NIGHT_HOURS = (1.5, 3.5)  # recording length of a short night: always short_wear (< 4 h)
OFF_WRIST_MINUTES = (10, 80)  # under 90 min: a normal night stays valid
ROOM_TEMP_C = (22.0, 24.0)
OFF_WRIST_COOLING_TAU_MIN = 6.0
REWEAR_WARMING_TAU_MIN = 3.0
REWEAR_ROWS = 3  # rows around taking the device off / putting it on: awake, moving
MOTION_BURSTS = (1, 4)
MOTION_BURST_ROWS = (12, 60)  # 2-10 minutes; at most 40 minutes a night
MOTION_BURST_G = (0.2, 2.0)  # well above raw_format.LOW_MOTION_G
MOTION_HR_SHIFT = (8.0, 35.0)
MOTION_HR_JITTER = 5.0
MOTION_HRV_LOG_SD = 0.6
DUPLICATED_ROWS_PER_NIGHT = (1, 20)
SWAPS_PER_NIGHT = (1, 10)
FAHRENHEIT_STRETCH_NIGHTS = (3, 10)
TRUNCATE_AT = (0.3, 0.9)  # fraction of the compressed bytes kept
CORRUPT_AT = (0.3, 0.7)  # where in the compressed bytes the damage starts
CORRUPT_BYTES = (16, 64)
CORRUPT_ATTEMPTS = 100
# Glitch values: each is out of its column's valid range (and outside the Fahrenheit band).
GLITCHES: tuple[tuple[str, float], ...] = (
    ("heart_rate", 0.0),
    ("heart_rate", 250.0),
    ("hrv_rmssd", 0.0),
    ("hrv_rmssd", 350.0),
    ("breathing_rate", 0.0),
    ("breathing_rate", 60.0),
    ("skin_temp_c", 0.0),
    ("skin_temp_c", 50.0),
    ("perfusion", 12.0),
)
_COLUMN = raw_format.COLUMN_INDEX
_VITALS_LOST_OFF_WRIST = ("heart_rate", "hrv_rmssd", "breathing_rate", "perfusion")


@dataclass(frozen=True)
class FaultRates:
    """How often each fault occurs. Night rates are per user-night, the rest as named."""

    missing_night: float = 0.05  # night without a file
    off_wrist: float = 0.08  # night with one off-wrist stretch of 10-80 min
    motion_corrupted: float = 0.30  # night with 1-4 high-motion bursts distorting HR/HRV
    short_night: float = 0.03  # night recorded for only 1.5-3.5 h (short_wear)
    duplicated_rows: float = 0.05  # night with 1-20 exact duplicate rows
    out_of_order_rows: float = 0.05  # night with 1-10 swaps of adjacent rows
    truncated_file: float = 0.01  # night whose gzip bytes are cut at 30-90%
    corrupt_file: float = 0.01  # night whose gzip bytes are damaged in the middle
    fahrenheit_user: float = 0.03  # user with a 3-10 night stretch of Fahrenheit temperatures
    sensor_glitch_row: float = 0.002  # clean row with one out-of-range value

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {field.name} must be within [0, 1], got {value}")
        if self.truncated_file + self.corrupt_file > 1.0:
            raise ValueError("truncated_file + corrupt_file must not exceed 1")

    def to_dict(self) -> dict[str, float]:
        """Return the rates as a plain dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NightFaultPlan:
    """The faults planned for one user-night (counts are 0 when the fault is absent)."""

    missing: bool = False
    short: bool = False
    off_wrist: bool = False
    motion_corrupted: bool = False
    duplicated_rows: int = 0
    swaps: int = 0
    file_fault: str | None = None  # FileReject.TRUNCATED or FileReject.CORRUPT
    fahrenheit: bool = False


def plan_user_faults(
    rng: np.random.Generator, n_nights: int, rates: FaultRates
) -> list[NightFaultPlan]:
    """Plan the faults of every night of one user.

    The number of draws is fixed (independent of the rates), so changing one rate only changes
    that fault. A missing night has no other fault; a Fahrenheit night gets no row-level faults
    (every row is already rejected ``fahrenheit``) and no off-wrist stretch; a short night gets
    no off-wrist stretch.
    """
    u = rng.random((n_nights, 7))
    n_dup = rng.integers(DUPLICATED_ROWS_PER_NIGHT[0], DUPLICATED_ROWS_PER_NIGHT[1] + 1, n_nights)
    n_swap = rng.integers(SWAPS_PER_NIGHT[0], SWAPS_PER_NIGHT[1] + 1, n_nights)
    u_user = rng.random()
    stretch = int(rng.integers(FAHRENHEIT_STRETCH_NIGHTS[0], FAHRENHEIT_STRETCH_NIGHTS[1] + 1))
    stretch_start = int(rng.integers(0, n_nights))

    fahrenheit = np.zeros(n_nights, dtype=bool)
    if u_user < rates.fahrenheit_user:
        first = min(stretch_start, max(0, n_nights - stretch))
        fahrenheit[first : first + stretch] = True

    plans: list[NightFaultPlan] = []
    for k in range(n_nights):
        if u[k, 0] < rates.missing_night:
            plans.append(NightFaultPlan(missing=True))
            continue
        if u[k, 1] < rates.truncated_file:
            file_fault: str | None = FileReject.TRUNCATED
        elif u[k, 1] < rates.truncated_file + rates.corrupt_file:
            file_fault = FileReject.CORRUPT
        else:
            file_fault = None
        short = bool(u[k, 2] < rates.short_night)
        f = bool(fahrenheit[k])
        plans.append(
            NightFaultPlan(
                short=short,
                off_wrist=bool(u[k, 3] < rates.off_wrist) and not short and not f,
                motion_corrupted=bool(u[k, 4] < rates.motion_corrupted),
                duplicated_rows=int(n_dup[k]) if u[k, 5] < rates.duplicated_rows and not f else 0,
                swaps=int(n_swap[k]) if u[k, 6] < rates.out_of_order_rows and not f else 0,
                file_fault=file_fault,
                fahrenheit=f,
            )
        )
    return plans


def apply_off_wrist(rng: np.random.Generator, rec: NightRecording) -> int:
    """Take the device off for 10-80 minutes in the middle of the night; return the row count.

    Heart rate, HRV, breathing rate and perfusion go empty; skin temperature decays towards room
    temperature (22-24 C) and warms back up after the device is put on again. The rows around
    taking it off and putting it on are awake and moving.
    """
    n = len(rec)
    length = int(
        rng.integers(OFF_WRIST_MINUTES[0] * ROWS_PER_MINUTE, OFF_WRIST_MINUTES[1] * ROWS_PER_MINUTE)
    )
    length = min(length, n // 3)
    start = int(rng.integers(n // 6, max(n // 6 + 1, n - n // 6 - length)))
    end = start + length
    room = rng.uniform(*ROOM_TEMP_C)
    minutes = np.arange(length) / ROWS_PER_MINUTE
    before = rec.skin_temp_c[max(start - 1, 0)]
    rec.skin_temp_c[start:end] = room + (before - room) * np.exp(
        -minutes / OFF_WRIST_COOLING_TAU_MIN
    )
    cooled = rec.skin_temp_c[end - 1]
    warm_rows = min(n - end, 30 * ROWS_PER_MINUTE)
    warm_minutes = np.arange(warm_rows) / ROWS_PER_MINUTE
    after = rec.skin_temp_c[end : end + warm_rows]
    after -= (after - cooled) * np.exp(-warm_minutes / REWEAR_WARMING_TAU_MIN)
    for name in _VITALS_LOST_OFF_WRIST:
        getattr(rec, name)[start:end] = np.nan
    rec.sleep_state[start:end] = SleepState.WAKE
    rec.motion[start:end] = np.round(rng.uniform(0.0, 0.003, length), 3)
    for lo, hi in ((max(start - REWEAR_ROWS, 0), start), (end, min(end + REWEAR_ROWS, n))):
        rec.sleep_state[lo:hi] = SleepState.WAKE
        rec.motion[lo:hi] = np.round(rng.uniform(0.2, 0.5, hi - lo), 3)
    rec.off_wrist[start:end] = True
    return length


def apply_motion_bursts(rng: np.random.Generator, rec: NightRecording) -> int:
    """Add 1-4 bursts of high motion (0.2-2 g) that distort HR and HRV; return the row count.

    The distorted values stay inside the valid ranges (the validator accepts them) and keep the
    hypnogram's sleep state: only the motion column tells a feature extractor to drop them.
    """
    n = len(rec)
    n_bursts = int(rng.integers(MOTION_BURSTS[0], MOTION_BURSTS[1] + 1))
    lengths = rng.integers(MOTION_BURST_ROWS[0], MOTION_BURST_ROWS[1] + 1, n_bursts)
    starts = rng.integers(0, np.maximum(n - lengths, 1))
    shifts = rng.uniform(*MOTION_HR_SHIFT, n_bursts)
    for start, length, shift in zip(starts, lengths, shifts, strict=True):
        rows = np.arange(start, min(start + length, n))
        rows = rows[~rec.off_wrist[rows]]
        envelope = np.sin(np.linspace(0.2, np.pi - 0.2, rows.size))
        rec.motion[rows] = np.round(rng.uniform(*MOTION_BURST_G, rows.size), 3)
        rec.heart_rate[rows] += shift * envelope + MOTION_HR_JITTER * rng.standard_normal(rows.size)
        rec.hrv_rmssd[rows] *= np.exp(MOTION_HRV_LOG_SD * rng.standard_normal(rows.size))
        rec.motion_corrupted[rows] = True
    return int(rec.motion_corrupted.sum())


@dataclass(frozen=True)
class RowInjection:
    """What ``inject_row_faults`` did: the final table (file order) and the counts."""

    table: np.ndarray
    glitches: int
    duplicates: int
    swaps: int


def inject_row_faults(
    rng: np.random.Generator,
    table: np.ndarray,
    clean: np.ndarray,
    duplicates: int,
    swaps: int,
    glitch_rate: float,
) -> RowInjection:
    """Inject glitches, duplicate rows and adjacent swaps into clean rows of ``table``.

    ``clean`` marks rows eligible as injection sites. Each injection gets its own block of four
    consecutive clean rows and uses the block's second (and third) row. If a night has too few
    blocks, glitches come first, then duplicates, then swaps.
    """
    n = table.shape[0]
    n_blocks = n // 4
    block_clean = clean[: 4 * n_blocks].reshape(n_blocks, 4).all(axis=1)
    candidates = np.flatnonzero(block_clean)
    n_glitch = int(rng.binomial(int(clean.sum()), glitch_rate)) if glitch_rate > 0 else 0
    n_glitch = min(n_glitch, candidates.size)
    duplicates = min(duplicates, candidates.size - n_glitch)
    swaps = min(swaps, candidates.size - n_glitch - duplicates)
    blocks = rng.choice(candidates, n_glitch + duplicates + swaps, replace=False)
    sites = 4 * np.sort(blocks) + 1
    order = rng.permutation(sites.size)
    glitch_rows = sites[order[:n_glitch]]
    dup_rows = np.sort(sites[order[n_glitch : n_glitch + duplicates]])
    swap_rows = sites[order[n_glitch + duplicates :]]

    out = table.copy()
    kinds = rng.integers(0, len(GLITCHES), n_glitch)
    for row, kind in zip(glitch_rows, kinds, strict=True):
        name, value = GLITCHES[kind]
        out[row, _COLUMN[name]] = value
    index = np.arange(n)
    index[swap_rows], index[swap_rows + 1] = swap_rows + 1, swap_rows
    index = np.insert(index, dup_rows + 1, index[dup_rows])
    return RowInjection(table=out[index], glitches=n_glitch, duplicates=duplicates, swaps=swaps)


def truncate_gzip(rng: np.random.Generator, data: bytes) -> bytes:
    """Cut the compressed bytes at 30-90% of their length (an interrupted upload)."""
    cut = int(len(data) * rng.uniform(*TRUNCATE_AT))
    out = data[:cut]
    if expectations.file_reject_reason(out) != FileReject.TRUNCATED:
        raise RuntimeError("a truncated gzip stream did not read as truncated")
    return out


def corrupt_gzip(rng: np.random.Generator, data: bytes) -> bytes:
    """Overwrite 16-64 bytes in the middle of the compressed stream with random bytes.

    Retries with fresh damage until both gzip readers fail with ``zlib.error`` or
    ``gzip.BadGzipFile`` (never ``EOFError``, which would read as a truncated file).
    """
    for _ in range(CORRUPT_ATTEMPTS):
        start = int(len(data) * rng.uniform(*CORRUPT_AT))
        size = int(rng.integers(CORRUPT_BYTES[0], CORRUPT_BYTES[1] + 1))
        damage = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        out = data[:start] + damage + data[start + size :]
        if expectations.file_reject_reason(out) == FileReject.CORRUPT:
            return out
    raise RuntimeError("could not corrupt a gzip stream unambiguously")
