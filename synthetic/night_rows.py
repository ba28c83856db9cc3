"""The 10-second rows of one night: bed time, hypnogram, motion, each signal around its latent.

Row values are the night's latent value plus sleep-stage effects, a slow overnight trend, small
autocorrelated noise and brief movement arousals. At the end the night is *anchored*: every signal
is shifted (HRV scaled) so that its median over the low-motion asleep rows equals the latent value
exactly, which is what the feature extractor estimates. All magnitudes here are assumed
(docs/DOMAIN.md gives no row-level figures), chosen to look like a wrist wearable's output.
Everything is vectorised with numpy; only the handful of hypnogram segments and movement events per
night are Python loops.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from transforms import raw_format
from transforms.raw_format import SleepState

ROWS_PER_MINUTE = 60 // raw_format.SAMPLE_PERIOD_S
ROWS_PER_HOUR = 60 * ROWS_PER_MINUTE

# Bed time: 22:00 plus 0-150 minutes (until 00:30), on the 10 s grid (assumed).
BED_TIME_EARLIEST_S = 22 * 3600
BED_TIME_SPREAD_MIN = 150
# Time in bed of a normal night, hours (docs/DOMAIN.md brief: 6-9 h in bed).
NORMAL_NIGHT_HOURS = (6.0, 9.0)

# Hypnogram (assumed, textbook adult values).
SLEEP_ONSET_MEDIAN_MIN = 12.0
SLEEP_ONSET_LOG_SD = 0.5
SLEEP_ONSET_RANGE_MIN = (3.0, 45.0)
SLEEP_CYCLE_MEAN_MIN = 90.0
SLEEP_CYCLE_SD_MIN = 12.0
SLEEP_CYCLE_RANGE_MIN = (70.0, 115.0)
FINAL_WAKE_RANGE_MIN = (2.0, 15.0)
BRIEF_WAKE_PROBABILITY = 0.5  # per sleep cycle, after its REM period
BRIEF_WAKE_RANGE_MIN = (0.5, 4.0)

# Stage effects on the row values (assumed): additive for heart rate and breathing rate (per
# minute), multiplicative for HRV, additive for perfusion. Index = SleepState code.
STAGE_HR = np.array([5.0, 0.0, -2.5, 1.5])
STAGE_HRV_LOG = np.log(np.array([0.85, 1.0, 1.2, 0.88]))
STAGE_BR = np.array([1.0, 0.0, -0.4, 0.8])
STAGE_PERF = np.array([-0.03, 0.0, 0.03, 0.0])

# Overnight drift and noise (assumed).
HR_TREND_BPM = 3.0  # heart rate falls by this much from bed time to wake time
HR_SLOW_SD, HR_FAST_SD = 1.0, 0.6
HRV_SLOW_LOG_SD, HRV_FAST_LOG_SD = 0.10, 0.18
TEMP_ONSET_DROP_C = 0.8  # wrist temperature rises after lights out (distal vasodilation)
TEMP_ONSET_TAU_MIN = 25.0
TEMP_SLOW_SD, TEMP_FAST_SD = 0.05, 0.01
BR_SLOW_SD, BR_FAST_SD = 0.3, 0.3
PERF_SLOW_SD, PERF_FAST_SD = 0.02, 0.01
SLOW_NOISE_TAU_ROWS = 30  # 5 minutes

# Motion in g (assumed): asleep rows well under raw_format.LOW_MOTION_G, wake rows higher, and
# brief movements (position changes) with a small heart-rate arousal.
MOTION_ASLEEP_MEDIAN_G = 0.008
MOTION_ASLEEP_LOG_SD = 0.6
MOTION_ASLEEP_MAX_G = 0.06
MOTION_WAKE_MEDIAN_G = 0.03
MOTION_WAKE_LOG_SD = 0.8
MOVEMENTS_PER_HOUR = 3.0
MOVEMENT_ROWS = (1, 4)  # 10-40 s
MOVEMENT_G = (0.12, 0.6)
MOVEMENT_HR_BUMP = (3.0, 8.0)

# Bounds clean rows are clipped to: strictly inside raw_format.VALID_RANGES, so that only injected
# glitches are ever out of range, and skin temperature stays in Celsius away from the Fahrenheit
# band even after conversion (26 C = 78.8 F, 41 C = 105.8 F).
CLEAN_BOUNDS: dict[str, tuple[float, float]] = {
    "heart_rate": (30.0, 200.0),
    "hrv_rmssd": (2.0, 280.0),
    "skin_temp_c": (26.0, 41.0),
    "breathing_rate": (5.0, 38.0),
    "perfusion": (0.01, 9.9),
    "motion": (0.0, 15.0),
}


@dataclass
class NightRecording:
    """The rows of one night as float arrays (mutable: fault injection edits it in place).

    Missing vitals are NaN. ``off_wrist`` and ``motion_corrupted`` mark fault rows.
    """

    timestamp: np.ndarray  # int64 Unix seconds
    heart_rate: np.ndarray
    hrv_rmssd: np.ndarray
    skin_temp_c: np.ndarray
    breathing_rate: np.ndarray
    perfusion: np.ndarray
    sleep_state: np.ndarray  # int8 SleepState codes
    motion: np.ndarray
    off_wrist: np.ndarray  # bool
    motion_corrupted: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.timestamp.size)

    @property
    def asleep(self) -> np.ndarray:
        """Return a mask of the rows scored asleep."""
        return self.sleep_state != SleepState.WAKE

    def anchor_mask(self) -> np.ndarray:
        """Return the rows a feature extractor would use: asleep, low motion, worn."""
        # motion as written to the file (3 decimals), since that is what the extractor reads
        return (
            raw_format.feature_rows(self.sleep_state, np.round(self.motion, 3))
            & ~self.off_wrist
            & ~self.motion_corrupted
        )

    def to_table(self, fahrenheit: bool = False) -> np.ndarray:
        """Return the rows as an ``(n, 8)`` float array in ``raw_format.RAW_COLUMNS`` order.

        With ``fahrenheit`` the skin temperature is written in degrees Fahrenheit.
        """
        temp = self.skin_temp_c * 9.0 / 5.0 + 32.0 if fahrenheit else self.skin_temp_c
        return np.column_stack(
            [
                self.timestamp.astype(float),
                self.heart_rate,
                self.hrv_rmssd,
                temp,
                self.breathing_rate,
                self.perfusion,
                self.sleep_state.astype(float),
                self.motion,
            ]
        )


def night_epoch_start(date: dt.date) -> int:
    """Return the Unix time (UTC) of midnight at the start of ``date``."""
    return (date - dt.date(1970, 1, 1)).days * 86400


def draw_bed_time(rng: np.random.Generator, date: dt.date) -> int:
    """Return the first row's timestamp: 22:00-00:30 UTC on the evening of ``date``."""
    offset_rows = int(rng.integers(0, BED_TIME_SPREAD_MIN * ROWS_PER_MINUTE + 1))
    return night_epoch_start(date) + BED_TIME_EARLIEST_S + offset_rows * raw_format.SAMPLE_PERIOD_S


