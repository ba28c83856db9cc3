"""How far the nights can carry a model: perfect extraction of every night, and many more users.

    .venv/bin/python -m benchmarks.ceiling --workdir DIR
    .venv/bin/python -m benchmarks.ceiling --workdir DIR --users 2400 --sizes 63,160,320,640,1280

The generator draws each user-night's latent physiology (``synthetic.physiology``: the cycle
phase's effect plus the nightly biological noise of the domain table) and then the 10-second rows
around it, with sensor noise, motion, missing and faulty nights (``synthetic.generate``). A perfect
feature extractor would recover the latent value of every night. This benchmark hands the feature
job's own example builder (``user_history.build_user_examples``: the same history, cycle-timing
and label code) those latent values for every night of every simulated user, transforms them with
a run's transform graph, and trains the candidates of ``benchmarks.model_comparison`` on them (the
shipped network through the Trainer's code, the gradient-boosted trees), so it measures what the
features and models could reach if the nights were read perfectly and if there were more users:

- users are simulated from the default data's seed, so users 0-79 are the default data's 80 users
  (the same cycles and latent nights) and the first 63 train-split users are its train split;
- every model is trained on the first N train-split users (N from ``--sizes``; 63 is the default
  data's train split) and scored on every test-split user past the first 80 (hundreds of users, so
  one user's luck does not move the figures), beside the calendar rule on the same nights.

Where the curve flattens is the best these features and models reach on this physiology; the gap
between its 63-user row and the shipped model's own test figures is what reading the nights from
raw rows loses (sensor noise, motion, missing and invalid nights); the climb after 63 is what more
users would buy. Deterministic: the same arguments print the same table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import model_comparison as mc

DEFAULT_USERS = 2400
DEFAULT_SIZES = (63, 160, 320, 640, 1280)
# Night quality as a typical full night reads it; the model does not read quality features.
TYPICAL_QUALITY = {"worn_hours": 8.0, "sleep_hours": 7.5, "low_motion_sleep_hours": 6.5}
# Which latent signal stands for each nightly statistic. The 10th percentile of the heart rate
# differs from its median by a per-night amount the latent does not draw, so a perfect
# extraction of it is taken as the median itself (everything the model reads is relative to the
# user's own baseline, so a constant offset would change nothing).
LATENT_OF_STATISTIC = {
    "skin_temp": "skin_temp_c",
    "heart_rate": "heart_rate",
    "heart_rate_p10": "heart_rate",
    "hrv_rmssd": "hrv_rmssd",
    "breathing_rate": "breathing_rate",
    "perfusion": "perfusion",
}


def perfect_user_examples(
    seed: int, user_index: int, n_cycles: int, start_date: dt.date
) -> tuple[str, list[dict[str, list]]]:
    """One simulated user's labelled examples, every night read as its latent value.

    Returns the user id and the examples ``build_user_examples`` makes from her nights and her
    (complete) cycle log, exactly as the feature job would if every night were recorded and
    extracted without error.
    """
    from components.nightly_features.records import CycleRow, NightOutcome
    from components.nightly_features.user_history import build_user_examples
    from synthetic.generate import simulate_user, user_id

    uid = user_id(user_index)
    cycles, latents = simulate_user(seed, user_index, n_cycles, start_date)
    nights = []
    for k, date in enumerate(latents.dates):
        latent = latents.night(k)
        nights.append(NightOutcome(
            rel_path=f"latent/{uid}/{date.isoformat()}", user_id=uid,
            night_date=date.isoformat(), valid=True, quality=dict(TYPICAL_QUALITY),
            features={name: float(latent[source])
                      for name, source in LATENT_OF_STATISTIC.items()}))
    rows = [CycleRow(uid, c.cycle_index, c.start_date, c.length_days, c.ovulation_day,
                     c.menses_days) for c in cycles]
    return uid, build_user_examples(uid, nights, rows, user_key=uid).examples


def simulate_population(users: int, seed: int, n_cycles: int) -> dict[str, list[bytes]]:
    """Serialized perfect-extraction examples of users 0..users-1, by user id (index order)."""
    from synthetic.generate import DEFAULT_START_DATE
    from transforms.tf_example import to_serialized_example

    out: dict[str, list[bytes]] = {}
    for user_index in range(users):
        uid, examples = perfect_user_examples(seed, user_index, n_cycles, DEFAULT_START_DATE)
        out[uid] = [to_serialized_example(e) for e in examples]
        if (user_index + 1) % 200 == 0 or user_index + 1 == users:
            print(f"  simulated {user_index + 1}/{users} users", file=sys.stderr, flush=True)
    return out


def split_users(user_ids: list[str]) -> dict[str, list[str]]:
    """The users of each split, in index order, as the feature job assigns them."""
    from components.nightly_features.beam_job import DEFAULT_SPLITS
    from components.nightly_features.user_history import split_for_user

    out: dict[str, list[str]] = {name: [] for name in DEFAULT_SPLITS}
    for uid in user_ids:
        out[split_for_user(uid, DEFAULT_SPLITS)].append(uid)
    return out


def learning_curve(
    ctx: mc.Context,
    population: dict[str, list[bytes]],
    sizes: tuple[int, ...],
    models: dict[str, mc.Predictor],
) -> str:
    """Train each model on the first N train-split users for every N; score the held-out users."""
    splits = split_users(list(population))
    scored_users = [u for u in splits["test"] if u not in _default_users()]
    scored = mc.transform_examples(
        [r for u in scored_users for r in population[u]], ctx.tf_transform_output)
    calendar = mc.metrics(scored.label, None, scored.calendar)
    lines = [
        f"scored: {len(scored)} nights of {len(scored_users)} test-split users "
        f"({int(scored.label.sum())} fertile); calendar rule sensitivity "
        f"{mc.fmt(calendar['sensitivity'])}, specificity {mc.fmt(calendar['specificity'])}",
        "",
        "| training users (nights) | model | AUC | sensitivity | specificity | "
        "sens. - calendar | spec. - calendar |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        users = splits["train"][:n]
        if len(users) < n:
            raise ValueError(f"only {len(users)} train-split users simulated; raise --users")
        train = mc.transform_examples([r for u in users for r in population[u]],
                                      ctx.tf_transform_output)
        for name, predictor in models.items():
            started = time.perf_counter()
            p = predictor(ctx, train, scored)
            m = mc.metrics(scored.label, p, (p >= mc.THRESHOLD).astype(np.int64))
            lines.append(
                f"| {n} ({len(train)}) | {name} | {mc.fmt(m['auc'])} | "
                f"{mc.fmt(m['sensitivity'])} | {mc.fmt(m['specificity'])} | "
                f"{m['sensitivity'] - calendar['sensitivity']:+.3f} | "
                f"{m['specificity'] - calendar['specificity']:+.3f} |")
            print(f"  {n} users, {name}: {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    return "\n".join(lines)


def _default_users() -> set[str]:
    from pipeline.config import DefaultData
    from synthetic.generate import user_id

    return {user_id(i) for i in range(DefaultData().users)}


def main(argv: list[str] | None = None) -> int:
    """Simulate, transform, train and score; print the learning curve as a markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling",
                                     description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--workdir", help="a `cyclecast run` work directory (its transform graph)")
    where.add_argument("--pipeline-root", help="a pipeline root (default: WORKDIR/pipeline_root)")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS,
                        help=f"users to simulate (default {DEFAULT_USERS})")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="training-set sizes in train-split users")
    parser.add_argument("--models", default="1,9",
                        help="rows of model_comparison's candidates (default: shipped, GBT + "
                             "sequences)")
    parser.add_argument("--seed", type=int, default=mc.SEED, help="the models' seed")
    args = parser.parse_args(argv)

    import tensorflow_transform as tft

    from pipeline.config import DefaultData

    data = DefaultData()
    root = Path(args.pipeline_root or Path(args.workdir) / "pipeline_root")
    run = mc.find_run(root)
    ctx = mc.Context(run, tft.TFTransformOutput(str(run.transform_graph)), mc.TRAIN_STEPS,
                     args.seed, from_files=False)
    chosen = list(mc.candidates().items())
    models = dict(chosen[int(i) - 1] for i in args.models.split(","))
    sizes = tuple(int(n) for n in args.sizes.split(","))
    print(f"transform graph: {run.transform_graph}")
    print(f"{args.users} users x {data.cycles} cycles simulated with the default data's seed "
          f"{data.seed}, every night read as its latent value; {mc.TRAIN_STEPS} steps, "
          f"seed {args.seed}, threshold {mc.THRESHOLD}\n")
    population = simulate_population(args.users, data.seed, data.cycles)
    print(learning_curve(ctx, population, sizes, models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
