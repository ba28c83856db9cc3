"""Nightly latent physiology: one value per signal per user-night, driven by the cycle phase.

The latent value is what a perfect feature extractor would recover from a night: the median of the
signal over the low-motion part of sleep (``night_rows`` builds the 10-second rows around it). Every
parameter cites the row of the "Domain facts for the synthetic data" table in ``docs/DOMAIN.md``
(Goodale et al. 2019, Shilaih et al. 2017/2018, Maijala et al. 2019, Schmalenberger et al. 2019,
Jasinski et al. 2024) or is marked *assumed* (no published size) or *derived*.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from synthetic.cycles import Cycle

SIGNALS: tuple[str, ...] = (
    "heart_rate",
    "hrv_rmssd",
    "skin_temp_c",
    "breathing_rate",
    "perfusion",
)

# --- wrist skin temperature (docs/DOMAIN.md "wrist skin temperature") ---
TEMP_BASELINE_MEAN = 34.0  # person baseline about 34.0 C
TEMP_BASELINE_SD = 0.4  # between-person SD 0.4 (assumed in docs/DOMAIN.md)
TEMP_RISE_MIN = 0.30  # luteal rise +0.30 to +0.45 C
TEMP_RISE_MAX = 0.45
TEMP_RISE_ON_OR_AFTER_OVULATION = 0.86  # rise starts on or after ovulation in 86% of cycles
# Assumed: how the onset is spread around ovulation (days relative to the ovulation day).
TEMP_RISE_LAG_AFTER = ((0, 0.40), (1, 0.40), (2, 0.20))  # given "on or after"
TEMP_RISE_LAG_BEFORE = ((-1, 0.65), (-2, 0.35))  # given "before" (the other 14%)
TEMP_NIGHTLY_SD = 0.13  # nightly noise SD about 0.13 C
# Assumed: the shift builds over 3 nights and fades over the last 2 nights of the cycle.
LUTEAL_RAMP_NIGHTS = 3
PREMENSTRUAL_FADE_NIGHTS = 2

# --- sleeping heart rate (docs/DOMAIN.md "sleeping heart rate") ---
HR_BASELINE_MEAN = 58.0  # person baseline about 58 bpm
HR_BASELINE_SD = 6.0  # between-person SD 6 (assumed in docs/DOMAIN.md)
HR_BASELINE_MIN, HR_BASELINE_MAX = 40.0, 85.0  # assumed clip
HR_FERTILE_OVER_MENSES = 2.1  # fertile window +2.1 bpm over menses
HR_MIDLUTEAL_OVER_MENSES = 3.8  # mid-luteal +3.8 bpm over menses
HR_LAST_DAY_OVER_MENSES = 1.0  # assumed: the late-luteal fall towards the menses level
MIDLUTEAL_HALF_WIDTH = 2  # assumed: mid-luteal = ovulation + luteal/2, +-2 days
HR_NIGHTLY_SD = 1.3  # nightly noise SD about 1.3 bpm

# --- HRV RMSSD (docs/DOMAIN.md "HRV (RMSSD)") ---
HRV_BASELINE_MEDIAN = 45.0  # assumed: per-person lognormal baseline around 45 ms
HRV_BASELINE_LOG_SD = 0.35  # assumed
HRV_BASELINE_MIN, HRV_BASELINE_MAX = 12.0, 150.0  # assumed clip
HRV_NIGHTLY_CV = 0.12  # assumed: within-person nightly SD as a fraction of the baseline
HRV_FOLLICULAR_TO_LUTEAL_D = -0.39  # follicular to luteal effect d = -0.39 (within-person SDs)
HRV_PEAK_DAY = 5  # highest near cycle day 5
HRV_TROUGH_DAYS_BEFORE_END = 2  # lowest near day 27 of a 29-day cycle, i.e. 2 days before its end

# --- breathing rate (docs/DOMAIN.md "breathing rate") ---
BR_BASELINE_MEAN = 15.0  # assumed: about 14-16 breaths/min
BR_BASELINE_SD = 0.6  # assumed
BR_BASELINE_MIN, BR_BASELINE_MAX = 12.0, 18.0  # assumed clip
BR_LUTEAL_RISE = 0.3  # luteal +0.3 breaths/min (assumed in docs/DOMAIN.md)
BR_NIGHTLY_SD = 0.25  # assumed

# --- skin perfusion (docs/DOMAIN.md "skin perfusion") ---
PERF_BASELINE_MEAN = 1.0  # assumed: relative index about 1.0
PERF_BASELINE_SD = 0.08  # assumed
PERF_BASELINE_MIN, PERF_BASELINE_MAX = 0.7, 1.3  # assumed clip
PERF_POST_FERTILE_DROP = 0.04  # falls after the fertile window closes (small, assumed)
PERF_NIGHTLY_SD = 0.03  # assumed


def _hrv_shape(days: np.ndarray, length: int) -> np.ndarray:
    """Return the HRV cycle shape in [-1, 1]: +1 on day 5, -1 two days before the cycle's end."""
    trough = length - HRV_TROUGH_DAYS_BEFORE_END
    # The previous cycle's trough sits at day -HRV_TROUGH_DAYS_BEFORE_END, the next peak at
    # length + HRV_PEAK_DAY: the curve is periodic around the cycle boundary.
    knots = [-HRV_TROUGH_DAYS_BEFORE_END, HRV_PEAK_DAY, trough, length + HRV_PEAK_DAY]
    return np.interp(days, knots, [-1.0, 1.0, -1.0, 1.0])


