"""``cyclecast evaluate --cohort``: the pushed model and the calendar rule on a fresh cohort.

The test split of one run holds 8 or 9 users: too few for a figure to mean much. This generates
``N`` new users with the shipped generator (a seed the model was never trained on), runs them
through the feature job (``components.nightly_features.job.run_feature_job``, the Beam code of
``cyclecast features``), scores the pushed model through its serving signature and the calendar
rule on every labelled night, and gives every figure a 95% interval from a bootstrap over users
(``pipeline.serving.bootstrap``). Each completed cycle also gets an ovulation-day estimate
(``components.ovulation.closed_cycle_estimate``, the function the nightly publishing calls),
scored against the cycle log's confirmed day beside the calendar rule's estimate.

Regularity is the pipeline's own slice (``transforms.features.cycle_regularity``): a night or a
cycle is *irregular* when the user's previous cycle lengths known then span more than 7 days,
*regular* when they span 7 days or less, *unknown* with fewer than two previous cycles.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from transforms import features as fc

# Pseudonyms only group a cohort's nights into users: a fixed salt, never the work directory's.
COHORT_SALT = b"cyclecast-evaluate-cohort"
COHORT_SPLIT = "cohort"  # every cohort user's examples in one split
# Chosen by measurement (MODEL.md, "Figures on a fresh cohort"): the model's sensitivity interval
# narrower than +/-0.03.
DEFAULT_COHORT_USERS = 150
BOOTSTRAP_SEED = 0  # the user resamples: the same for every figure of a run
REGULARITIES = ("regular", "irregular", "unknown")
TEMPERATURE = "skin_temp"  # the nightly statistic the temperature estimators read


class CohortError(ValueError):
    """A cohort that can't be evaluated as asked (e.g. the training seed); the message says why."""


def training_seeds(data_roots: list[Path]) -> set[int]:
    """The seeds a local model may have been trained on: the default data's and the data roots'.

    Each data root's seed is read from its ``manifest.json`` when there is one.
    """
    from pipeline.config import DefaultData
    from transforms.raw_format import MANIFEST_FILE

    seeds = {DefaultData().seed}
    for root in data_roots:
        manifest = Path(root) / MANIFEST_FILE
        if manifest.is_file():
            seed = json.loads(manifest.read_text()).get("parameters", {}).get("seed")
            if isinstance(seed, int):
                seeds.add(seed)
    return seeds


def recorded_data_roots(metadata_path: str, pipeline_name: str) -> list[Path]:
    """The data roots every recorded run of the pipeline read (its recorded configuration).

    None when the store does not exist yet.
    """
    from pipeline.metadata import store as md

    try:
        store = md.connect(metadata_path)
    except FileNotFoundError:
        return []
    roots = set()
    for run in md.run_contexts(store, pipeline_name):
        config = md.custom_props(run).get("config")
        if config:
            root = json.loads(config).get("data_root")
            if root:
                roots.add(root)
    return [Path(r) for r in sorted(roots)]


def check_cohort_seed(seed: int, trained_on: set[int]) -> None:
    """Refuse (``CohortError``) a cohort seed the model may have been trained on."""
    if seed in trained_on:
        raise CohortError(
            f"--seed {seed} generated the training data ({', '.join(map(str, sorted(trained_on)))}"
            " are the training seeds): its users are the ones the model learned from; give "
            "another seed"
        )


def build_cohort(
    root: Path,
    users: int,
    seed: int,
    cycles: int,
    beam_args: list[str],
    progress: Callable[[str], None],
) -> dict:
    """Generate the cohort under ``root/data`` and run the feature job into ``root/features``.

    Returns the feature job's summary.
    """
    import time

    from components.nightly_features.job import run_feature_job
    from synthetic.generate import generate_dataset

    t0 = time.monotonic()
    progress(f"generating {users} users x {cycles} cycles (seed {seed})")
    generate_dataset(root / "data", users=users, cycles=cycles, seed=seed, overwrite=True)
    progress(f"generated in {time.monotonic() - t0:.0f} s; running the feature job")
    t0 = time.monotonic()
    summary = run_feature_job(
        str(root / "data"), str(root / "features"), COHORT_SALT, beam_args, {COHORT_SPLIT: 1}
    )
    progress(
        f"feature job done in {time.monotonic() - t0:.0f} s: "
        f"{summary['examples_by_split'].get(COHORT_SPLIT, 0)} labelled nights"
    )
    return summary


