"""The tf.Transform preprocessing: every derived feature and all normalisation, in one graph.

Transform runs ``preprocessing_fn`` over the whole training data (full-pass statistics for the
z-scores) and exports the graph; the Trainer attaches that graph to the served model, so serving
computes exactly these features from the raw nightly features the app sends.

Derived features:
- per-user baselines: tonight's value minus the mean of the user's valid nights among the previous
  ``HISTORY_NIGHTS``, and the recent trend (mean of the last ``RECENT_NIGHTS`` valid nights minus
  that baseline), for every nightly statistic;
- missing-night handling: masked means over valid nights only, a history-coverage feature, and a
  zero delta (the population mean after scaling) when a user has no valid history yet;
- cycle timing: the calendar estimate of the ovulation day from the user's previous cycle lengths
  (the population mean cycle length when she has none), the days to it, and the cycle's variability;
- the nightly history as a sequence (``sequence_features``): the previous ``HISTORY_NIGHTS`` nights
  and tonight, oldest first, each statistic relative to the user's own baseline (the mean of her
  valid previous nights) and zero where the night is missing or invalid, with the validity mask and
  each night's place in the cycle. The Trainer's recurrent layer reads these.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from transforms import features as fc

RECENT_NIGHTS = 3
# Nights of the current cycle's start (menses and early follicular phase) form a per-cycle
# baseline: the fertile-window heart-rate rise and the post-ovulation temperature rise are both
# measured against it (docs/DOMAIN.md: "+2.1 bpm over menses", "luteal +0.30 to +0.45 C").
CYCLE_START_DAYS = 6


def _dense(t: tf.Tensor) -> tf.Tensor:
    """A [batch, 1] feature as a float [batch] vector."""
    return tf.cast(tf.squeeze(t, axis=1), tf.float32)


def _masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean of ``values`` over positions where ``mask`` is 1, and the count (0 -> mean 0)."""
    count = tf.reduce_sum(mask, axis=1)
    return tf.math.divide_no_nan(tf.reduce_sum(values * mask, axis=1), count), count


