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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 42
TRAIN_STEPS = 1500  # pipeline.config.TrainingConfig.train_steps' default
EVAL_STEPS = 50
THRESHOLD = 0.5
CV_FOLDS = 4
# cycle-day bands for the per-slice table (the fertile window falls mostly in days 8-21)
DAY_BANDS = ((1, 7), (8, 11), (12, 15), (16, 21), (22, 99))


@dataclass(frozen=True)
class RunArtifacts:
    """One run's Transform output and the raw examples it was made from."""

    transformed_examples: Path
    transform_graph: Path
    raw_examples: Path

    def transformed_split(self, split: str) -> list[str]:
        """Transform's files of a split, in name order."""
        return sorted(str(p) for p in (self.transformed_examples / f"Split-{split}").iterdir())

    def raw_split(self, split: str) -> list[str]:
        """The feature job's files of a split, in name order."""
        return sorted(str(p) for p in (self.raw_examples / f"Split-{split}").iterdir())


def latest_artifact(pipeline_root: Path, component: str, output: str) -> Path:
    """The newest artifact directory (highest execution id) of a component's output."""
    dirs = [p for p in (pipeline_root / component / output).iterdir() if p.name.isdigit()]
    if not dirs:
        raise FileNotFoundError(f"no {component}.{output} under {pipeline_root}")
    return max(dirs, key=lambda p: int(p.name))


def find_run(pipeline_root: Path) -> RunArtifacts:
    """The latest Transform output under a pipeline root, and the raw examples it transformed."""
    return RunArtifacts(
        transformed_examples=latest_artifact(pipeline_root, "Transform", "transformed_examples"),
        transform_graph=latest_artifact(pipeline_root, "Transform", "transform_graph"),
        raw_examples=latest_artifact(pipeline_root, "NightlyFeatureGen", "examples"),
    )


# ---- data -----------------------------------------------------------------------------------


@dataclass
class Split:
    """One split: transformed model inputs, label, and the raw features slices need."""

    features: dict[str, np.ndarray]  # transformed, scalars as [n, 1], sequences as [n, L]
    label: np.ndarray  # [n] 0/1
    calendar: np.ndarray  # [n] the calendar rule's 0/1 call
    regularity: np.ndarray  # [n] str
    cycle_day: np.ndarray  # [n] int
    user: np.ndarray  # [n] pseudonymous user key
    night: np.ndarray  # [n] ISO date of the night

    def __len__(self) -> int:
        return len(self.label)

    def take(self, index: np.ndarray) -> Split:
        """The nights at ``index``."""
        return Split({k: v[index] for k, v in self.features.items()}, self.label[index],
                     self.calendar[index], self.regularity[index], self.cycle_day[index],
                     self.user[index], self.night[index])