def hypnogram(rng: np.random.Generator, n_rows: int) -> np.ndarray:
    """Return a plausible sleep-state sequence of ``n_rows`` 10-second epochs.

    Sleep-onset latency (wake), then ~90-minute cycles of light, deep, light and REM sleep (deep
    sleep shrinking and REM growing through the night) with occasional brief wakes, then a short
    final wake.
    """
    total_min = n_rows / ROWS_PER_MINUTE
    onset = float(
        np.clip(
            np.exp(np.log(SLEEP_ONSET_MEDIAN_MIN) + SLEEP_ONSET_LOG_SD * rng.standard_normal()),
            *SLEEP_ONSET_RANGE_MIN,
        )
    )
    final_wake = float(rng.uniform(*FINAL_WAKE_RANGE_MIN))
    states: list[int] = [SleepState.WAKE]
    minutes: list[float] = [onset]
    elapsed = onset
    k = 0
    while elapsed < total_min:
        length = float(
            np.clip(rng.normal(SLEEP_CYCLE_MEAN_MIN, SLEEP_CYCLE_SD_MIN), *SLEEP_CYCLE_RANGE_MIN)
        )
        deep = max(0.03, 0.30 - 0.08 * k)
        rem = min(0.40, 0.12 + 0.07 * k)
        light = 1.0 - deep - rem
        pieces = [
            (SleepState.LIGHT, 0.6 * light),
            (SleepState.DEEP, deep),
            (SleepState.LIGHT, 0.4 * light),
            (SleepState.REM, rem),
        ]
        for state, share in pieces:
            states.append(state)
            minutes.append(share * length)
        elapsed += length
        if rng.random() < BRIEF_WAKE_PROBABILITY:
            brief = float(rng.uniform(*BRIEF_WAKE_RANGE_MIN))
            states.append(SleepState.WAKE)
            minutes.append(brief)
            elapsed += brief
        k += 1
    bounds = np.rint(np.cumsum(minutes) * ROWS_PER_MINUTE).astype(int)
    counts = np.diff(np.concatenate([[0], bounds]))
    out = np.repeat(np.array(states, dtype=np.int8), counts)[:n_rows]
    final_rows = int(round(final_wake * ROWS_PER_MINUTE))
    out[max(0, n_rows - final_rows) :] = SleepState.WAKE
    return out


def smooth_noise(rng: np.random.Generator, n: int, tau_rows: int) -> np.ndarray:
    """Return unit-variance autocorrelated noise (white noise under an exponential kernel)."""
    kernel = np.exp(-np.arange(5 * tau_rows) / tau_rows)
    kernel /= np.sqrt(np.sum(kernel**2))
    white = rng.standard_normal(n + kernel.size - 1)
    return np.convolve(white, kernel, mode="valid")


