"""One user's nights and cycles joined into labelled nightly examples with causal history.

Everything here uses only what was known on each night: earlier nights, and cycles that had ended
before it. The label (the fertile window) comes from the current cycle's confirmed ovulation,
known in hindsight, which is what a label is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field

from components.nightly_features.records import CycleRow, NightOutcome
from transforms import features as fc


class NightStatus:
    """What became of a night, as the night ledger records it."""

    EXAMPLE = "example"  # a valid, labelled night: written as an example
    INVALID = "invalid"  # unreadable or failed the night rules (reason in invalid_reason)
    NO_CYCLE = "no_cycle"  # valid, but no logged cycle contains it
    UNLABELLED = "unlabelled"  # valid, in the open cycle: its fertile window is not known yet
    DUPLICATE = "duplicate_night"  # a second valid file for a user-night already used


def pseudonymise(user_id: str, salt: bytes) -> str:
    """Return the salted pseudonym of a user id (HMAC-SHA256, 16 hex digits)."""
    if not salt:
        raise ValueError("the user-id salt is empty: configure one (see README, 'Privacy')")
    return hmac.new(salt, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def split_for_user(user_id: str, split_buckets: dict[str, int]) -> str:
    """Assign a user to a split by a hash of the user id, never by night.

    ``split_buckets`` maps split names to integer weights (e.g. train 14, eval 3, test 3); the
    same user always lands in the same split, whatever else is in the data.
    """
    total = sum(split_buckets.values())
    if total <= 0:
        raise ValueError("split weights must add up to more than 0")
    bucket = int.from_bytes(hashlib.sha256(user_id.encode("utf-8")).digest()[:8], "big") % total
    for name, weight in split_buckets.items():
        if bucket < weight:
            return name
        bucket -= weight
    raise AssertionError("unreachable")


def fertile_label(cycle: CycleRow, cycle_day: int) -> int | None:
    """1 if ``cycle_day`` is the ovulation day or one of the 5 days before, 0 if not.

    None when the cycle is still open (its ovulation is not confirmed yet). Anovulatory cycles
    (no ovulation day) have no fertile window.
    """
    if cycle.length_days is None:
        return None
    if cycle.ovulation_day is None:
        return 0
    return int(fc.in_fertile_window(cycle_day, cycle.ovulation_day))


# A night is scored (gets a prediction request) when at least this many of the 28 nights before
# it were valid: with fewer, the per-user baselines the model reads are not there yet.
MIN_HISTORY_FOR_PREDICTION = 3


def too_little_history(history_mask: list[int]) -> bool:
    """Whether a night's history mask holds fewer than ``MIN_HISTORY_FOR_PREDICTION`` valid nights.

    Such a night is not scored (``NotScored.HISTORY``), by the batch path and online alike.
    """
    return sum(history_mask) < MIN_HISTORY_FOR_PREDICTION


class NotScored:
    """Why a user-night gets no prediction request."""

    INVALID = "no_valid_night"  # the upload failed the night rules (the ledger says which)
    NO_CYCLE = "no_cycle_logged"
    HISTORY = "too_little_history"  # fewer than MIN_HISTORY_FOR_PREDICTION valid nights before


@dataclass
class UserResult:
    """One user's examples and prediction requests (plain feature dicts), and her ledger.

    ``examples`` are the labelled nights; ``requests`` are the serving features (no label) of
    every valid night that can be scored, labelled or not, which is what the app asks about
    tonight; ``not_scored`` maps the other nights to a ``NotScored`` reason.
    """

    examples: list[dict[str, list]]
    ledger: list[dict]
    requests: list[dict[str, list]] = field(default_factory=list)
    not_scored: dict[str, str] = field(default_factory=dict)


def _history(date: dt.date, by_date: dict[dt.date, NightOutcome]) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in fc.HISTORY_FEATURES}
    mask: list[int] = []
    for back in range(fc.HISTORY_NIGHTS, 0, -1):
        night = by_date.get(date - dt.timedelta(days=back))
        ok = night is not None and night.valid
        mask.append(int(ok))
        for name in fc.NIGHTLY_FEATURES:
            out[fc.history_key(name)].append(night.features[name] if ok else 0.0)
    out[fc.HISTORY_MASK] = mask
    return out


def _prev_cycle_lengths(cycle: CycleRow, cycles: list[CycleRow]) -> list[int]:
    return [
        c.length_days
        for c in cycles
        if c.cycle_index < cycle.cycle_index and c.length_days is not None
    ][-fc.PREV_CYCLES :]


def build_user_examples(
    user_id: str, nights: list[NightOutcome], cycles: list[CycleRow], user_key: str
) -> UserResult:
    """Join a user's nights with her cycle log into examples, and account for every night.

    ``nights`` may include stored nights (``NightOutcome.stored``) from earlier spans: they fill
    the history features and get no ledger entry or example of their own.
    """
    cycles = sorted(cycles, key=lambda c: c.cycle_index)
    ordered = sorted(nights, key=lambda n: (n.night_date or "", -n.rows_accepted, n.rel_path))
    by_date: dict[dt.date, NightOutcome] = {}
    ledger: list[dict] = []
    examples: list[dict[str, list]] = []
    for night in ordered:
        if night.stored:  # an earlier span's statistics: history only, accounted for by its run
            by_date.setdefault(dt.date.fromisoformat(night.night_date), night)
            continue
        entry = {
            fc.USER_KEY: user_key,
            fc.NIGHT_DATE: night.night_date,
            "rows_total": night.rows_total,
            "rows_accepted": night.rows_accepted,
            "rows_rejected": night.rows_rejected,
            "invalid_reason": night.invalid_reason,
            **night.quality,
        }
        if night.invalid_detail:  # the schema-range rule names the figure and the bound
            entry["invalid_detail"] = night.invalid_detail
        if night.valid:  # tonight's statistics, labelled or not: what drift is checked on
            entry["features"] = dict(night.features)
        date = dt.date.fromisoformat(night.night_date)
        if not night.valid:
            entry["status"] = NightStatus.INVALID
        elif date in by_date:
            entry["status"] = NightStatus.DUPLICATE
        else:
            by_date[date] = night
            entry["status"] = None  # decided below, once all nights are known
        ledger.append(entry)

    result = UserResult(examples=examples, ledger=ledger)
    for entry in ledger:
        night_date = entry[fc.NIGHT_DATE]
        if entry["status"] == NightStatus.INVALID:
            result.not_scored[night_date] = NotScored.INVALID
        if entry["status"] is not None:
            continue
        date = dt.date.fromisoformat(night_date)
        night = by_date[date]
        cycle = next((c for c in reversed(cycles) if c.contains(date)), None)
        if cycle is None:
            entry["status"] = NightStatus.NO_CYCLE
            result.not_scored[night_date] = NotScored.NO_CYCLE
            continue
        cycle_day = (date - cycle.start_date).days + 1
        request = serving_features(night, date, by_date, cycle, cycles, cycle_day, user_key)
        if too_little_history(request[fc.HISTORY_MASK]):
            result.not_scored[night_date] = NotScored.HISTORY
        else:
            result.requests.append(request)
        label = fertile_label(cycle, cycle_day)
        if label is None:
            entry["status"] = NightStatus.UNLABELLED
            continue
        entry["status"] = NightStatus.EXAMPLE
        examples.append({**request, fc.LABEL_KEY: [label]})
    return result


def serving_features(
    night: NightOutcome,
    date: dt.date,
    by_date: dict[dt.date, NightOutcome],
    cycle: CycleRow,
    cycles: list[CycleRow],
    cycle_day: int,
    user_key: str,
) -> dict[str, list]:
    """A valid night's features as the model reads them (everything but the label)."""
    prev = _prev_cycle_lengths(cycle, cycles)
    features: dict[str, list] = {name: [night.features[name]] for name in fc.NIGHTLY_FEATURES}
    features.update({name: [night.quality[name]] for name in fc.QUALITY_FEATURES})
    features.update(_history(date, by_date))
    features[fc.PREV_CYCLE_LENGTHS] = [float(x) for x in prev] + [0.0] * (
        fc.PREV_CYCLES - len(prev)
    )
    features[fc.PREV_CYCLE_COUNT] = [len(prev)]
    features[fc.CYCLE_DAY] = [cycle_day]
    features[fc.CYCLE_REGULARITY] = [fc.cycle_regularity(prev).encode()]
    features[fc.USER_KEY] = [user_key.encode()]
    features[fc.NIGHT_DATE] = [date.isoformat().encode()]
    return features