def _hrv_shape_contrast(length: int = 29, ovulation_day: int = 16) -> float:
    """Return mean shape over the follicular phase minus mean over the luteal phase."""
    days = np.arange(1, length + 1)
    shape = _hrv_shape(days, length)
    return float(shape[:ovulation_day].mean() - shape[ovulation_day:].mean())


# Derived: amplitude (fraction of the baseline) such that follicular minus luteal of a typical
# 29-day cycle with ovulation on day 16 is 0.39 nightly within-person SDs.
HRV_AMPLITUDE = -HRV_FOLLICULAR_TO_LUTEAL_D * HRV_NIGHTLY_CV / _hrv_shape_contrast()


@dataclass(frozen=True)
class UserTraits:
    """A woman's personal baselines (the menses-phase level of each signal)."""

    skin_temp_c: float
    heart_rate: float
    hrv_rmssd: float
    breathing_rate: float
    perfusion: float


@dataclass(frozen=True)
class CyclePhysiology:
    """Per-cycle draws: the temperature-rise onset day (``None`` if anovulatory) and size."""

    temp_rise_day: int | None
    temp_rise_c: float


@dataclass(frozen=True)
class NightlyLatents:
    """Latent nightly values of one user, one entry per night of her cycle history."""

    dates: tuple[dt.date, ...]
    cycle_index: np.ndarray
    cycle_day: np.ndarray
    values: dict[str, np.ndarray]
    cycle_physiology: tuple[CyclePhysiology, ...]

    def __len__(self) -> int:
        return len(self.dates)

    def night(self, i: int) -> dict[str, float]:
        """Return the latent value of every signal on night ``i``."""
        return {name: float(series[i]) for name, series in self.values.items()}


def draw_user_traits(rng: np.random.Generator) -> UserTraits:
    """Draw a woman's personal baselines (always five draws)."""
    z = rng.standard_normal(5)
    return UserTraits(
        skin_temp_c=TEMP_BASELINE_MEAN + TEMP_BASELINE_SD * z[0],
        heart_rate=float(
            np.clip(HR_BASELINE_MEAN + HR_BASELINE_SD * z[1], HR_BASELINE_MIN, HR_BASELINE_MAX)
        ),
        hrv_rmssd=float(
            np.clip(
                HRV_BASELINE_MEDIAN * np.exp(HRV_BASELINE_LOG_SD * z[2]),
                HRV_BASELINE_MIN,
                HRV_BASELINE_MAX,
            )
        ),
        breathing_rate=float(
            np.clip(BR_BASELINE_MEAN + BR_BASELINE_SD * z[3], BR_BASELINE_MIN, BR_BASELINE_MAX)
        ),
        perfusion=float(
            np.clip(
                PERF_BASELINE_MEAN + PERF_BASELINE_SD * z[4], PERF_BASELINE_MIN, PERF_BASELINE_MAX
            )
        ),
    )


def luteal_fraction(days: np.ndarray, length: int, onset_day: int) -> np.ndarray:
    """Return the fraction (0..1) of a luteal shift on each cycle day.

    The shift builds over ``LUTEAL_RAMP_NIGHTS`` nights from ``onset_day`` (first raised night)
    and fades over the last ``PREMENSTRUAL_FADE_NIGHTS`` nights of the cycle.
    """
    rise = np.clip((days - onset_day + 1) / LUTEAL_RAMP_NIGHTS, 0.0, 1.0)
    fade = np.clip((length + 1 - days) / (PREMENSTRUAL_FADE_NIGHTS + 1), 0.0, 1.0)
    return np.minimum(rise, fade)


def midluteal_days(cycle: Cycle) -> range:
    """Return the 1-based cycle days counted as mid-luteal (empty if anovulatory)."""
    if cycle.ovulation_day is None or cycle.luteal_days is None:
        return range(0)
    centre = cycle.ovulation_day + round(cycle.luteal_days / 2)
    first = max(cycle.ovulation_day + 2, centre - MIDLUTEAL_HALF_WIDTH)
    last = min(cycle.length_days - 1, centre + MIDLUTEAL_HALF_WIDTH)
    return range(first, last + 1)


