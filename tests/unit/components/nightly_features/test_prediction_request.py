"""One night's prediction request, as the batch path and the online path both build it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from components.nightly_features.prediction_request import (
    CannotScore,
    night_request,
    serialize_request,
    stored_history,
)
from components.nightly_features.records import CycleRow, NightOutcome
from components.nightly_features.user_history import build_user_examples
from pipeline.config import LocalConfig
from pipeline.serving.online import BadUpload, request_for_upload
from transforms import features as fc
from transforms import raw_format as rf

D0 = dt.date(2026, 1, 1)


def _night(offset: int) -> NightOutcome:
    date = (D0 + dt.timedelta(days=offset)).isoformat()
    out = NightOutcome(rf.night_path(date, "u1"), "u1", date, rows_total=10, rows_accepted=10,
                       valid=True)
    out.quality = dict.fromkeys(fc.QUALITY_FEATURES, 5.0)
    out.features = {name: 1.0 + offset for name in fc.NIGHTLY_FEATURES}
    return out


def test_night_request_is_the_batch_request_of_that_night():
    cycles = [CycleRow("u1", 0, D0, None, None, 5)]
    nights = [_night(i) for i in range(10)]
    stored = [stored_history(json.dumps({fc.USER_KEY: "k", fc.NIGHT_DATE: n.night_date,
                                         "features": n.features}))[1] for n in nights[:-1]]
    online = night_request("u1", "k", nights[-1], stored, cycles)
    batch = build_user_examples("u1", nights, cycles, "k").requests[-1]
    assert online.night == nights[-1].night_date and online.features == batch
    assert online.serialized == serialize_request(batch)
    with pytest.raises(CannotScore, match="too_little_history") as e:
        night_request("u1", "k", nights[1], stored[:1], cycles)
    assert e.value.reason == "too_little_history"


def test_the_online_path_never_generates_data(tmp_path):
    upload = tmp_path / rf.night_path("2026-03-01", "u1")
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"")
    config = LocalConfig(workdir=tmp_path / "work")
    with pytest.raises(BadUpload, match="cannot open the online store: no online store at "
                                        ".*online.sqlite: the ingest writes it"):
        request_for_upload(upload, "u1", None, config, None, None)
    assert not config.data_root.exists()