def read_temperatures(quarantine_dir: Path) -> dict[str, dict[dt.date, float]]:
    """Every valid night's skin temperature by user pseudonym, from the stored nightly statistics.

    The files the span store keeps for each night (``quarantine_layout.NIGHTLY_STATS``).
    """
    from components.file_io import read_gzip_lines
    from components.quarantine_layout import NIGHTLY_STATS

    out: dict[str, dict[dt.date, float]] = {}
    for path in sorted(quarantine_dir.glob(f"{NIGHTLY_STATS}-*.jsonl.gz")):
        for line in read_gzip_lines(str(path)):
            record = json.loads(line)
            night = dt.date.fromisoformat(record[fc.NIGHT_DATE])
            out.setdefault(record[fc.USER_KEY], {})[night] = float(record["features"][TEMPERATURE])
    return out


def read_cycle_log(cycles_csv: Path) -> list:
    """The cycle log's rows (``CycleRow``); a generated log has no bad line, so one is an error."""
    from components.nightly_features.records import BadCycleRow, parse_cycle_line

    lines = cycles_csv.read_text(encoding="utf-8").splitlines()[1:]
    try:
        return [parse_cycle_line(line) for line in lines if line.strip()]
    except BadCycleRow as e:
        raise CohortError(f"{cycles_csv}: {e}") from e


def _num(value: float) -> float | None:
    """A figure for JSON: rounded, None where undefined (NaN)."""
    return None if value is None or np.isnan(value) else round(float(value), 4)


def _with_intervals(
    per_user: np.ndarray, figures: dict[str, Callable], counts: np.ndarray
) -> dict[str, object]:
    """Each figure of summed counts, with ``<name>_ci`` its 95% interval over the resamples."""
    from pipeline.serving.bootstrap import sums_interval

    out: dict[str, object] = {}
    for name, figure in figures.items():
        interval = sums_interval(per_user, figure, counts)
        out[name] = _num(interval.point)
        out[f"{name}_ci"] = [_num(x) for x in interval.to_pair()]
    return out


def _night_figures(
    labels: np.ndarray,
    fertile: np.ndarray,
    calendar: np.ndarray,
    probability: np.ndarray,
    users: np.ndarray,
    n_users: int,
    counts: np.ndarray,
) -> dict:
    """Per-night sensitivity and specificity (and the model's AUC) on the given nights."""
    from pipeline.serving import bootstrap as bs

    figures = {"sensitivity": bs.sensitivity, "specificity": bs.specificity}
    out: dict = {
        "nights": int(labels.size),
        "fertile_nights": int(labels.sum()),
        "users": int(np.unique(users).size),
    }
    for name, predicted in (("model", fertile), ("calendar", calendar)):
        per_user = bs.per_user_sums(bs.binary_stat_rows(labels, predicted), users, n_users)
        out[name] = _with_intervals(per_user, figures, counts)
    auc = bs.auc_interval(labels, probability, users, n_users, counts)
    out["model"]["auc"] = _num(auc.point)
    out["model"]["auc_ci"] = [_num(x) for x in auc.to_pair()]
    return out


def _ovulation_figures(rows: np.ndarray, users: np.ndarray, n_users: int, counts) -> dict:
    """Ovulation-day figures of per-cycle ``OVULATION_STATS`` rows, with intervals."""
    from components.ovulation import ovulation_metrics
    from pipeline.serving.bootstrap import per_user_sums

    per_user = per_user_sums(rows.reshape(-1, rows.shape[-1]), users, n_users)
    names = ("mae_days", "within_1d", "within_2d", "coverage", "false_detection")
    return _with_intervals(
        per_user, {n: (lambda t, n=n: ovulation_metrics(t)[n]) for n in names}, counts
    )


