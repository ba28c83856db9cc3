"""``ingest`` publishes the online rows its job staged, night by night after each entry commits,
and nothing when the job fails. The Beam job is stood in for by a function that stages rows and
writes the night's statistics file (the staging transform itself runs in the e2e tests).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from components.nightly_features import ingest as ingest_module
from components.nightly_features.beam_job import FeatureJobConfig
from components.online_store import default_url, open_store
from components.spans.plan import IngestPlan
from components.spans.store import SpanStore

NIGHT = "2026-03-05"


def _plan() -> IngestPlan:
    return IngestPlan(NIGHT, {NIGHT: "new"}, {NIGHT: ("fp", 1)}, {}, [])


def _job(lines: dict[str, str], fail: bool = False):
    """A stand-in for ``_write_nights``: stages the rows, writes the statistics file, or fails."""

    def write(plan, config, examples_dir, quarantine_dir, make_pipeline, progress, requests_dir):
        online = open_store(config.online_store)
        online.stage_nights(config.online_run, [(NIGHT, k, v) for k, v in lines.items()])
        online.stage_cycles(config.online_run, [(k, b"cycle of " + k.encode()) for k in lines])
        online.close()
        if fail:
            raise RuntimeError("the runner died")
        stats = Path(quarantine_dir, f"nightly_stats-{NIGHT}.jsonl.gz")
        stats.parent.mkdir(parents=True, exist_ok=True)
        stats.write_bytes(gzip.compress("".join(v + "\n" for v in lines.values()).encode()))
        return {"by_night": {NIGHT: {}}}

    return write


def _ingest(store: SpanStore, tmp_path: Path, generation: str) -> None:
    config = FeatureJobConfig(input_root=str(tmp_path / "raw"), salt=b"s" * 16)
    ingest_module.ingest(_plan(), config, str(tmp_path / generation / "examples"),
                         str(tmp_path / generation / "quarantine"), store, "code", None)


def test_ingest_publishes_after_the_commit_and_a_failed_one_publishes_nothing(
    tmp_path, monkeypatch
):
    store = SpanStore(str(tmp_path / "spans"))
    monkeypatch.setattr(ingest_module, "_write_nights", _job({"a": "a-1", "b": "b-1"}))
    _ingest(store, tmp_path, "g1")
    entry = store.entry(NIGHT)
    online = open_store(default_url(store.root))
    state = online.user_state("a", [NIGHT])
    assert state.lines == {NIGHT: "a-1"} and state.cycles == [b"cycle of a"]
    assert state.digests == {NIGHT: entry.files[entry.stats_file]}  # the committed file's

    monkeypatch.setattr(ingest_module, "_write_nights", _job({"a": "a-2"}, fail=True))
    with pytest.raises(RuntimeError, match="the runner died"):
        _ingest(store, tmp_path, "g2")
    assert online.user_state("a", [NIGHT]).lines == {NIGHT: "a-1"}  # nothing of it published
    assert store.entry(NIGHT) == entry

    monkeypatch.setattr(ingest_module, "_write_nights", _job({"a": "a-3"}))  # a backfill
    _ingest(store, tmp_path, "g3")
    entry = store.entry(NIGHT)
    assert online.user_state("a", [NIGHT]).lines == {NIGHT: "a-3"}
    b = online.user_state("b", [NIGHT])
    assert b.lines == {} and b.cycles == []  # the failed run's staged rows never came back
    assert online.nights() == {NIGHT: entry.files[entry.stats_file]}
