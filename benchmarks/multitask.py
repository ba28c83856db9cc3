"""The multi-task experiment of the model comparison: days to ovulation beside the fertile flag.

Rows 10-12 of ``benchmarks.model_comparison`` (``--models 10,11,12``): the shipped network with a
second head trained on a target derived from the labels; MODEL.md, "What was tried", item 6.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from benchmarks.predictors import Context, Predictor, array_batches
from benchmarks.run_data import Split
from transforms import features as fc

OVULATION_CLIP_DAYS = 14  # the auxiliary target saturates this far from ovulation
OVULATION_SCALE_DAYS = 7.0


def days_to_ovulation(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Each night's days to its cycle's ovulation, clipped and scaled, and whether it is known.

    Derived from the labels alone (a training target, known in hindsight like the label): a
    cycle's fertile window is its ovulation day and the 5 days before (``features.
    fertile_window``), so the ovulation day is the last fertile night's cycle day when the whole
    window or the night after it was recorded, or the first fertile night's + 5 when the night
    before it was. Cycles without a fertile night, or whose window's ends are both missing, have
    no target.
    """
    starts = [dt.date.fromisoformat(n) - dt.timedelta(days=int(d) - 1)
              for n, d in zip(split.night.tolist(), split.cycle_day.tolist(), strict=True)]
    cycles: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(split.user.tolist(), starts, strict=True)):
        cycles.setdefault(key, []).append(i)
    target = np.zeros(len(split), np.float32)
    known = np.zeros(len(split), bool)
    for nights in cycles.values():
        days = {int(split.cycle_day[i]): int(split.label[i]) for i in nights}
        fertile = [d for d, y in days.items() if y]
        if not fertile:
            continue
        first, last = min(fertile), max(fertile)
        if last - first == fc.FERTILE_DAYS_BEFORE_OVULATION or days.get(last + 1) == 0:
            ovulation = last
        elif days.get(first - 1) == 0:
            ovulation = first + fc.FERTILE_DAYS_BEFORE_OVULATION
        else:
            continue
        for i in nights:
            to_go = np.clip(ovulation - int(split.cycle_day[i]), -OVULATION_CLIP_DAYS,
                            OVULATION_CLIP_DAYS)
            target[i] = to_go / OVULATION_SCALE_DAYS
            known[i] = True
    return target, known


def multitask_candidate(aux_weight: float) -> Predictor:
    """The shipped network with a second head, days to ovulation (Huber loss, ``aux_weight``).

    Trained from in-memory arrays (the target is not in Transform's files), so its order of
    batches differs from the shipped row's; weight 0 is the control: the same network, order and
    initial weights, the second head idle.
    """

    def predict(ctx: Context, train: Split, scored: Split) -> np.ndarray:
        from components.trainer import model as trainer

        keras = trainer.keras
        hparams = trainer.resolve_hparams({})
        target, known = days_to_ovulation(train)
        with trainer.deterministic(ctx.seed):
            base = trainer.build_model(trainer.model_input_names(ctx.tf_transform_output),
                                       hparams)
            days = keras.layers.Dense(1, name="days_to_ovulation")(base.layers[-2].output)
            model = keras.Model(base.input, [base.output, days])
            model.compile(optimizer=keras.optimizers.Adam(hparams["learning_rate"]),
                          loss=[keras.losses.BinaryCrossentropy(), keras.losses.Huber()],
                          loss_weights=[1.0, aux_weight])
            targets = (train.label.astype(np.float32)[:, None], target[:, None])
            weights = (np.ones(len(train), np.float32), known.astype(np.float32))
            data = array_batches(train.features, targets, weights, ctx.seed,
                                 hparams["batch_size"])
            model.fit(data, steps_per_epoch=ctx.train_steps, verbose=0)
        inputs = {k: v for k, v in scored.features.items() if k in base.input_names}
        return model.predict(inputs, batch_size=4096, verbose=0)[0][:, 0]

    return predict
