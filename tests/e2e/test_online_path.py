"""One raw upload to an answer: the online request equals the batch request, feature for feature.

On the session's pipeline runs (16 generated users): for every night of every eval-split user, the
online path (``pipeline.serving.online.upload_request``: the feature job's own functions on one
raw upload, history from the span store) builds exactly the request the Beam job wrote for that
user-night, byte for byte; and on the last night, the model's answer to the online request
equals the nightly batch prediction NightlyPredictions published.
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


def test_online_requests_equal_the_batch_requests_and_predictions(pipeline_runs):
    from pipeline.serving.online import BadUpload, upload_request
    from pipeline.serving.predict import predict_local

    cfg, first, second, _ = pipeline_runs
    data, store, salt = Path(cfg.data_root), SpanStore(cfg.span_store), _salt(cfg)
    users = sorted({p.name[: -len(rf.RAW_SUFFIX)] for p in data.glob("nights/*/*.csv.gz")})
    eval_users = {pseudonymise(u, salt): u for u in users
                  if split_for_user(u, {"train": 14, "eval": 3, "test": 3}) == "eval"}
    nights = sorted(dt.date.fromisoformat(p.name) for p in (data / "nights").iterdir())
    batch = _batch_requests(store, nights)
    checked = 0
    for (user_key, night), serialized in sorted(batch.items()):
        if user_key not in eval_users:
            continue
        user = eval_users[user_key]
        upload = (data / rf.night_path(night, user)).read_bytes()
        online = upload_request(upload, user, dt.date.fromisoformat(night),
                                data / rf.CYCLES_FILE, store.root, salt)
        assert online.serialized == serialized, (user_key, night)
        checked += 1
    assert checked > 100  # every night of every eval user that the batch path could score

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
        online = upload_request(upload, user, nights[-1], data / rf.CYCLES_FILE, store.root, salt)
        (answer,) = predict_local(model, [online.serialized])
        assert answer.probability == pytest.approx(row["probability"], abs=1e-6)
        assert answer.fertile == row["fertile"]

    # a bad upload gets the quarantine's reason as a clear error
    with pytest.raises(BadUpload, match="not a valid night: corrupt"):
        upload_request(b"\x1f\x8b not really gzip", users[0], nights[-1], data / rf.CYCLES_FILE,
                       store.root, salt)
