"""Bootstrap intervals by user: exact point figures, deterministic, narrowing with more users."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components import ovulation as ov
from pipeline.serving import bootstrap as bs


def nights(n_users: int, per_user: int = 40, seed: int = 0):
    """Users' nights: a user effect and night noise on a score; ties from rounding."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    labels = rng.random(users.size) < 0.2
    user_effect = rng.normal(0, 0.1, n_users)[users]
    scores = np.round(0.3 * labels + user_effect + rng.random(users.size) * 0.5, 2)
    return users, labels, scores


def binary_interval(users, labels, predicted, figure, resamples=500, seed=1):
    index, n = bs.user_index(users)
    per_user = bs.per_user_sums(bs.binary_stat_rows(labels, predicted), index, n)
    return bs.sums_interval(per_user, figure, bs.user_resamples(n, resamples, seed))


def test_resample_counts_draw_every_user_slot_and_repeat_for_a_seed():
    counts = bs.user_resamples(30, 200, seed=5)
    assert counts.shape == (200, 30)
    assert (counts.sum(axis=1) == 30).all()
    assert (counts >= 0).all() and (counts == 0).any()  # with replacement: some left out
    assert np.array_equal(counts, bs.user_resamples(30, 200, seed=5))
    assert not np.array_equal(counts, bs.user_resamples(30, 200, seed=6))


def test_user_index_maps_any_keys_in_sorted_order():
    index, n = bs.user_index(np.array([b"b", b"a", b"b", b"c"]))
    assert n == 3 and index.tolist() == [1, 0, 1, 2]


def test_point_figures_are_the_figures_on_every_record():
    users, labels, scores = nights(50)
    predicted = scores > 0.5
    sens = binary_interval(users, labels, predicted, bs.sensitivity)
    spec = binary_interval(users, labels, predicted, bs.specificity)
    assert sens.point == pytest.approx((labels & predicted).sum() / labels.sum())
    assert spec.point == pytest.approx((~labels & ~predicted).sum() / (~labels).sum())
    auc = bs.auc_interval(labels, scores, users, 50, bs.user_resamples(50, 300, 1))
    assert auc.point == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    for interval in (sens, spec, auc):
        assert interval.low <= interval.point <= interval.high


def test_the_weighted_auc_equals_the_auc_of_the_resampled_nights():
    """A resample's AUC is the AUC of the nights of the users it drew, repeats included."""
    users, labels, scores = nights(12, per_user=15, seed=4)
    counts = bs.user_resamples(12, 3, seed=9)
    m = bs.auc_pair_matrix(labels, scores, users, 12)
    pos = np.bincount(users[labels], minlength=12)
    neg = np.bincount(users[~labels], minlength=12)
    for c in counts:
        drawn = np.repeat(np.arange(12), c)
        rows = np.concatenate([np.flatnonzero(users == u) for u in drawn])
        expected = roc_auc_score(labels[rows], scores[rows])
        assert (c @ m @ c) / ((c @ pos) * (c @ neg)) == pytest.approx(expected, abs=1e-12)


def test_blocks_of_users_give_the_same_pair_matrix(monkeypatch):
    users, labels, scores = nights(20, seed=2)
    whole = bs.auc_pair_matrix(labels, scores, users, 20)
    monkeypatch.setattr(bs, "USER_BLOCK", 3)
    assert np.array_equal(bs.auc_pair_matrix(labels, scores, users, 20), whole)


def test_no_positive_night_gives_an_empty_pair_matrix_and_a_nan_auc():
    users = np.array([0, 0, 1])
    labels = np.zeros(3, bool)
    assert not bs.auc_pair_matrix(labels, np.array([0.1, 0.2, 0.3]), users, 2).any()
    auc = bs.auc_interval(labels, np.array([0.1, 0.2, 0.3]), users, 2, bs.user_resamples(2, 10))
    assert np.isnan(auc.point) and np.isnan(auc.low) and np.isnan(auc.high)


def test_the_interval_narrows_with_more_users():
    widths = []
    for n_users in (20, 320):
        users, labels, scores = nights(n_users, seed=7)
        interval = binary_interval(users, labels, scores > 0.5, bs.sensitivity)
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0] / 2  # 16 times the users: about a quarter of the width


def test_the_same_seed_gives_the_same_interval():
    users, labels, scores = nights(40)
    first = binary_interval(users, labels, scores > 0.5, bs.specificity, seed=3)
    assert binary_interval(users, labels, scores > 0.5, bs.specificity, seed=3) == first
    assert binary_interval(users, labels, scores > 0.5, bs.specificity, seed=4) != first


def test_resamples_where_a_figure_is_undefined_are_left_out():
    interval = bs.percentile_interval(0.5, np.array([np.nan, 0.4, 0.6, np.nan]))
    assert (interval.low, interval.high) == pytest.approx((0.405, 0.595))
    assert np.isnan(bs.percentile_interval(0.5, np.array([np.nan])).low)
    assert bs.Interval(0.5, 0.4, 0.6).to_pair() == [0.4, 0.6]


def test_ovulation_figures_resample_by_user():
    rng = np.random.default_rng(11)
    n_users, cycles = 60, 4
    users = np.repeat(np.arange(n_users), cycles)
    truths = [int(d) for d in rng.integers(12, 20, users.size)]
    estimates = [ov.OvulationEstimate(t + int(rng.integers(-2, 3))) for t in truths]
    per_user = bs.per_user_sums(ov.ovulation_stat_rows(truths, estimates), users, n_users)
    counts = bs.user_resamples(n_users, 400, seed=2)
    mae = bs.sums_interval(per_user, lambda t: ov.ovulation_metrics(t)["mae_days"], counts)
    errors = np.abs(np.array([e.day for e in estimates]) - np.array(truths))
    assert mae.point == pytest.approx(errors.mean())
    assert mae.low < mae.point < mae.high


def test_bad_resample_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one user"):
        bs.user_resamples(0)
    with pytest.raises(ValueError, match="labels but"):
        bs.binary_stat_rows(np.zeros(3), np.zeros(2))