def score_cohort(
    rows: list[dict[str, list]],
    probability: np.ndarray,
    fertile: np.ndarray,
    temperatures: dict[str, dict[dt.date, float]],
    cycle_log: list,
    salt: bytes,
    resamples: int | None = None,
) -> dict:
    """Every figure of ``evaluate --cohort`` from the cohort's labelled nights and answers.

    ``rows`` are the labelled examples, ``probability``/``fertile`` the model's answers for
    them; ``temperatures`` each user's nightly skin temperatures (``read_temperatures``);
    ``cycle_log`` the cohort's cycle log and ``salt`` the feature job's. Pure numpy.
    """
    from components.calendar_rule import predict_examples
    from components.example_cycles import cycle_log_by_id, feature_text, group_cycles
    from components.ovulation import (
        ESTIMATOR,
        ESTIMATORS,
        calendar_estimate,
        closed_cycle_estimate,
        ovulation_stat_rows,
    )
    from pipeline.serving import bootstrap as bs

    if not rows:
        raise CohortError("the cohort has no labelled night to score")
    keys = np.array([feature_text(r[fc.USER_KEY]) for r in rows])
    users, n_users = bs.user_index(keys)
    user_keys = np.unique(keys)
    counts = bs.user_resamples(n_users, resamples or bs.RESAMPLES, BOOTSTRAP_SEED)
    labels = np.array([r[fc.LABEL_KEY][0] for r in rows]).astype(bool)
    calendar = predict_examples(rows)
    regularity = np.array([feature_text(r[fc.CYCLE_REGULARITY]) for r in rows])
    probability = np.asarray(probability, dtype=float)
    fertile = np.asarray(fertile).astype(bool)

    def nights(mask: np.ndarray) -> dict:
        return _night_figures(
            labels[mask], fertile[mask], calendar[mask], probability[mask], users[mask],
            n_users, counts,
        )

    result: dict = {"users": int(n_users), **nights(np.ones(labels.size, bool))}
    result["by_regularity"] = {
        r: nights(regularity == r) for r in REGULARITIES if (regularity == r).any()
    }

    # ovulation: every completed cycle the examples reach, against the cycle log's day
    logged = cycle_log_by_id(cycle_log, salt)
    night_dates = [dt.date.fromisoformat(feature_text(r[fc.NIGHT_DATE])) for r in rows]
    scored, open_cycles = [], 0
    for cycle in group_cycles(rows):
        log_row = logged.get(cycle.cycle_id)
        if log_row is None:  # the cycle still open at the data's end: no length, no truth
            open_cycles += 1
            continue
        scored.append((cycle, log_row))
    if not scored:
        raise CohortError("the cohort has no completed cycle to score")
    truths = [log_row.ovulation_day for _, log_row in scored]
    estimates: dict[str, list] = {name: [] for name in ESTIMATORS}
    estimates["calendar"] = []
    for cycle, log_row in scored:
        temps = temperatures.get(cycle.user_key, {})
        probs = {night_dates[i]: probability[i] for i in cycle.rows}
        for name in ESTIMATORS:
            values = probs if name == "probability_window" else temps
            estimates[name].append(
                closed_cycle_estimate(values, cycle.start_date, log_row.length_days, name)
            )
        estimates["calendar"].append(calendar_estimate(cycle.prev_lengths))
    cycle_users = np.searchsorted(user_keys, [cycle.user_key for cycle, _ in scored])
    cycle_regularity = np.array([cycle.regularity for cycle, _ in scored])
    stat_rows = {name: ovulation_stat_rows(truths, e) for name, e in estimates.items()}

    def ovulation(mask: np.ndarray, names) -> dict:
        return {
            name: _ovulation_figures(stat_rows[name][mask], cycle_users[mask], n_users, counts)
            for name in names
        }

    everything = np.ones(len(scored), bool)
    candidates = ovulation(everything, list(ESTIMATORS))
    result["ovulation"] = {
        "estimator": ESTIMATOR,
        "cycles": len(scored),
        "ovulatory_cycles": sum(t is not None for t in truths),
        "anovulatory_cycles": sum(t is None for t in truths),
        "open_cycles_not_scored": open_cycles,
        "no_estimate_by_reason": _reasons(estimates[ESTIMATOR]),
        "model": candidates[ESTIMATOR],
        "calendar": ovulation(everything, ["calendar"])["calendar"],
        "candidates": candidates,
        "by_regularity": {
            r: {
                "cycles": int((cycle_regularity == r).sum()),
                **_rename(ovulation(cycle_regularity == r, [ESTIMATOR, "calendar"])),
            }
            for r in REGULARITIES
            if (cycle_regularity == r).any()
        },
    }
    return result


def _rename(figures: dict) -> dict:
    """``{ESTIMATOR: ..., calendar: ...}`` as ``{model: ..., calendar: ...}``."""
    from components.ovulation import ESTIMATOR

    return {"model": figures[ESTIMATOR], "calendar": figures["calendar"]}


