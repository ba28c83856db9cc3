"""Tests of the synthetic-data generator (synthetic).

Statistics are checked against the "Domain facts for the synthetic data" table of docs/DOMAIN.md;
the generated files are checked against an independent reference validator written here from the
rules in transforms/raw_format.py.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from synthetic import faults as injection
from synthetic.cycles import simulate_user_cycles
from synthetic.expectations import count_row_rejects
from synthetic.generate import FaultRates, generate_dataset
from synthetic.night_rows import anchor_to_latent, simulate_night
from synthetic.physiology import (
    draw_user_traits,
    midluteal_days,
    simulate_nightly_latents,
)
from synthetic.raw_file import quantise
from transforms import raw_format
from transforms.raw_format import FileReject, NightInvalid, RowReject, SleepState

START = dt.date(2026, 1, 5)


# ----------------------------------------------------------------------------------------------
# Cycle statistics (no files)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort_cycles():
    users = [simulate_user_cycles(np.random.default_rng([2024, i]), 10, START) for i in range(3000)]
    return users


def test_cycles_are_contiguous_and_well_formed(cohort_cycles):
    for cycles in cohort_cycles[:200]:
        for prev, nxt in zip(cycles, cycles[1:], strict=False):
            assert nxt.start_date == prev.start_date + dt.timedelta(days=prev.length_days)
            assert nxt.cycle_index == prev.cycle_index + 1
        for c in cycles:
            assert 1 <= c.menses_days < c.length_days
            if c.ovulation_day is not None:
                assert c.menses_days < c.ovulation_day < c.length_days


def test_cycle_statistics_match_design_table(cohort_cycles):
    lengths = np.array([[c.length_days for c in u] for u in cohort_cycles], dtype=float)
    menses = np.array([c.menses_days for u in cohort_cycles for c in u], dtype=float)
    ovulatory = [c for u in cohort_cycles for c in u if c.ovulation_day is not None]
    ov = np.array([c.ovulation_day for c in ovulatory], dtype=float)
    ov_len = np.array([c.length_days for c in ovulatory], dtype=float)
    luteal = np.array([c.luteal_days for c in ovulatory], dtype=float)
    anovulatory = 1.0 - len(ovulatory) / lengths.size

    # cycle length: mean 29.3, SD 3.9, within-woman SD 2.3, 95% within 22-36
    assert lengths.mean() == pytest.approx(29.3, abs=0.25)
    assert lengths.std() == pytest.approx(3.9, abs=0.2)
    within = math.sqrt(lengths.var(axis=1, ddof=1).mean())
    assert within == pytest.approx(2.3, abs=0.15)
    inside = np.mean((lengths >= 22) & (lengths <= 36))
    assert 0.92 <= inside <= 0.975
    # ovulation day: mean 16, SD 3.5, r(ovulation, length) 0.74
    assert ov.mean() == pytest.approx(16.0, abs=0.3)
    assert ov.std() == pytest.approx(3.5, abs=0.25)
    assert np.corrcoef(ov, ov_len)[0, 1] == pytest.approx(0.74, abs=0.04)
    # luteal phase: 13.3, SD 2.7, within-woman SD 1.2
    assert luteal.mean() == pytest.approx(13.3, abs=0.25)
    assert luteal.std() == pytest.approx(2.7, abs=0.2)
    per_user = collections.defaultdict(list)
    for i, u in enumerate(cohort_cycles):
        per_user[i] = [c.luteal_days for c in u if c.luteal_days is not None]
    lut_var = [np.var(v, ddof=1) for v in per_user.values() if len(v) >= 3]
    assert math.sqrt(np.mean(lut_var)) == pytest.approx(1.2, abs=0.15)
    # menses 5.2, SD 1.3; anovulatory about 9%
    assert menses.mean() == pytest.approx(5.2, abs=0.1)
    assert menses.std() == pytest.approx(1.3, abs=0.1)
    assert anovulatory == pytest.approx(0.09, abs=0.01)
    # fertile window (ovulation day and the 5 before): about 20% of cycle days
    fertile = sum(len(c.fertile_days()) for c in ovulatory) / ov_len.sum()
    assert fertile == pytest.approx(0.20, abs=0.02)


# ----------------------------------------------------------------------------------------------
# Nightly latent physiology (no files)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort_latents():
    out = []
    for i in range(400):
        cycles = simulate_user_cycles(np.random.default_rng([77, i, 0]), 6, START)
        traits = draw_user_traits(np.random.default_rng([77, i, 1]))
        latents = simulate_nightly_latents(np.random.default_rng([77, i, 2]), cycles, traits)
        out.append((cycles, traits, latents))
    return out


def _cycle_slices(cycles):
    offset = 0
    for c in cycles:
        yield c, slice(offset, offset + c.length_days)
        offset += c.length_days


def test_temperature_rise(cohort_latents):
    rises, anov_rises, on_or_after, n_ovulatory, follicular_resid = [], [], 0, 0, []
    for cycles, traits, latents in cohort_latents:
        temp = latents.values["skin_temp_c"]
        for (c, sl), phys in zip(_cycle_slices(cycles), latents.cycle_physiology, strict=True):
            t = temp[sl]
            days = np.arange(1, c.length_days + 1)
            if c.ovulation_day is None:
                ov_guess = c.length_days - 13
                anov_rises.append(
                    t[(days > ov_guess + 3) & (days < c.length_days - 1)].mean()
                    - t[days <= ov_guess - 3].mean()
                )
                continue
            n_ovulatory += 1
            on_or_after += phys.temp_rise_day >= c.ovulation_day
            follicular = t[days <= c.ovulation_day - 3]
            luteal = t[(days >= phys.temp_rise_day + 2) & (days <= c.length_days - 2)]
            if luteal.size:
                rises.append(luteal.mean() - follicular.mean())
            follicular_resid.extend(follicular - traits.skin_temp_c)
    assert np.mean(rises) == pytest.approx(0.375, abs=0.03)  # +0.30 to +0.45
    assert abs(np.mean(anov_rises)) < 0.03  # anovulatory: no rise
    assert on_or_after / n_ovulatory == pytest.approx(0.86, abs=0.03)
    assert np.std(follicular_resid) == pytest.approx(0.13, abs=0.01)  # nightly noise


def test_heart_rate_phase_shifts(cohort_latents):
    fertile_minus_menses, midluteal_minus_menses, menses_resid = [], [], []
    for cycles, traits, latents in cohort_latents:
        hr = latents.values["heart_rate"]
        for c, sl in _cycle_slices(cycles):
            if c.ovulation_day is None:
                continue
            h = hr[sl]
            fertile = set(c.fertile_days())
            menses = [d for d in range(1, c.menses_days + 1) if d not in fertile]
            if not menses:
                continue
            base = h[np.array(menses) - 1].mean()
            fertile_minus_menses.append(h[np.array(sorted(fertile)) - 1].mean() - base)
            mid = list(midluteal_days(c))
            midluteal_minus_menses.append(h[np.array(mid) - 1].mean() - base)
            menses_resid.extend(h[np.array(menses) - 1] - traits.heart_rate)
    assert np.mean(fertile_minus_menses) == pytest.approx(2.1, abs=0.2)
    assert np.mean(midluteal_minus_menses) == pytest.approx(3.8, abs=0.2)
    assert np.std(menses_resid) == pytest.approx(1.3, abs=0.1)


def test_hrv_breathing_perfusion_direction(cohort_latents):
    d_users, br_diff, perf_diff = [], [], []
    by_day = collections.defaultdict(list)
    for cycles, traits, latents in cohort_latents:
        hrv = latents.values["hrv_rmssd"]
        foll, lut = [], []
        for c, sl in _cycle_slices(cycles):
            if c.ovulation_day is None:
                continue
            days = np.arange(1, c.length_days + 1)
            v = hrv[sl] / traits.hrv_rmssd
            foll.extend(v[days <= c.ovulation_day])
            lut.extend(v[days > c.ovulation_day])
            br = latents.values["breathing_rate"][sl]
            perf = latents.values["perfusion"][sl]
            br_diff.append(
                br[days > c.ovulation_day + 3].mean() - br[days < c.ovulation_day].mean()
            )
            perf_diff.append(
                perf[days > c.ovulation_day + 3].mean() - perf[days <= c.ovulation_day].mean()
            )
            if 28 <= c.length_days <= 30:
                for day, value in zip(days, v, strict=True):
                    by_day[day].append(value)
        if foll and lut:
            sd = np.std(foll + lut)
            d_users.append((np.mean(lut) - np.mean(foll)) / sd)
    # follicular -> luteal d = -0.39 within-person SDs
    assert np.mean(d_users) == pytest.approx(-0.39, abs=0.08)
    days = sorted(d for d in by_day if d <= 28)
    means = [np.mean(by_day[d]) for d in days]
    assert 3 <= days[int(np.argmax(means))] <= 7  # highest near day 5
    assert 25 <= days[int(np.argmin(means))] <= 28  # lowest near day 27
    assert np.mean(br_diff) == pytest.approx(0.3, abs=0.06)  # luteal +0.3 (assumed)
    assert np.mean(perf_diff) < -0.02  # falls after the fertile window (assumed)


def test_night_rows_low_motion_asleep_median_is_latent():
    rng = np.random.default_rng(5)
    latent = {
        "heart_rate": 61.3,
        "hrv_rmssd": 52.7,
        "skin_temp_c": 34.21,
        "breathing_rate": 14.8,
        "perfusion": 1.012,
    }
    for night in range(5):
        rec = simulate_night(rng, START + dt.timedelta(days=night), latent, 7.5)
        injection.apply_motion_bursts(rng, rec)
        anchor_to_latent(rec, latent)
        table = quantise(rec.to_table())
        state = table[:, raw_format.RAW_COLUMNS.index("sleep_state")]
        motion = table[:, raw_format.RAW_COLUMNS.index("motion")]
        use = (state != SleepState.WAKE) & (motion <= raw_format.LOW_MOTION_G)
        assert use.sum() * 10 >= 3 * 3600
        for name, tol in (
            ("heart_rate", 0.06),
            ("hrv_rmssd", 0.06),
            ("skin_temp_c", 0.006),
            ("breathing_rate", 0.06),
            ("perfusion", 0.0006),
        ):
            col = table[:, raw_format.RAW_COLUMNS.index(name)]
            assert abs(np.median(col[use]) - latent[name]) <= tol, name
        # motion mostly small, with occasional movements
        asleep_motion = motion[state != SleepState.WAKE]
        assert np.median(asleep_motion) < 0.03
        assert (asleep_motion > raw_format.LOW_MOTION_G).mean() < 0.1
        shares = np.bincount(state.astype(int), minlength=4) / state.size
        assert 0.03 < shares[SleepState.WAKE] < 0.25
        assert 0.35 < shares[SleepState.LIGHT] < 0.65
        assert 0.08 < shares[SleepState.DEEP] < 0.3
        assert 0.12 < shares[SleepState.REM] < 0.35


# ----------------------------------------------------------------------------------------------
# Fault injection units
# ----------------------------------------------------------------------------------------------


def _clean_table(n, start=1_767_650_400):
    rng = np.random.default_rng(0)
    return quantise(
        np.column_stack(
            [
                start + 10.0 * np.arange(n),
                60 + rng.normal(0, 2, n),
                45 + rng.normal(0, 5, n),
                34 + rng.normal(0, 0.1, n),
                15 + rng.normal(0, 0.5, n),
                1 + rng.normal(0, 0.03, n),
                rng.integers(0, 4, n),
                np.abs(rng.normal(0, 0.02, n)),
            ]
        )
    )


def test_row_injections_reject_exactly_one_row_each():
    table = _clean_table(2000)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        result = injection.inject_row_faults(
            rng, table, np.ones(2000, dtype=bool), duplicates=20, swaps=10, glitch_rate=0.005
        )
        counts = count_row_rejects(raw_format.row_reject_codes(quantise(result.table)))
        assert counts.get(RowReject.DUPLICATE_TIMESTAMP, 0) == result.duplicates == 20
        assert counts.get(RowReject.OUT_OF_ORDER, 0) == result.swaps == 10
        assert counts.get(RowReject.OUT_OF_RANGE, 0) == result.glitches
        assert result.table.shape[0] == 2000 + 20


def test_gzip_faults_raise_the_right_errors():
    data = gzip.compress(("\n".join(str(i * 7919 % 1000) for i in range(30000))).encode(), mtime=0)
    for seed in range(40):
        rng = np.random.default_rng(seed)
        truncated = injection.truncate_gzip(rng, data)
        with pytest.raises(EOFError):
            gzip.decompress(truncated)
        corrupt = injection.corrupt_gzip(rng, data)
        with pytest.raises((zlib.error, gzip.BadGzipFile)):
            gzip.decompress(corrupt)


def test_fault_rates_are_validated():
    with pytest.raises(ValueError):
        FaultRates(missing_night=1.5)
    with pytest.raises(ValueError):
        FaultRates(truncated_file=0.6, corrupt_file=0.6)


# ----------------------------------------------------------------------------------------------
# End to end on a small dataset with every fault
# ----------------------------------------------------------------------------------------------

HIGH_FAULTS = FaultRates(
    missing_night=0.1,
    off_wrist=0.3,
    motion_corrupted=0.5,
    short_night=0.1,
    duplicated_rows=0.3,
    out_of_order_rows=0.3,
    truncated_file=0.05,
    corrupt_file=0.05,
    fahrenheit_user=1.0,
    sensor_glitch_row=0.002,
)


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    out = root / "a"
    summary = generate_dataset(out, users=4, cycles=2, seed=11, faults=HIGH_FAULTS, progress=False)
    manifest = json.loads((out / raw_format.MANIFEST_FILE).read_text())
    return root, out, summary, manifest


def test_layout_and_cycles_csv(dataset):
    _, out, summary, manifest = dataset
    with open(out / raw_format.CYCLES_FILE, newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == raw_format.CYCLES_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 4 * 2
    users = sorted({r["user_id"] for r in body})
    assert all(raw_format.USER_ID_PATTERN.match(u) for u in users)
    firsts = set()
    by_user = collections.defaultdict(list)
    for r in body:
        by_user[r["user_id"]].append(r)
    for cyc in by_user.values():
        assert [int(r["cycle_index"]) for r in cyc] == list(range(len(cyc)))
        for prev, nxt in zip(cyc, cyc[1:], strict=False):
            end = dt.date.fromisoformat(prev["start_date"]) + dt.timedelta(
                days=int(prev["length_days"])
            )
            assert dt.date.fromisoformat(nxt["start_date"]) == end
        firsts.add(cyc[0]["start_date"])
        for r in cyc:
            assert r["ovulation_day"] == "" or 1 <= int(r["ovulation_day"]) <= int(r["length_days"])
    assert len(firsts) > 1  # staggered starts
    total_days = sum(int(r["length_days"]) for r in body)
    assert manifest["totals"]["nights_total"] == total_days == summary.nights_total

    files = {str(p.relative_to(out)) for p in (out / raw_format.NIGHTS_DIR).rglob("*.csv.gz")}
    paths = {n["path"] for n in manifest["nights"] if n["path"] is not None}
    assert files == paths
    assert len(files) == summary.files_written
    for n in manifest["nights"]:
        if n["path"] is not None:
            assert n["path"] == raw_format.night_path(n["date"], n["user_id"])


def test_every_fault_occurs(dataset):
    _, _, summary, manifest = dataset
    for name in injection.FAULT_NAMES:
        assert manifest["totals"]["fault_nights"][name] > 0, name
    # the generator writes only parseable rows, and every row inside its night's window
    for reason in RowReject.ALL:
        if reason not in (RowReject.UNPARSEABLE, RowReject.OUTSIDE_NIGHT):
            assert manifest["totals"]["row_rejects"][reason] > 0, reason
    assert summary.faults == manifest["totals"]["fault_nights"]


def test_manifest_totals_equal_sum_of_records(dataset):
    _, _, summary, manifest = dataset
    nights = manifest["nights"]
    totals = manifest["totals"]
    rows = collections.Counter()
    files = collections.Counter()
    invalid = collections.Counter()
    faults = collections.Counter()
    for n in nights:
        rows.update(n["expected_row_rejects"])
        if n["expected_file_reject"]:
            files[n["expected_file_reject"]] += 1
        if n["expected_night_invalid"]:
            invalid[n["expected_night_invalid"]] += 1
        faults.update(n["faults"])
    assert {k: v for k, v in totals["row_rejects"].items() if v} == dict(rows)
    assert {k: v for k, v in totals["file_rejects"].items() if v} == dict(files)
    assert {k: v for k, v in totals["invalid_nights"].items() if v} == dict(invalid)
    assert {k: v for k, v in totals["fault_nights"].items() if v} == dict(faults)
    assert totals["nights_total"] == len(nights)
    assert totals["nights_missing"] == sum(n["path"] is None for n in nights)
    assert totals["nights_written"] == sum(n["path"] is not None for n in nights)
    assert totals["nights_invalid"] == sum(invalid.values())
    assert totals["rows_written"] == sum(n["rows_written"] for n in nights)
    assert totals["motion_corrupted_rows"] == sum(n["motion_corrupted_rows"] for n in nights)
    assert manifest["parameters"]["fault_rates"] == dataclasses.asdict(HIGH_FAULTS)
    assert summary.row_rejects == totals["row_rejects"]


# An independent reference validator, written from raw_format.py's docstrings.


def reference_validate(data: bytes):
    """Return (file_reject, row_reject_counts, accepted_rows) for a raw file's bytes."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except EOFError:
        return FileReject.TRUNCATED, {}, []
    except (zlib.error, gzip.BadGzipFile, UnicodeDecodeError):
        return FileReject.CORRUPT, {}, []
    lines = text.split("\n")
    if lines[0] != raw_format.HEADER_LINE:
        return FileReject.BAD_HEADER, {}, []
    if lines[-1] == "":
        lines = lines[:-1]
    counts = collections.Counter()
    accepted_ts = set()
    latest = None
    accepted = []
    for fields in csv.reader(lines[1:]):
        if len(fields) != len(raw_format.RAW_COLUMNS):
            counts[RowReject.UNPARSEABLE] += 1
            continue
        values, missing, bad = [], False, False
        for field in fields:
            if field.strip() == "":
                missing = True
                values.append(None)
                continue
            try:
                v = float(field)
            except ValueError:
                bad = True
                break
            if math.isnan(v):
                missing = True
            values.append(v)
        if bad:
            counts[RowReject.UNPARSEABLE] += 1
            continue
        if missing:
            counts[RowReject.MISSING_VALUE] += 1
            continue
        row = dict(zip(raw_format.RAW_COLUMNS, values, strict=True))
        band = raw_format.FAHRENHEIT_BAND
        if band.low <= row["skin_temp_c"] <= band.high:
            counts[RowReject.FAHRENHEIT] += 1
            continue
        if (
            any(not (r.low <= row[name] <= r.high) for name, r in raw_format.VALID_RANGES.items())
            or row["sleep_state"] not in SleepState.ALL
        ):
            counts[RowReject.OUT_OF_RANGE] += 1
            continue
        ts = row["timestamp"]
        if ts in accepted_ts:
            counts[RowReject.DUPLICATE_TIMESTAMP] += 1
            continue
        if latest is not None and ts < latest:
            counts[RowReject.OUT_OF_ORDER] += 1
            continue
        accepted_ts.add(ts)
        latest = ts
        accepted.append(row)
    return None, dict(counts), accepted


