"""95% bootstrap intervals by user: resample whole users with replacement, recompute the figure.

Nights (and cycles) of one user are not independent, so the unit resampled is the user. Each
resample is a row of counts (how many times each user was drawn), drawn once for a seed and
shared by every figure, so the intervals of different figures come from the same resamples.
Every figure here is computed from per-user sums: a resample's totals are ``counts @
per_user``, one matrix product for all resamples. AUC, which is not a ratio of sums, is the
weighted Mann-Whitney statistic ``c' M c / (P N)`` with ``M[u, v]`` the (positive of ``u``,
negative of ``v``) pairs ranked correctly (ties half), also one product per resample.
Pure numpy: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95
# Users per block when building the AUC's pair matrix: bounds its memory to
# (distinct positive scores) x USER_BLOCK numbers.
USER_BLOCK = 256


@dataclass(frozen=True)
class Interval:
    """A figure on every record, and the percentile interval of its bootstrap resamples."""

    point: float
    low: float
    high: float

    def to_pair(self) -> list[float]:
        """``[low, high]``, as the JSON reports carry it beside the figure."""
        return [self.low, self.high]


def user_index(users: np.ndarray) -> tuple[np.ndarray, int]:
    """Map each record's user (any hashable key) to 0..G-1 in sorted order; return it and G."""
    keys, index = np.unique(np.asarray(users), return_inverse=True)
    return index.reshape(-1), keys.size


def user_resamples(n_users: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``[resamples, n_users]`` counts: how often each user is drawn in each resample.

    Each resample draws ``n_users`` users with replacement; the same seed gives the same counts.
    """
    if n_users < 1 or resamples < 1:
        raise ValueError(f"need at least one user and one resample, not {n_users} / {resamples}")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, n_users, size=(resamples, n_users))
    offsets = (np.arange(resamples) * n_users)[:, None]
    return np.bincount((drawn + offsets).ravel(), minlength=resamples * n_users).reshape(
        resamples, n_users
    )


def per_user_sums(rows: np.ndarray, users: np.ndarray, n_users: int) -> np.ndarray:
    """Sum per-record count rows ``[n, k]`` by user index: ``[n_users, k]``."""
    rows = np.asarray(rows, dtype=float)
    out = np.zeros((n_users, rows.shape[1]))
    np.add.at(out, users, rows)
    return out


def percentile_interval(point: float, draws: np.ndarray, level: float = LEVEL) -> Interval:
    """The point figure with the central ``level`` percentile interval of its resampled values.

    Resamples where the figure is undefined (NaN: e.g. no positive night drawn) are left out;
    when all are, the interval is NaN.
    """
    draws = np.asarray(draws, dtype=float)
    draws = draws[~np.isnan(draws)]
    if not draws.size:
        return Interval(float(point), float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high))


def sums_interval(
    per_user: np.ndarray,
    figure: Callable[[np.ndarray], np.ndarray],
    counts: np.ndarray,
    level: float = LEVEL,
) -> Interval:
    """The interval of a figure computed from summed counts (``figure(totals[..., k])``).

    ``per_user`` is ``[n_users, k]`` (``per_user_sums``); ``counts`` the resamples.
    """
    point = figure(per_user.sum(axis=0))
    return percentile_interval(float(point), figure(counts @ per_user), level)


# Per-night confusion counts, in binary_stat_rows' columns.
BINARY_STATS: tuple[str, ...] = ("tp", "fn", "tn", "fp")


def binary_stat_rows(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """One row of ``BINARY_STATS`` counts per night: ``[n, 4]``."""
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    if labels.shape != predicted.shape:
        raise ValueError(f"{labels.shape} labels but {predicted.shape} predictions")
    return np.stack(
        [labels & predicted, labels & ~predicted, ~labels & ~predicted, ~labels & predicted],
        axis=-1,
    ).astype(float)


def sensitivity(totals: np.ndarray) -> np.ndarray:
    """Sensitivity from summed ``BINARY_STATS`` (NaN with no positive night)."""
    tp, fn = totals[..., 0], totals[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return tp / (tp + fn)


def specificity(totals: np.ndarray) -> np.ndarray:
    """Specificity from summed ``BINARY_STATS`` (NaN with no negative night)."""
    tn, fp = totals[..., 2], totals[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return tn / (tn + fp)


def auc_pair_matrix(
    labels: np.ndarray, scores: np.ndarray, users: np.ndarray, n_users: int
) -> np.ndarray:
    """The pair matrix ``M[u, v]`` (``[n_users, n_users]``) of the weighted AUC.

    ``M[u, v]`` counts the pairs (a positive night of ``u``, a negative of ``v``) scored in the
    right order, a tie counting half. Built per block of ``USER_BLOCK`` negative users, over the
    distinct positive scores only.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    users = np.asarray(users)
    pos_scores, pos_users = scores[labels], users[labels]
    neg_scores, neg_users = scores[~labels], users[~labels]
    levels, pos_level = np.unique(pos_scores, return_inverse=True)
    m = np.zeros((n_users, n_users))
    if not levels.size:
        return m
    # a negative below levels[j] counts 1 for the positives at level j and above; one equal to it
    # counts half at level j and 1 above.
    left = np.searchsorted(levels, neg_scores, side="left")
    tied = (left < levels.size) & (levels[np.minimum(left, levels.size - 1)] == neg_scores)
    below_from = left + tied  # first level the negative is strictly below
    order = np.argsort(pos_users, kind="stable")  # the positives by user, to sum them per user
    sorted_users = pos_users[order]
    starts = np.flatnonzero(np.diff(sorted_users, prepend=-1))
    for start in range(0, n_users, USER_BLOCK):
        stop = min(start + USER_BLOCK, n_users)
        block = (neg_users >= start) & (neg_users < stop)
        width = stop - start
        below = np.zeros((levels.size + 1, width))
        np.add.at(below, (below_from[block], neg_users[block] - start), 1.0)
        credit = np.cumsum(below, axis=0)[: levels.size]
        equal = block & tied
        np.add.at(credit, (left[equal], neg_users[equal] - start), 0.5)
        m[sorted_users[starts], start:stop] = np.add.reduceat(
            credit[pos_level[order]], starts, axis=0
        )
    return m


def auc_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    users: np.ndarray,
    n_users: int,
    counts: np.ndarray,
    level: float = LEVEL,
) -> Interval:
    """The AUC of ``scores`` over every night, with its interval over the user resamples."""
    labels = np.asarray(labels).astype(bool)
    m = auc_pair_matrix(labels, scores, users, n_users)
    positives = np.bincount(np.asarray(users)[labels], minlength=n_users).astype(float)
    negatives = np.bincount(np.asarray(users)[~labels], minlength=n_users).astype(float)

    def figure(c: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((c @ m) * c).sum(axis=-1) / ((c @ positives) * (c @ negatives))

    point = figure(np.ones((1, n_users)))[0]
    return percentile_interval(float(point), figure(counts.astype(float)), level)
