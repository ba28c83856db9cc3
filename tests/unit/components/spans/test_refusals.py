"""Gate refusals beside the span store, and TrainingWindow leaving refused nights out."""

from __future__ import annotations

import datetime as dt
import gzip

from components.spans.refusals import clear_refusal, record_refusal, refusals
from components.spans.store import SpanEntry, SpanStore
from components.training_window import gather_window


def _store_with_nights(tmp_path, nights: list[str]) -> str:
    """A span store whose nights each hold one train shard with one (fake) record."""
    root = str(tmp_path / "spans")
    store = SpanStore(root)
    for night in nights:
        examples = tmp_path / "ex" / night
        shard = examples / "Split-train" / f"{night}-00000-of-00001.gz"
        shard.parent.mkdir(parents=True)
        shard.write_bytes(gzip.compress(night.encode()))
        store.commit(
            SpanEntry(
                night, str(examples), str(tmp_path / "q"), "fp", 1, "code",
                counts={"examples_by_split": {"train": 1}},
            )
        )  # fmt: skip
    return root


def test_training_window_leaves_a_refused_night_out_and_says_so(tmp_path):
    nights = ["2026-04-15", "2026-04-16", "2026-04-17"]
    root = _store_with_nights(tmp_path, nights)
    assert record_refusal(root, ["2026-04-16", "2026-04-30"], "AnomalyGate", "skin_temp") == [
        "2026-04-16"
    ]  # a night without an entry has nothing to refuse
    out = tmp_path / "window"
    report = gather_window(root, dt.date(2026, 4, 17), 3, {"train": str(out / "Split-train")})
    copied = sorted(p.name for p in (out / "Split-train").iterdir())
    assert copied == ["2026-04-15-00000-of-00001.gz", "2026-04-17-00000-of-00001.gz"]
    assert report["nights"] == 2 and report["examples_by_split"] == {"train": 2}
    assert report["nights_refused"] == {"2026-04-16": ["AnomalyGate: skin_temp"]}
    assert report["nights_missing"] == []


def test_a_refusal_lapses_when_the_night_is_ingested_again_or_passed(tmp_path):
    root = _store_with_nights(tmp_path, ["2026-04-16"])
    store = SpanStore(root)
    record_refusal(root, ["2026-04-16"], "DriftGate", "drift")
    night = dt.date(2026, 4, 16)
    assert list(refusals(root, store.entries([night]))) == [night]
    # a re-ingest (a late upload) commits a different entry: the refusal was about the old one
    entry = store.entry(night)
    store.commit(SpanEntry(**{**entry.__dict__, "raw_fingerprint": "late upload"}))
    assert refusals(root, store.entries([night])) == {}
    record_refusal(root, ["2026-04-16"], "DriftGate", "drift")
    clear_refusal(root, ["2026-04-16"], "DriftGate")  # the gate passed it on a later run
    assert refusals(root, store.entries([night])) == {}
