"""Model comparison on one pipeline run's Transform output: what the shipped network earns.

    .venv/bin/python -m benchmarks.model_comparison --workdir DIR            # eval split
    .venv/bin/python -m benchmarks.model_comparison --workdir DIR --cv       # + train-split CV
    .venv/bin/python -m benchmarks.model_comparison --workdir DIR --split test --slices
    .venv/bin/python -m benchmarks.model_comparison --workdir DIR --train-users 16 --models 1,9

Every candidate is trained on the run's train split and scored on one split (eval by default; the
test split only for final figures): AUC, and sensitivity and specificity at the decision threshold
0.5, beside the calendar rule on the same nights. The Keras candidates go through the Trainer's own
code (``components.trainer.model.train_model``: the same files, batches, seed and steps as the
pipeline's Trainer), so the shipped model's row is the pipeline's model. Scoring applies the run's
transform graph to the split's raw examples (NightlyFeatureGen's output), which keeps each night's
raw features beside its prediction: the calendar rule, ``cycle_regularity`` and the cycle day for
the per-slice table (``--slices``).

``--train-users N`` trains on the first N training users only (their pseudonymous keys in sorted
order, so a random subset), scored on the same nights: a learning curve within one run.

``--cv`` adds a 4-fold cross-validation on the train split, folds by user (no user in two folds),
pooled over the folds: 56 users' worth of evidence where the eval split has 12. Model selection
uses the eval split and this; it never reads the test split.

Deterministic: seeded training with TensorFlow op determinism and a fixed-seed gradient-boosting
baseline, so the same command prints the same table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.multitask import multitask_candidate
from benchmarks.predictors import Context, Predictor, gbt_candidate, keras_candidate
from benchmarks.run_data import Split, add_run_arguments, load_split, run_of

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 42
TRAIN_STEPS = 1500  # pipeline.config.TrainingConfig.train_steps' default
THRESHOLD = 0.5
CV_FOLDS = 4
# cycle-day bands for the per-slice table (the fertile window falls mostly in days 8-21)
DAY_BANDS = ((1, 7), (8, 11), (12, 15), (16, 21), (22, 99))


# ---- metrics --------------------------------------------------------------------------------


def metrics(label: np.ndarray, probability: np.ndarray | None, decision: np.ndarray) -> dict:
    """AUC (when scores are given), sensitivity, specificity at the 0/1 decision, and counts."""
    from components.calendar_rule import binary_metrics
    from pipeline.serving.evaluate import auc

    out = binary_metrics(label, decision)
    out["auc"] = auc(label, probability) if probability is not None else float("nan")
    out["positives"] = int(label.sum())
    return out


# ---- candidates -----------------------------------------------------------------------------

COMPARISON_ROWS = 9  # candidates() rows run by default; the rows after them are experiments


def candidates() -> dict[str, Predictor]:
    """Name -> predictor, in table order. The first Keras row is the shipped default."""
    from components.trainer.model import PREVIOUS_HPARAMS

    return {
        "shipped: GRU(8) over 29 nights + MLP 32-16, dropout 0.3, lr 1e-3": keras_candidate({}),
        "previous network: MLP 32-16, lr 3e-3 (before issue 14)": keras_candidate(
            PREVIOUS_HPARAMS),
        "MLP 32-16, dropout 0.3, lr 1e-3 (no sequence)": keras_candidate(
            {"sequence_units": 0}),
        "GRU(16) + MLP 32-16, dropout 0.3, lr 1e-3": keras_candidate({"sequence_units": 16}),
        "GRU(8) + MLP, positive weight 1.5": keras_candidate({"positive_weight": 1.5}),
        "GRU(8) + MLP, positive weight 1.25": keras_candidate({"positive_weight": 1.25}),
        "3 x GRU(8) + MLP averaged": keras_candidate({"ensemble_size": 3}),
        "GBT baseline (scalar features)": gbt_candidate(with_sequences=False),
        "GBT (scalar features + sequences)": gbt_candidate(with_sequences=True),
        "multi-task control: shipped network from arrays, days-to-ovulation head at weight 0":
            multitask_candidate(0.0),
        "multi-task: + days-to-ovulation head, weight 0.5": multitask_candidate(0.5),
        "multi-task: + days-to-ovulation head, weight 1": multitask_candidate(1.0),
    }


# ---- tables ---------------------------------------------------------------------------------


def fmt(value: float) -> str:
    """Three decimals; NaN (no such nights) as a dash."""
    return "-" if value != value else f"{value:.3f}"  # NaN -> "-"


def metrics_table(rows: dict[str, dict], title: str) -> str:
    """The rows as a markdown table."""
    lines = [f"| {title} | AUC | sensitivity | specificity | precision | accuracy |",
             "|---|---|---|---|---|---|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {fmt(m['auc'])} | {fmt(m['sensitivity'])} | "
                     f"{fmt(m['specificity'])} | {fmt(m['precision'])} | {fmt(m['accuracy'])} |")
    return "\n".join(lines)


def slice_table(scored: Split, probability: np.ndarray, model_name: str) -> str:
    """Sensitivity and specificity of a model and of the calendar rule per slice."""
    decision = (probability >= THRESHOLD).astype(np.int64)
    slices: list[tuple[str, np.ndarray]] = [("all nights", np.ones(len(scored), bool))]
    for value in ("regular", "irregular", "unknown"):
        slices.append((f"cycle_regularity={value}", scored.regularity == value))
    for low, high in DAY_BANDS:
        label = f"cycle day {low}-{high}" if high < 99 else f"cycle day {low}+"
        slices.append((label, (scored.cycle_day >= low) & (scored.cycle_day <= high)))
    lines = [f"model: {model_name}", "",
             "| slice | nights | fertile | model sens. | calendar sens. | model spec. "
             "| calendar spec. | model AUC |",
             "|---|---|---|---|---|---|---|---|"]
    for name, where in slices:
        if not where.any():
            lines.append(f"| {name} | 0 | 0 | - | - | - | - | - |")
            continue
        m = metrics(scored.label[where], probability[where], decision[where])
        c = metrics(scored.label[where], None, scored.calendar[where])
        lines.append(f"| {name} | {m['examples']} | {m['positives']} | {fmt(m['sensitivity'])} "
                     f"| {fmt(c['sensitivity'])} | {fmt(m['specificity'])} "
                     f"| {fmt(c['specificity'])} | {fmt(m['auc'])} |")
    return "\n".join(lines)


def user_folds(users: np.ndarray, folds: int) -> np.ndarray:
    """Fold of each night: users in sorted key order, dealt round-robin (no user in two folds)."""
    order = {u: i % folds for i, u in enumerate(sorted(set(users.tolist())))}
    return np.array([order[u] for u in users.tolist()])


def cross_validate(ctx: Context, train: Split, predictor: Predictor) -> np.ndarray:
    """Out-of-fold P(fertile) for every train-split night."""
    fold = user_folds(train.user, CV_FOLDS)
    out = np.zeros(len(train), np.float64)
    inner = Context(ctx.run, ctx.tf_transform_output, ctx.train_steps, ctx.seed, False)
    for k in range(CV_FOLDS):
        held = fold == k
        out[held] = predictor(inner, train.take(np.flatnonzero(~held)),
                              train.take(np.flatnonzero(held)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Train and score the candidates; print markdown tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_comparison",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    parser.add_argument("--split", default="eval", choices=("eval", "test"),
                        help="the split to score (test: final figures only)")
    parser.add_argument("--models", default=None,
                        help="comma-separated row numbers of the candidates to run (1-based); "
                             f"default the comparison, 1-{COMPARISON_ROWS}; rows 10-12 are the "
                             "multi-task experiment")
    parser.add_argument("--cv", action="store_true",
                        help="also a 4-fold user-grouped cross-validation on the train split")
    parser.add_argument("--slices", action="store_true",
                        help="per cycle_regularity and cycle-day band, the first model vs the "
                             "calendar (with --cv, also on the train split's CV)")
    parser.add_argument("--train-users", type=int, default=None,
                        help="train on the first N train users only (by key; a learning curve "
                             "on the same scored nights); trains from memory, not the files")
    parser.add_argument("--train-steps", type=int, default=TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    import tensorflow_transform as tft

    run = run_of(args)
    tf_transform_output = tft.TFTransformOutput(str(run.transform_graph))
    train = load_split(run, tf_transform_output, "train")
    scored = load_split(run, tf_transform_output, args.split)
    if args.train_users:
        keep = set(sorted(set(train.user.tolist()))[: args.train_users])
        train = train.take(np.flatnonzero([u in keep for u in train.user.tolist()]))
    ctx = Context(run, tf_transform_output, args.train_steps, args.seed, not args.train_users)
    chosen = list(candidates().items())[:COMPARISON_ROWS]
    if args.models:
        chosen = list(candidates().items())
        chosen = [chosen[int(i) - 1] for i in args.models.split(",")]

    print(f"Transform output: {run.transformed_examples}")
    print(f"train {len(train)} nights ({len(set(train.user.tolist()))} users), {args.split} "
          f"{len(scored)} nights ({len(set(scored.user.tolist()))} users); "
          f"{args.train_steps} steps, seed {args.seed}, threshold {THRESHOLD}\n")
    rows = {"calendar rule": metrics(scored.label, None, scored.calendar)}
    cv_rows = {"calendar rule": metrics(train.label, None, train.calendar)}
    probabilities, cv_probabilities = {}, {}
    for name, predictor in chosen:
        started = time.perf_counter()
        p = predictor(ctx, train, scored)
        probabilities[name] = p
        rows[name] = metrics(scored.label, p, (p >= THRESHOLD).astype(np.int64))
        if args.cv:
            q = cross_validate(ctx, train, predictor)
            cv_probabilities[name] = q
            cv_rows[name] = metrics(train.label, q, (q >= THRESHOLD).astype(np.int64))
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(metrics_table(rows, f"{args.split} split, trained on train"))
    if args.cv:
        print()
        print(metrics_table(cv_rows, f"train split, {CV_FOLDS}-fold CV by user"))
    if args.slices:
        name = chosen[0][0]
        print()
        print(slice_table(scored, probabilities[name], name))
        if args.cv:
            print()
            print(slice_table(train, cv_probabilities[name],
                              f"{name}, train split, {CV_FOLDS}-fold CV by user"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