def _motion(rng: np.random.Generator, states: np.ndarray) -> np.ndarray:
    """Return background motion: small while asleep, larger and more variable while awake."""
    n = states.size
    z = rng.standard_normal(n)
    asleep = np.minimum(
        MOTION_ASLEEP_MEDIAN_G * np.exp(MOTION_ASLEEP_LOG_SD * z), MOTION_ASLEEP_MAX_G
    )
    wake = MOTION_WAKE_MEDIAN_G * np.exp(MOTION_WAKE_LOG_SD * z)
    return np.where(states == SleepState.WAKE, wake, asleep)


def simulate_night(
    rng: np.random.Generator, date: dt.date, latent: dict[str, float], hours: float
) -> NightRecording:
    """Simulate the rows of one night of ``hours`` in bed starting on the evening of ``date``.

    The result is not yet anchored (see ``anchor_to_latent``): faults that change which rows are
    usable are applied first.
    """
    n = int(round(hours * ROWS_PER_HOUR))
    start = draw_bed_time(rng, date)
    timestamp = start + raw_format.SAMPLE_PERIOD_S * np.arange(n, dtype=np.int64)
    states = hypnogram(rng, n)
    motion = _motion(rng, states)
    frac = np.arange(n) / max(n - 1, 1)

    hr_bump = np.zeros(n)
    n_moves = int(rng.poisson(MOVEMENTS_PER_HOUR * n / ROWS_PER_HOUR))
    starts = rng.integers(0, n, n_moves)
    lengths = rng.integers(MOVEMENT_ROWS[0], MOVEMENT_ROWS[1] + 1, n_moves)
    levels = rng.uniform(*MOVEMENT_G, n_moves)
    bumps = rng.uniform(*MOVEMENT_HR_BUMP, n_moves)
    for s, length, level, bump in zip(starts, lengths, levels, bumps, strict=True):
        motion[s : s + length] = level
        hr_bump[s : s + 3 * length] += bump

    minutes = np.arange(n) / ROWS_PER_MINUTE
    hr = (
        latent["heart_rate"]
        + STAGE_HR[states]
        + HR_TREND_BPM * (0.5 - frac)
        + HR_SLOW_SD * smooth_noise(rng, n, SLOW_NOISE_TAU_ROWS)
        + HR_FAST_SD * rng.standard_normal(n)
        + hr_bump
    )
    hrv = latent["hrv_rmssd"] * np.exp(
        STAGE_HRV_LOG[states]
        + HRV_SLOW_LOG_SD * smooth_noise(rng, n, SLOW_NOISE_TAU_ROWS)
        + HRV_FAST_LOG_SD * rng.standard_normal(n)
    )
    temp = (
        latent["skin_temp_c"]
        - TEMP_ONSET_DROP_C * np.exp(-minutes / TEMP_ONSET_TAU_MIN)
        + TEMP_SLOW_SD * smooth_noise(rng, n, 2 * SLOW_NOISE_TAU_ROWS)
        + TEMP_FAST_SD * rng.standard_normal(n)
    )
    br = (
        latent["breathing_rate"]
        + STAGE_BR[states]
        + BR_SLOW_SD * smooth_noise(rng, n, SLOW_NOISE_TAU_ROWS)
        + BR_FAST_SD * rng.standard_normal(n)
    )
    perf = (
        latent["perfusion"]
        + STAGE_PERF[states]
        + PERF_SLOW_SD * smooth_noise(rng, n, SLOW_NOISE_TAU_ROWS)
        + PERF_FAST_SD * rng.standard_normal(n)
    )
    return NightRecording(
        timestamp=timestamp,
        heart_rate=hr,
        hrv_rmssd=hrv,
        skin_temp_c=temp,
        breathing_rate=br,
        perfusion=perf,
        sleep_state=states,
        motion=np.round(motion, 3),
        off_wrist=np.zeros(n, dtype=bool),
        motion_corrupted=np.zeros(n, dtype=bool),
    )


def anchor_to_latent(rec: NightRecording, latent: dict[str, float]) -> None:
    """Shift (HRV: scale) each signal so its median over ``rec.anchor_mask()`` is the latent value.

    Then clip every signal into ``CLEAN_BOUNDS``. Off-wrist skin temperatures (the device lying
    in the room) are left as they are. Nothing is shifted when no row is usable.
    """
    worn = ~rec.off_wrist
    mask = rec.anchor_mask()
    if mask.any():
        for name in ("heart_rate", "breathing_rate", "perfusion"):
            series = getattr(rec, name)
            series += latent[name] - np.median(series[mask])
        rec.skin_temp_c[worn] += latent["skin_temp_c"] - np.median(rec.skin_temp_c[mask])
        rec.hrv_rmssd *= latent["hrv_rmssd"] / np.median(rec.hrv_rmssd[mask])
    for name, (low, high) in CLEAN_BOUNDS.items():
        series = getattr(rec, name)
        if name == "skin_temp_c":
            series[worn] = np.clip(series[worn], low, high)
        else:
            np.clip(series, low, high, out=series)
