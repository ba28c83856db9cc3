"""The online store's contract, on both backends: staged rows are invisible until their night is
published, a failed ingest publishes nothing, a republished night replaces the old one, pruning
forgets old nights. The Redis backend runs against a real ``redis-server`` (a service: e2e).
"""

from __future__ import annotations

import pytest

from components.online_store import open_store
from components.online_store.base import join_cycle_lines

N1, N2, N3 = "2026-03-01", "2026-03-02", "2026-03-03"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.e2e)])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path}/online.sqlite" if request.param == "sqlite"
           else request.getfixturevalue("redis_url"))
    s = open_store(url, create=True)
    yield s
    s.close()


def _publish(store, run, night, rows, digest):
    store.stage_nights(run, [(night, key, line) for key, line in rows.items()])
    store.publish_night(run, night, digest)


def test_a_published_night_is_read_back_by_user(store):
    _publish(store, "r1", N1, {"a": "a1", "b": "b1"}, "d1")
    _publish(store, "r1", N2, {"a": "a2"}, "d2")
    store.stage_cycles("r1", [("a", join_cycle_lines([b"u,1,x\n", b"u,0,x\n"]))])
    store.publish_cycles("r1")
    a = store.user_state("a", [N1, N2, N3])
    assert a.lines == {N1: "a1", N2: "a2"}
    assert a.digests == {N1: "d1", N2: "d2"}  # N3 was never published
    assert a.cycles == [b"u,0,x", b"u,1,x"]
    b = store.user_state("b", [N2])  # only the nights asked for
    assert b.lines == {} and b.digests == {N2: "d2"} and b.cycles == []
    assert store.nights() == {N1: "d1", N2: "d2"}


def test_a_reader_sees_the_old_night_until_the_new_one_is_published(store):
    _publish(store, "r1", N1, {"a": "old"}, "d-old")
    store.stage_nights("r2", [(N1, "a", "new")])  # staged by a running ingest
    store.stage_cycles("r2", [("a", b"new cycle")])
    during = store.user_state("a", [N1])
    assert during.lines == {N1: "old"} and during.digests == {N1: "d-old"}
    assert during.cycles == []
    store.publish_night("r2", N1, "d-new")
    after = store.user_state("a", [N1])
    assert after.lines == {N1: "new"} and after.digests == {N1: "d-new"}


def test_a_failed_ingest_publishes_nothing(store):
    _publish(store, "r1", N1, {"a": "old"}, "d-old")
    store.stage_nights("r2", [(N1, "a", "new"), (N2, "a", "new2")])
    store.stage_cycles("r2", [("a", b"new cycle")])
    store.discard_staging()  # what ingest does when the job fails
    store.publish_night("r3", N2, "d2")  # a later run that staged nothing for N2
    store.publish_cycles("r3")
    state = store.user_state("a", [N1, N2])
    assert state.lines == {N1: "old"}  # nothing of r2 is left to leak into a later publish
    assert state.cycles == []


def test_a_backfill_replaces_the_night_it_rewrites(store):
    _publish(store, "r1", N1, {"a": "a1", "b": "b1"}, "d1")
    store.stage_cycles("r1", [("a", b"a0"), ("b", b"b0")])
    store.publish_cycles("r1")
    _publish(store, "r2", N1, {"a": "a1-again"}, "d1-again")  # b has no valid night any more
    store.stage_cycles("r2", [("a", b"a0\na1")])
    store.publish_cycles("r2")
    assert store.user_state("a", [N1]).lines == {N1: "a1-again"}
    assert store.user_state("a", [N1]).cycles == [b"a0", b"a1"]
    b = store.user_state("b", [N1])
    assert b.lines == {} and b.cycles == [] and b.digests == {N1: "d1-again"}
    _publish(store, "r3", N1, {}, "d1-empty")  # a night with no valid user at all
    assert store.user_state("a", [N1]).lines == {} and store.nights() == {N1: "d1-empty"}


def test_pruning_forgets_the_old_nights_and_says_so(store):
    for night in (N1, N2, N3):
        _publish(store, "r1", night, {"a": night}, f"d{night}")
    assert store.user_state("a", [N1]).pruned_before == ""
    store.prune(N3)
    state = store.user_state("a", [N1, N2, N3])
    assert state.lines == {N3: N3} and set(state.digests) == {N3}
    assert state.pruned_before == N3
    store.prune(N1)  # the bound never moves back
    assert store.user_state("a", [N3]).pruned_before == N3


def test_an_unknown_store_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no online store at .*missing.sqlite"):
        open_store(f"sqlite:///{tmp_path}/missing.sqlite")
    with pytest.raises(ValueError, match="unknown online store 'mongodb://x'"):
        open_store("mongodb://x")