def _reasons(estimates: list) -> dict[str, int]:
    """How many cycles got no estimate, by reason."""
    out: dict[str, int] = {}
    for e in estimates:
        if e.day is None:
            out[e.reason] = out.get(e.reason, 0) + 1
    return dict(sorted(out.items()))


def evaluate_cohort(
    model_dir: str,
    users: int,
    seed: int,
    trained_on: set[int],
    work: Path,
    beam_args: list[str],
    cycles: int,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> dict:
    """Generate, featurise and score a cohort of ``users`` (``seed``) in ``work``; every figure."""
    import time

    from components.serving_layout import resolve_model_dir
    from pipeline.serving.evaluate import model_predictions
    from transforms.raw_format import CYCLES_FILE
    from transforms.tf_example import read_examples

    check_cohort_seed(seed, trained_on)
    model_dir = resolve_model_dir(model_dir)  # before minutes of generating: a model is there
    started = time.monotonic()
    build_cohort(work, users, seed, cycles, beam_args, progress)
    rows = read_examples(str(work / "features" / "examples" / f"Split-{COHORT_SPLIT}" / "*"))
    progress(f"scoring {len(rows)} nights with the model in {model_dir}")
    predictions = model_predictions(model_dir, rows) if rows else []
    progress("scoring the calendar rule and the ovulation days; 1000 user resamples")
    result = score_cohort(
        rows,
        np.array([p.probability for p in predictions]),
        np.array([p.fertile for p in predictions]),
        read_temperatures(work / "features" / "quarantine"),
        read_cycle_log(work / "data" / CYCLES_FILE),
        COHORT_SALT,
    )
    result = {"seed": seed, "model_dir": model_dir, **result}
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _cell(figures: dict, name: str, digits: int = 3) -> str:
    value = figures.get(name)
    if value is None:
        return "-"
    low, high = figures[f"{name}_ci"]
    if low is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def format_cohort(result: dict) -> str:
    """Render the cohort evaluation for a person: every figure with its 95% interval."""
    lines = [
        f"cohort: {result['users']} generated users (seed {result['seed']}), "
        f"{result['nights']} labelled nights; 95% intervals from 1000 resamples of users",
        f"{'per night':<30}{'sensitivity':>26}{'specificity':>26}{'AUC':>26}",
    ]

    def night_rows(block: dict, label: str) -> None:
        for name in ("model", "calendar"):
            m = block[name]
            lines.append(
                f"{label + ' ' + name:<30}{_cell(m, 'sensitivity'):>26}"
                f"{_cell(m, 'specificity'):>26}{_cell(m, 'auc'):>26}"
            )

    night_rows(result, "all")
    for regularity, block in result["by_regularity"].items():
        night_rows(block, f"{regularity} ({block['users']}u)")
    ov = result["ovulation"]
    lines += [
        "",
        f"ovulation day: {ov['cycles']} completed cycles ({ov['ovulatory_cycles']} ovulatory, "
        f"{ov['anovulatory_cycles']} anovulatory); model = {ov['estimator']}; no estimate: "
        + (", ".join(f"{k}={v}" for k, v in ov["no_estimate_by_reason"].items()) or "none"),
        f"{'':30}{'MAE days':>22}{'within 1 d':>22}{'within 2 d':>22}{'coverage':>22}"
        f"{'anovul. given one':>22}",
    ]

    def ovulation_rows(block: dict, label: str, names) -> None:
        for name in names:
            m = block[name]
            lines.append(
                f"{label + ' ' + name:<30}{_cell(m, 'mae_days', 2):>22}"
                f"{_cell(m, 'within_1d', 2):>22}{_cell(m, 'within_2d', 2):>22}"
                f"{_cell(m, 'coverage', 2):>22}{_cell(m, 'false_detection', 2):>22}"
            )

    ovulation_rows(ov, "all", ("model", "calendar"))
    for regularity, block in ov["by_regularity"].items():
        ovulation_rows(block, f"{regularity} ({block['cycles']}c)", ("model", "calendar"))
    ovulation_rows(ov["candidates"], "candidate", list(ov["candidates"]))
    lines.append(f"({result['seconds']:.0f} s in all)")
    return "\n".join(lines)