def heart_rate_offset(cycle: Cycle, days: np.ndarray) -> np.ndarray:
    """Return the cycle-phase heart-rate offset (bpm over the menses level) on each cycle day.

    Anchors: 0 during menses, +2.1 over the fertile window, +3.8 over the mid-luteal days,
    +1.0 on the last day; linear in between. Anovulatory cycles stay flat (assumed).
    """
    if cycle.ovulation_day is None:
        return np.zeros(days.shape, dtype=float)
    anchors = np.full(cycle.length_days, np.nan)
    anchors[: cycle.menses_days] = 0.0
    anchors[cycle.length_days - 1] = HR_LAST_DAY_OVER_MENSES
    for day in midluteal_days(cycle):
        anchors[day - 1] = HR_MIDLUTEAL_OVER_MENSES
    for day in cycle.fertile_days():
        anchors[day - 1] = HR_FERTILE_OVER_MENSES
    known = np.flatnonzero(~np.isnan(anchors))
    return np.interp(days, known + 1, anchors[known])


def _cycle_day_arrays(cycles: list[Cycle]) -> tuple[np.ndarray, np.ndarray]:
    """Return the cycle index and 1-based cycle day of every night of the history."""
    cycle_index = np.concatenate([np.full(c.length_days, c.cycle_index) for c in cycles])
    cycle_day = np.concatenate([np.arange(1, c.length_days + 1) for c in cycles])
    return cycle_index, cycle_day


def _draw_cycle_physiology(rng: np.random.Generator, cycle: Cycle) -> CyclePhysiology:
    """Draw the temperature-rise onset and size of one cycle (always three draws)."""
    u_when, u_lag, u_size = rng.random(3)
    size = TEMP_RISE_MIN + (TEMP_RISE_MAX - TEMP_RISE_MIN) * u_size
    if cycle.ovulation_day is None:
        return CyclePhysiology(temp_rise_day=None, temp_rise_c=0.0)
    table = (
        TEMP_RISE_LAG_AFTER if u_when < TEMP_RISE_ON_OR_AFTER_OVULATION else TEMP_RISE_LAG_BEFORE
    )
    cumulative = np.cumsum([p for _, p in table])
    lag = table[int(np.searchsorted(cumulative, u_lag * cumulative[-1], side="right"))][0]
    onset = int(np.clip(cycle.ovulation_day + lag, 2, cycle.length_days - 1))
    return CyclePhysiology(temp_rise_day=onset, temp_rise_c=float(size))


def simulate_nightly_latents(
    rng: np.random.Generator, cycles: list[Cycle], traits: UserTraits
) -> NightlyLatents:
    """Simulate the latent value of every signal for every night of a cycle history.

    Night ``k`` is the evening of ``cycles[0].start_date + k days``; it belongs to the cycle day
    of that date. The draws are a fixed number per cycle and per night.
    """
    cycle_index, cycle_day = _cycle_day_arrays(cycles)
    n = cycle_day.size
    temp_shift = np.zeros(n)
    hr_shift = np.zeros(n)
    hrv_shape = np.zeros(n)
    br_shift = np.zeros(n)
    perf_shift = np.zeros(n)
    phys: list[CyclePhysiology] = []
    offset = 0
    for cycle in cycles:
        p = _draw_cycle_physiology(rng, cycle)
        phys.append(p)
        sl = slice(offset, offset + cycle.length_days)
        days = cycle_day[sl].astype(float)
        offset += cycle.length_days
        if cycle.ovulation_day is None or p.temp_rise_day is None:
            # anovulatory: no temperature rise (docs/DOMAIN.md); other effects flat (assumed)
            continue
        lut = luteal_fraction(days, cycle.length_days, p.temp_rise_day)
        temp_shift[sl] = p.temp_rise_c * lut
        br_shift[sl] = BR_LUTEAL_RISE * lut
        hr_shift[sl] = heart_rate_offset(cycle, days)
        hrv_shape[sl] = _hrv_shape(days, cycle.length_days)
        post_fertile = luteal_fraction(days, cycle.length_days, cycle.ovulation_day + 1)
        perf_shift[sl] = -PERF_POST_FERTILE_DROP * post_fertile

    noise = rng.standard_normal((n, 5))
    values = {
        "heart_rate": traits.heart_rate + hr_shift + HR_NIGHTLY_SD * noise[:, 0],
        "hrv_rmssd": traits.hrv_rmssd
        * (1.0 + HRV_AMPLITUDE * hrv_shape + HRV_NIGHTLY_CV * noise[:, 1]),
        "skin_temp_c": traits.skin_temp_c + temp_shift + TEMP_NIGHTLY_SD * noise[:, 2],
        "breathing_rate": traits.breathing_rate + br_shift + BR_NIGHTLY_SD * noise[:, 3],
        "perfusion": traits.perfusion + perf_shift + PERF_NIGHTLY_SD * noise[:, 4],
    }
    values["hrv_rmssd"] = np.maximum(values["hrv_rmssd"], 5.0)
    values["perfusion"] = np.maximum(values["perfusion"], 0.2)
    first = cycles[0].start_date
    dates = tuple(first + dt.timedelta(days=k) for k in range(n))
    return NightlyLatents(
        dates=dates,
        cycle_index=cycle_index,
        cycle_day=cycle_day,
        values=values,
        cycle_physiology=tuple(phys),
    )