def personal_baseline_features(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Tonight relative to the user's own recent nights, for every nightly statistic."""
    mask = tf.cast(inputs[fc.HISTORY_MASK], tf.float32)
    recent_mask = tf.concat(
        [tf.zeros_like(mask[:, :-RECENT_NIGHTS]), mask[:, -RECENT_NIGHTS:]], axis=1
    )
    out: dict[str, tf.Tensor] = {}
    _, count = _masked_mean(mask, mask)
    has_history = tf.cast(count > 0, tf.float32)
    has_recent = tf.cast(tf.reduce_sum(recent_mask, axis=1) > 0, tf.float32)
    for name in fc.NIGHTLY_FEATURES:
        tonight = _dense(inputs[name])
        hist = tf.cast(inputs[fc.history_key(name)], tf.float32)
        baseline, _ = _masked_mean(hist, mask)
        recent, _ = _masked_mean(hist, recent_mask)
        out[f"{name}_delta"] = (tonight - baseline) * has_history
        out[f"{name}_trend"] = (recent - baseline) * has_recent
    out["history_coverage"] = count / float(fc.HISTORY_NIGHTS)
    return out


def cycle_features(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Cycle timing from the cycle day and the previous cycle lengths (the calendar's inputs)."""
    cycle_day = _dense(inputs[fc.CYCLE_DAY])
    count = _dense(inputs[fc.PREV_CYCLE_COUNT])
    lengths = tf.cast(inputs[fc.PREV_CYCLE_LENGTHS], tf.float32)
    positions = tf.range(fc.PREV_CYCLES, dtype=tf.float32)[tf.newaxis, :]
    valid = tf.cast(positions < count[:, tf.newaxis], tf.float32)
    mean_len = fc.mean_cycle_length(tf.reduce_sum(lengths * valid, axis=1), count, tf.where)
    var = tf.math.divide_no_nan(
        tf.reduce_sum(tf.square(lengths - mean_len[:, tf.newaxis]) * valid, axis=1), count
    )
    # The model sees the unrounded estimate's distance (finer than whole days); the calendar rule's
    # own call is ``calendar_window``, the same rule the CalendarBaseline scores.
    days_to_ovulation = mean_len - fc.CALENDAR_LUTEAL_DAYS - cycle_day
    return {
        "cycle_day": cycle_day,
        "cycle_fraction": cycle_day / mean_len,
        "expected_cycle_length": mean_len,
        "days_to_expected_ovulation": days_to_ovulation,
        "calendar_window": tf.cast(fc.calendar_fertile(cycle_day, mean_len), tf.float32),
        "prev_cycle_sd": tf.sqrt(var),
        "prev_cycle_count": count,
    }


def cycle_baseline_features(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Tonight and the last nights relative to the start of the current cycle."""
    mask = tf.cast(inputs[fc.HISTORY_MASK], tf.float32)
    cycle_day = _dense(inputs[fc.CYCLE_DAY])
    # history position p holds the night (HISTORY_NIGHTS - p) days back
    days_back = tf.range(fc.HISTORY_NIGHTS, 0, -1, dtype=tf.float32)[tf.newaxis, :]
    night_cycle_day = cycle_day[:, tf.newaxis] - days_back
    start_mask = mask * tf.cast(
        (night_cycle_day >= 1.0) & (night_cycle_day <= CYCLE_START_DAYS), tf.float32
    )
    recent_mask = mask * tf.cast(
        (night_cycle_day >= 1.0) & (days_back <= RECENT_NIGHTS), tf.float32
    )
    _, start_count = _masked_mean(mask, start_mask)
    has_start = tf.cast(start_count > 0, tf.float32)
    has_recent = tf.cast(tf.reduce_sum(recent_mask, axis=1) > 0, tf.float32) * has_start
    out: dict[str, tf.Tensor] = {"cycle_start_nights": start_count}
    for name in fc.NIGHTLY_FEATURES:
        hist = tf.cast(inputs[fc.history_key(name)], tf.float32)
        start, _ = _masked_mean(hist, start_mask)
        recent, _ = _masked_mean(hist, recent_mask)
        out[f"{name}_vs_cycle_start"] = (_dense(inputs[name]) - start) * has_start
        out[f"{name}_recent_vs_cycle_start"] = (recent - start) * has_recent
    return out


SEQUENCE_PREFIX = "seq_"
SEQUENCE_LENGTH = fc.HISTORY_NIGHTS + 1  # the previous nights, oldest first, then tonight
SEQUENCE_VALID = f"{SEQUENCE_PREFIX}valid"  # 1 where the night is recorded and valid, else 0
# per-night statistics relative to the user's baseline, 0 on invalid nights
SEQUENCE_VALUES: tuple[str, ...] = tuple(f"{SEQUENCE_PREFIX}{n}" for n in fc.NIGHTLY_FEATURES)
# where each night lies: its cycle day (0 and below: the previous cycle), whether it is in the
# current cycle, and its distance to the calendar's ovulation estimate, all known on the night
SEQUENCE_TIMING: tuple[str, ...] = (
    f"{SEQUENCE_PREFIX}night_cycle_day",
    f"{SEQUENCE_PREFIX}in_current_cycle",
    f"{SEQUENCE_PREFIX}days_to_expected_ovulation",
)
SEQUENCE_FEATURES: tuple[str, ...] = SEQUENCE_VALUES + (SEQUENCE_VALID,) + SEQUENCE_TIMING
# fixed scales for the timing channels (days), so they need no analyzer
DAY_SCALE = 10.0


def sequence_features(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The history and tonight as [batch, SEQUENCE_LENGTH] sequences, before scaling.

    Each statistic is taken relative to the user's own baseline (the mean of her valid previous
    nights; 0 when she has none) and set to 0 on invalid nights, so whatever an invalid night's
    slot holds never reaches the model.
    """
    mask = tf.cast(inputs[fc.HISTORY_MASK], tf.float32)
    valid = tf.concat([mask, tf.ones_like(mask[:, :1])], axis=1)
    _, count = _masked_mean(mask, mask)
    has_history = tf.cast(count > 0, tf.float32)[:, tf.newaxis]
    out: dict[str, tf.Tensor] = {SEQUENCE_VALID: valid}
    for name in fc.NIGHTLY_FEATURES:
        hist = tf.cast(inputs[fc.history_key(name)], tf.float32)
        baseline, _ = _masked_mean(hist, mask)
        nights = tf.concat([hist, _dense(inputs[name])[:, tf.newaxis]], axis=1)
        # where(), not a product: an invalid slot's NaN or any other value must not leak
        relative = tf.where(valid > 0, nights - baseline[:, tf.newaxis], 0.0)
        out[f"{SEQUENCE_PREFIX}{name}"] = relative * has_history
    cycle_day = _dense(inputs[fc.CYCLE_DAY])
    days_back = tf.range(fc.HISTORY_NIGHTS, -1, -1, dtype=tf.float32)[tf.newaxis, :]
    night_cycle_day = cycle_day[:, tf.newaxis] - days_back
    expected_ovulation = cycle_features(inputs)["expected_cycle_length"] - fc.CALENDAR_LUTEAL_DAYS
    out[f"{SEQUENCE_PREFIX}night_cycle_day"] = night_cycle_day
    out[f"{SEQUENCE_PREFIX}in_current_cycle"] = tf.cast(night_cycle_day >= 1.0, tf.float32)
    out[f"{SEQUENCE_PREFIX}days_to_expected_ovulation"] = (
        expected_ovulation[:, tf.newaxis] - night_cycle_day
    )
    return out


def scale_sequences(sequences: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Scale the sequences: statistics by their spread over valid nights (full pass), days by 10.

    A statistic's relative values are centred on the user's baseline already; they are divided by
    their root mean square over the valid nights of the training data (``tft.mean`` of squares over
    all slots divided by the valid fraction), and stay 0 on invalid nights.
    """
    valid = sequences[SEQUENCE_VALID]
    valid_fraction = tft.mean(valid)
    out = {SEQUENCE_VALID: valid}
    for name in SEQUENCE_VALUES:
        value = sequences[name]
        spread = tf.sqrt(tf.math.divide_no_nan(tft.mean(tf.square(value)), valid_fraction))
        out[name] = tf.math.divide_no_nan(value, spread)
    out[f"{SEQUENCE_PREFIX}in_current_cycle"] = sequences[f"{SEQUENCE_PREFIX}in_current_cycle"]
    for name in SEQUENCE_TIMING:
        if name == f"{SEQUENCE_PREFIX}in_current_cycle":
            continue
        out[name] = sequences[name] / DAY_SCALE
    return out


def engineered_features(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Every derived model input before scaling, as float [batch] vectors."""
    out = {name: _dense(inputs[name]) for name in fc.NIGHTLY_FEATURES}
    out.update(personal_baseline_features(inputs))
    out.update(cycle_features(inputs))
    out.update(cycle_baseline_features(inputs))
    return out


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """tf.Transform entry point: z-score the engineered features, scale the sequences.

    The sequences are ``SEQUENCE_FEATURES``, each [batch, SEQUENCE_LENGTH]; the label goes through.
    """
    outputs = {
        name: tft.scale_to_z_score(value) for name, value in engineered_features(inputs).items()
    }
    outputs.update(scale_sequences(sequence_features(inputs)))
    if fc.LABEL_KEY in inputs:
        outputs[fc.LABEL_KEY] = tf.cast(_dense(inputs[fc.LABEL_KEY]), tf.int64)
    return outputs