def reference_night_invalid(accepted):
    rules = raw_format.NightRules()
    if not accepted:
        return NightInvalid.NO_VALID_ROWS
    if len(accepted) * 10 < rules.min_worn_hours * 3600:
        return NightInvalid.SHORT_WEAR
    asleep = [r for r in accepted if r["sleep_state"] in SleepState.ASLEEP]
    if len(asleep) * 10 < rules.min_sleep_hours * 3600:
        return NightInvalid.SHORT_SLEEP
    ts = [r["timestamp"] for r in accepted]
    if any(b - a > rules.max_gap_hours * 3600 for a, b in zip(ts, ts[1:], strict=False)):
        return NightInvalid.LONG_GAP
    if not any(r["motion"] <= raw_format.LOW_MOTION_G for r in asleep):
        return NightInvalid.NO_LOW_MOTION_SLEEP
    return None


NORMAL_FAULTS = {
    injection.OFF_WRIST,
    injection.MOTION_CORRUPTED,
    injection.DUPLICATED_ROWS,
    injection.OUT_OF_ORDER_ROWS,
    injection.SENSOR_GLITCH,
}


def test_reference_validator_reproduces_manifest(dataset):
    _, out, _, manifest = dataset
    checked = 0
    for n in manifest["nights"]:
        if n["path"] is None:
            assert n["faults"] == [injection.MISSING_NIGHT]
            continue
        data = (out / n["path"]).read_bytes()
        file_reject, counts, accepted = reference_validate(data)
        assert file_reject == n["expected_file_reject"], n
        assert counts == n["expected_row_rejects"], n
        if file_reject is None:
            assert reference_night_invalid(accepted) == n["expected_night_invalid"], n
        else:
            assert n["expected_night_invalid"] == file_reject
        checked += 1

        # the designed consequence of each fault
        f = set(n["faults"])
        if f <= NORMAL_FAULTS:
            assert n["expected_night_invalid"] is None, n
        if n["expected_file_reject"] is not None:
            continue
        if injection.FAHRENHEIT in f:
            assert set(counts) == {RowReject.FAHRENHEIT}
            assert n["expected_night_invalid"] == NightInvalid.NO_VALID_ROWS
        elif injection.SHORT_NIGHT in f:
            assert n["expected_night_invalid"] == NightInvalid.SHORT_WEAR
        if injection.OFF_WRIST in f:
            assert 60 <= counts[RowReject.MISSING_VALUE] <= 480
        else:
            assert RowReject.MISSING_VALUE not in counts
        if injection.DUPLICATED_ROWS in f:
            assert 1 <= counts[RowReject.DUPLICATE_TIMESTAMP] <= 20
        if injection.OUT_OF_ORDER_ROWS in f:
            assert 1 <= counts[RowReject.OUT_OF_ORDER] <= 10
    assert checked == manifest["totals"]["nights_written"]


