"""Menstrual-cycle histories: cycle lengths, ovulation days, luteal phases, menses, anovulation.

Every parameter cites the row of the "Domain facts for the synthetic data" table in
``docs/DOMAIN.md`` it comes from (which in turn cites Bull et al. 2019, Fehring et al. 2006 and
Wilcox et al. 1995), or is marked *assumed* / *derived*.

Model, per woman ``i`` and cycle ``j``::

    length_ij = mu_i + e_ij          mu_i ~ N(29.3, SD_between),  e_ij ~ N(0, 2.3)
    luteal_ij = lam_i + f_ij         lam_i ~ N(13.3, SD_between), f_ij ~ N(0, 1.2)
    ovulation_day_ij = length_ij - luteal_ij        (1-based cycle day)

The between-woman SDs follow from total SD^2 = between^2 + within^2. Luteal length and cycle
length are correlated (``LENGTH_LUTEAL_CORRELATION``): with independent phases the ovulation day
would have SD 4.7 and r(ovulation, length) 0.82, but the table says SD 3.5 and r 0.74, and both
figures are reproduced by a length-luteal correlation of about 0.49 at both levels.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from transforms import features as fc

# docs/DOMAIN.md "cycle length": mean 29.3 d, SD 3.9 across cycles, within-woman SD about 2.3 d.
# The mean is the contract's population mean, the one the calendar rule falls back on.
CYCLE_LENGTH_MEAN = fc.POPULATION_CYCLE_DAYS
CYCLE_LENGTH_SD = 3.9
CYCLE_LENGTH_WITHIN_SD = 2.3
# Derived: total variance = between variance + within variance.
CYCLE_LENGTH_BETWEEN_SD = math.sqrt(CYCLE_LENGTH_SD**2 - CYCLE_LENGTH_WITHIN_SD**2)
# Assumed bounds (docs/DOMAIN.md: 95% within 22-36 d); only the extreme ~0.2% is clipped.
CYCLE_LENGTH_MIN = 18
CYCLE_LENGTH_MAX = 50

# docs/DOMAIN.md "luteal phase": 13.3 d, SD 2.7; within-woman SD about 1.2 d.
LUTEAL_MEAN = 13.3
LUTEAL_SD = 2.7
LUTEAL_WITHIN_SD = 1.2
# Derived: total variance = between variance + within variance.
LUTEAL_BETWEEN_SD = math.sqrt(LUTEAL_SD**2 - LUTEAL_WITHIN_SD**2)
# Assumed bounds on a luteal phase (days).
LUTEAL_MIN = 6
LUTEAL_MAX = 20

# Derived from docs/DOMAIN.md "ovulation day" (mean 16, SD 3.5, r with length about 0.74):
# SD(ov)^2 = SD(len)^2 + SD(lut)^2 - 2 cov(len, lut) gives cov = 5.1, i.e. a correlation of
# 0.49 between cycle length and luteal length; applied to both the between- and within-woman
# parts. Resulting r(ovulation, length) = (3.9^2 - 5.1) / (3.5 * 3.9) = 0.74.
LENGTH_LUTEAL_CORRELATION = 0.49
# Assumed: ovulation no earlier than cycle day 8 (the fertile window starts after day 2).
OVULATION_DAY_MIN = 8

# docs/DOMAIN.md "menses": 5.2 d, SD 1.3.
MENSES_MEAN = 5.2
MENSES_SD = 1.3
# Assumed bounds on menses (days).
MENSES_MIN = 2
MENSES_MAX = 9

# docs/DOMAIN.md "anovulatory cycles": about 9% (no temperature rise).
ANOVULATORY_FRACTION = 0.09


@dataclass(frozen=True)
class Cycle:
    """One menstrual cycle of one woman.

    ``ovulation_day`` is the 1-based cycle day of ovulation, ``None`` for an anovulatory cycle.
    """

    cycle_index: int
    start_date: dt.date
    length_days: int
    ovulation_day: int | None
    menses_days: int

    @property
    def end_date(self) -> dt.date:
        """Return the first day of the next cycle (exclusive end of this one)."""
        return self.start_date + dt.timedelta(days=self.length_days)

    @property
    def luteal_days(self) -> int | None:
        """Return the luteal-phase length (days after ovulation), ``None`` if anovulatory."""
        if self.ovulation_day is None:
            return None
        return self.length_days - self.ovulation_day

    @property
    def ovulatory(self) -> bool:
        """Return whether the cycle ovulated."""
        return self.ovulation_day is not None

    def fertile_days(self) -> range:
        """Return the 1-based cycle days of the fertile window (empty if anovulatory)."""
        if self.ovulation_day is None:
            return range(0)
        # the label's window (transforms.features), cut at day 1 for an early ovulation
        first, last = fc.fertile_window(self.ovulation_day)
        return range(max(1, first), last + 1)


def simulate_user_cycles(
    rng: np.random.Generator, n_cycles: int, first_start: dt.date
) -> list[Cycle]:
    """Simulate ``n_cycles`` contiguous cycles of one woman, the first starting on ``first_start``.

    The number of random draws does not depend on the outcome, so a given generator state always
    yields the same history.
    """
    if n_cycles < 1:
        raise ValueError("n_cycles must be at least 1")
    rho = LENGTH_LUTEAL_CORRELATION
    rho_c = math.sqrt(1.0 - rho**2)

    between = rng.standard_normal(2)
    user_length = CYCLE_LENGTH_MEAN + CYCLE_LENGTH_BETWEEN_SD * between[0]
    user_luteal = LUTEAL_MEAN + LUTEAL_BETWEEN_SD * (rho * between[0] + rho_c * between[1])

    within = rng.standard_normal((n_cycles, 2))
    lengths = user_length + CYCLE_LENGTH_WITHIN_SD * within[:, 0]
    luteals = user_luteal + LUTEAL_WITHIN_SD * (rho * within[:, 0] + rho_c * within[:, 1])
    menses = MENSES_MEAN + MENSES_SD * rng.standard_normal(n_cycles)
    anovulatory = rng.random(n_cycles) < ANOVULATORY_FRACTION

    length_days = np.clip(np.rint(lengths), CYCLE_LENGTH_MIN, CYCLE_LENGTH_MAX).astype(int)
    luteal_days = np.clip(np.rint(luteals), LUTEAL_MIN, LUTEAL_MAX).astype(int)
    luteal_days = np.minimum(luteal_days, length_days - OVULATION_DAY_MIN)
    ovulation_days = length_days - luteal_days
    menses_days = np.clip(np.rint(menses), MENSES_MIN, MENSES_MAX).astype(int)
    menses_days = np.minimum(menses_days, ovulation_days - 2)

    cycles: list[Cycle] = []
    start = first_start
    for j in range(n_cycles):
        cycle = Cycle(
            cycle_index=j,
            start_date=start,
            length_days=int(length_days[j]),
            ovulation_day=None if anovulatory[j] else int(ovulation_days[j]),
            menses_days=int(menses_days[j]),
        )
        cycles.append(cycle)
        start = cycle.end_date
    return cycles
