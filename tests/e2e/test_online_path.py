"""One raw upload to an answer: the online request equals the batch request, feature for feature.

On the session's pipeline runs (16 generated users): the online store the ingest wrote (SQLite,
beside the span store) holds, for every night it keeps, exactly the span store's statistics lines
and the cycle log's rows; through it, for every eval-split user-night it can answer, the online
path (``pipeline.serving.online.upload_request``: the feature job's own functions on one raw
upload, history and cycles from the online store) builds exactly the request the Beam job wrote,
byte for byte; on the last night the model's answer equals the nightly batch prediction
NightlyPredictions published. The ingest prunes nights no recent request needs, so every night of
every eval user is checked through a store filled from the whole span store, on SQLite and on a
real Redis server.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from components.nightly_features.user_history import pseudonymise, split_for_user
from components.spans.store import SpanStore
from transforms import raw_format as rf

pytestmark = pytest.mark.e2e


def _salt(cfg) -> bytes:
    from components.nightly_features.salt import load_salt

    return load_salt(cfg.salt_file)


def _batch_requests(store: SpanStore, nights) -> dict[tuple[str, str], bytes]:
    """Every request the batch path wrote, by (pseudonym, night), as serialized bytes."""
    import tensorflow as tf

    from transforms.example_proto import example_class

    out = {}
    for night in nights:
        entry = store.entry(night)
        if entry is None:
            continue
        for path in sorted(tf.io.gfile.glob(entry.request_files)):
            for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                raw = record.numpy()
                feature = example_class().FromString(raw).features.feature
                key = (feature["user_key"].bytes_list.value[0].decode(),
                       feature["night_date"].bytes_list.value[0].decode())
                out[key] = raw
    return out


def _users(data: Path) -> list[str]:
    return sorted({p.name[: -len(rf.RAW_SUFFIX)] for p in data.glob("nights/*/*.csv.gz")})


def _nights(data: Path) -> list[dt.date]:
    return sorted(dt.date.fromisoformat(p.name) for p in (data / "nights").iterdir())


def _check_eval_requests(online, cfg, since: str = "", every_split: bool = False) -> int:
    """Every eval user-night the batch path scored, from ``since`` on: online == batch, bytes.

    ``every_split``: the users of every split, not only eval's.
    """
    from pipeline.serving.online import upload_request

    data, store, salt = Path(cfg.data_root), SpanStore(cfg.span_store), _salt(cfg)
    eval_users = {pseudonymise(u, salt): u for u in _users(data)
                  if every_split
                  or split_for_user(u, {"train": 14, "eval": 3, "test": 3}) == "eval"}
    checked = 0
    for (user_key, night), serialized in sorted(_batch_requests(store, _nights(data)).items()):
        if user_key not in eval_users or night < since:
            continue
        user = eval_users[user_key]
        upload = (data / rf.night_path(night, user)).read_bytes()
        request = upload_request(upload, user, dt.date.fromisoformat(night), online,
                                 store.root, salt)
        assert request.serialized == serialized, (user_key, night)
        checked += 1
    return checked


def _filled_from_span_store(online, cfg):
    """``online`` with every committed night and the cycle log (nothing pruned)."""
    from components.online_store.seed import seed_cycles, seed_nights

    data = Path(cfg.data_root)
    committed = SpanStore(cfg.span_store).entries(_nights(data))
    assert seed_nights(online, cfg.span_store, _nights(data)) == len(committed)
    seed_cycles(online, data / rf.CYCLES_FILE, _salt(cfg))
    return online


def test_online_requests_equal_the_batch_requests_and_predictions(pipeline_runs, tmp_path):
    from components.online_store import open_store
    from pipeline.serving.online import BadUpload, upload_request
    from pipeline.serving.predict import predict_local

    cfg, first, second, _ = pipeline_runs
    data, store, salt = Path(cfg.data_root), SpanStore(cfg.span_store), _salt(cfg)
    users, nights = _users(data), _nights(data)
    ingested = open_store(cfg.online_store_url)  # what the runs' ingests published
    whole = _filled_from_span_store(open_store(f"sqlite:///{tmp_path}/whole.sqlite", True), cfg)

    # the ingest kept the nights a request of the lateness horizon needs, each with exactly the
    # span store's statistics lines, and every user's cycle rows
    kept = ingested.nights()
    pruned_before = ingested.user_state("nobody", []).pruned_before
    assert pruned_before and min(kept) == pruned_before and max(kept) == nights[-1].isoformat()
    assert kept == {n: d for n, d in whole.nights().items() if n >= pruned_before}
    for user in users:
        key = pseudonymise(user, salt)
        mine, every = ingested.user_state(key, sorted(kept)), whole.user_state(key, sorted(kept))
        assert (mine.lines, mine.digests, mine.cycles) == (every.lines, every.digests, every.cycles)

    # through the ingest's store: every user-night it can answer (history not pruned), of every
    # split (the eval users' data may end before the last nights)
    first_answerable = (dt.date.fromisoformat(pruned_before)
                        + dt.timedelta(days=28)).isoformat()
    assert _check_eval_requests(ingested, cfg, since=first_answerable, every_split=True) > 5
    # through a store of every night: every night of every eval user the batch path scored
    assert _check_eval_requests(whole, cfg) > 100

    # the later runs scored their night with the model an earlier run pushed (a new push makes
    # the night score again): the online answer for each user equals the published prediction
    published = Path(cfg.predictions_root) / nights[-1].isoformat()
    summary = json.loads((published / "summary.json").read_text())
    pushed = {Path(r.pushed_path).name: r.pushed_path for r in (first, second) if r.pushed_path}
    assert summary["model_version"] in pushed and summary["scored"] > 0
    model = pushed[summary["model_version"]]
    rows = [json.loads(line) for line in gzip.open(published / "predictions.jsonl.gz")]
    assert len(rows) == summary["scored"]
    by_key = {pseudonymise(u, salt): u for u in users}
    for row in rows:
        user = by_key[row["user_key"]]
        upload = (data / rf.night_path(row["night"], user)).read_bytes()
        online = upload_request(upload, user, nights[-1], ingested, store.root, salt)
        (answer,) = predict_local(model, [online.serialized])
        assert answer.probability == pytest.approx(row["probability"], abs=1e-6)
        assert answer.fertile == row["fertile"]

    # a bad upload gets the quarantine's reason as a clear error
    with pytest.raises(BadUpload, match="not a valid night: corrupt"):
        upload_request(b"\x1f\x8b not really gzip", users[0], nights[-1], ingested,
                       store.root, salt)
    # a night whose history the ingest pruned is refused by name, not answered without it
    old = dt.date.fromisoformat(first_answerable) - dt.timedelta(days=1)
    (user_key, _), *_ = sorted(_batch_requests(store, [old]))  # a night the batch path scored
    user = by_key[user_key]
    with pytest.raises(BadUpload, match=f"keeps the nights from {pruned_before} on"):
        upload_request((data / rf.night_path(old.isoformat(), user)).read_bytes(), user, old,
                       ingested, store.root, salt)


def test_online_requests_through_redis_equal_the_batch_requests(pipeline_runs, redis_url):
    from components.online_store import open_store

    cfg = pipeline_runs[0]
    online = _filled_from_span_store(open_store(redis_url), cfg)
    assert _check_eval_requests(online, cfg) > 100