def _read_rows(path: Path):
    text = gzip.decompress(path.read_bytes()).decode()
    reader = csv.DictReader(io.StringIO(text))
    return list(reader)


def test_written_nights_look_right(dataset):
    _, out, _, manifest = dataset
    seen_off_wrist = seen_motion = 0
    for n in manifest["nights"]:
        if n["path"] is None or n["expected_file_reject"] is not None:
            continue
        rows = _read_rows(out / n["path"])
        night = dt.datetime.fromisoformat(n["date"]).replace(tzinfo=dt.UTC)
        first = dt.datetime.fromtimestamp(int(rows[0]["timestamp"]), dt.UTC)
        assert night + dt.timedelta(hours=22) <= first <= night + dt.timedelta(hours=24, minutes=30)
        f = set(n["faults"])
        if injection.OFF_WRIST in f:
            off = [r for r in rows if r["heart_rate"] == ""]
            assert all(r["hrv_rmssd"] == r["breathing_rate"] == r["perfusion"] == "" for r in off)
            # skin temperature drifts towards room temperature (22-24 C)
            coolest = min(float(r["skin_temp_c"]) for r in off)
            assert coolest < 27.0
            if len(off) >= 240:
                assert coolest < 24.5
            seen_off_wrist += 1
        if injection.MOTION_CORRUPTED in f:
            high = [r for r in rows if float(r["motion"]) > 0.2 and r["sleep_state"] != "0"]
            assert len(high) >= 12
            seen_motion += 1
        if f <= NORMAL_FAULTS:
            # the feature extractor's statistic recovers the latent value
            _, _, accepted = reference_validate((out / n["path"]).read_bytes())
            use = [
                r
                for r in accepted
                if r["sleep_state"] in SleepState.ASLEEP and r["motion"] <= raw_format.LOW_MOTION_G
            ]
            assert len(use) * 10 >= 3 * 3600
            for name, tol in (
                ("heart_rate", 0.2),
                ("skin_temp_c", 0.02),
                ("breathing_rate", 0.15),
                ("perfusion", 0.005),
            ):
                median = np.median([r[name] for r in use])
                assert abs(median - n["latent"][name]) <= tol, (name, n)
            hrv = np.median([r["hrv_rmssd"] for r in use])
            assert abs(hrv / n["latent"]["hrv_rmssd"] - 1) < 0.02
    assert seen_off_wrist and seen_motion


def test_same_seed_same_bytes_other_seed_differs(dataset):
    root, out, _, _ = dataset
    again = root / "b"
    generate_dataset(again, users=4, cycles=2, seed=11, faults=HIGH_FAULTS, progress=False)
    assert _tree_hashes(out) == _tree_hashes(again)
    other = root / "c"
    generate_dataset(other, users=4, cycles=2, seed=12, faults=HIGH_FAULTS, progress=False)
    assert _tree_hashes(other) != _tree_hashes(out)
    assert (other / raw_format.CYCLES_FILE).read_bytes() != (
        out / raw_format.CYCLES_FILE
    ).read_bytes()
    with pytest.raises(FileExistsError):
        generate_dataset(other, users=1, cycles=1, seed=1, progress=False)