def load_split(run: RunArtifacts, tf_transform_output, split: str) -> Split:
    """A split's raw examples, transformed by the run's transform graph, in file order."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(run.raw_split(split), compression_type="GZIP")
    return transform_examples(list(records.as_numpy_iterator()), tf_transform_output)


def transform_examples(serialized: list[bytes], tf_transform_output) -> Split:
    """Serialized raw examples (the feature job's), transformed by a run's transform graph."""
    import tensorflow as tf

    from components.calendar_rule import calendar_predictions
    from transforms import features as fc

    raw_spec = tf_transform_output.raw_feature_spec()
    raw = tf.io.parse_example(tf.constant(serialized), raw_spec)
    transformed = tf_transform_output.transform_raw_features(
        {k: raw[k] for k in raw_spec}, drop_unused_features=True)
    features = {}
    for name, value in transformed.items():
        if name == fc.LABEL_KEY:
            continue
        value = value.numpy().astype(np.float32)
        features[name] = value.reshape(len(value), -1)
    raw = {k: v.numpy() for k, v in raw.items()}
    return Split(
        features=features,
        label=raw[fc.LABEL_KEY][:, 0].astype(np.int64),
        calendar=calendar_predictions(raw[fc.CYCLE_DAY][:, 0], raw[fc.PREV_CYCLE_LENGTHS],
                                      raw[fc.PREV_CYCLE_COUNT][:, 0]),
        regularity=np.array([v[0].decode() for v in raw[fc.CYCLE_REGULARITY]]),
        cycle_day=raw[fc.CYCLE_DAY][:, 0],
        user=np.array([v[0] for v in raw[fc.USER_KEY]]),
        night=np.array([v[0].decode() for v in raw[fc.NIGHT_DATE]]),
    )


def scalar_matrix(features: dict[str, np.ndarray], with_sequences: bool = False) -> np.ndarray:
    """The features as one matrix, in name order: the scalars, and optionally every sequence."""
    from transforms.preprocessing import SEQUENCE_PREFIX

    names = sorted(n for n in features if with_sequences or not n.startswith(SEQUENCE_PREFIX))
    return np.concatenate([features[n] for n in names], axis=1)


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

# A predictor trains on the train split (transformed files and in-memory arrays) and returns
# P(fertile) for the nights of the scored split.
Predictor = Callable[["Context", Split, Split], np.ndarray]


@dataclass
class Context:
    """What every predictor needs besides the data."""

    run: RunArtifacts
    tf_transform_output: object
    train_steps: int
    seed: int
    from_files: bool  # train from Transform's files, as the Trainer does (False inside CV folds)


def keras_candidate(overrides: dict) -> Predictor:
    """The Trainer's model with these hyperparameters (over ``DEFAULT_HPARAMS``)."""

    def predict(ctx: Context, train: Split, scored: Split) -> np.ndarray:
        from components.trainer import model as trainer

        hparams = trainer.resolve_hparams(overrides)
        if ctx.from_files:
            model = trainer.train_model(
                ctx.run.transformed_split("train"), ctx.run.transformed_split("eval"),
                ctx.tf_transform_output, hparams, ctx.seed, ctx.train_steps, EVAL_STEPS)
        else:
            model = train_on_arrays(train, ctx.tf_transform_output, hparams, ctx.seed,
                                    ctx.train_steps)
        inputs = {k: v for k, v in scored.features.items() if k in model.input_names}
        return model.predict(inputs, batch_size=4096, verbose=0)[:, 0]

    return predict


def array_batches(features: dict[str, np.ndarray], targets, weights, seed: int, batch_size: int):
    """In-memory arrays as endless shuffled batches, ordered by ``seed`` alone, as the Trainer's."""
    import tensorflow as tf

    from components.trainer import model as trainer

    return (tf.data.Dataset.from_tensor_slices((features, targets, weights))
            .shuffle(trainer.SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size))


def train_on_arrays(train: Split, tf_transform_output, hparams: dict, seed: int, steps: int):
    """``train_model``'s training on in-memory arrays (for CV folds): same model, seed, batches."""
    from components.trainer import model as trainer

    names = trainer.model_input_names(tf_transform_output)
    members = []
    for member in range(hparams["ensemble_size"]):
        member_seed = trainer.member_seed(seed, member)
        with trainer.deterministic(member_seed):
            label = train.label.astype(np.float32)[:, None]
            weight = 1.0 + (hparams["positive_weight"] - 1.0) * label
            data = array_batches(train.features, label, weight, member_seed,
                                 hparams["batch_size"])
            model = trainer.build_model(names, hparams)
            model.fit(data, steps_per_epoch=steps, verbose=0)
        members.append(model)
    return trainer.average(members)


def gbt_candidate(with_sequences: bool) -> Predictor:
    """scikit-learn's HistGradientBoostingClassifier as issue 14 ran it (300 rounds at 0.05)."""

    def predict(ctx: Context, train: Split, scored: Split) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                               random_state=ctx.seed)
        model.fit(scalar_matrix(train.features, with_sequences), train.label)
        return model.predict_proba(scalar_matrix(scored.features, with_sequences))[:, 1]

    return predict


COMPARISON_ROWS = 9  # candidates() rows run by default; the rows after them are experiments


def candidates() -> dict[str, Predictor]:
    """Name -> predictor, in table order. The first Keras row is the shipped default."""
    from benchmarks.multitask import multitask_candidate
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


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workdir`` or ``--pipeline-root``: where the run whose Transform output is read lives."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--workdir", help="a `cyclecast run` work directory")
    where.add_argument("--pipeline-root", help="a pipeline root (default: WORKDIR/pipeline_root)")


def run_of(args: argparse.Namespace) -> RunArtifacts:
    """The run ``add_run_arguments``' arguments name."""
    return find_run(Path(args.pipeline_root or Path(args.workdir) / "pipeline_root"))


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
