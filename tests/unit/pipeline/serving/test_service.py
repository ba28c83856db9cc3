"""The answer service's contract, with a stand-in request builder and model (no TensorFlow).

The real builder and model are proven against the batch path in tests/e2e/test_answer_service.py;
here: the answer's shape (the same dict `cyclecast predict --upload --json` prints), each refusal's
status and reason, the body limit, health and readiness, and the swap to a newly pushed version.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import warnings
from http.server import ThreadingHTTPServer

import pytest

from tests.json_http import JsonHandler

with warnings.catch_warnings():  # Starlette 1.x would rather test with httpx2; the lock has httpx
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from components.nightly_features.prediction_request import NightRequest
from components.spans.store import StoredFileError
from pipeline.serving.answer import answer_body
from pipeline.serving.online import BadUpload
from pipeline.serving.predict import LoadedModel, Prediction, ServingError
from pipeline.serving.service import READY_PATH, InProcessModel, ServedModel, create_app
from transforms import raw_format as rf

NIGHT = "2026-03-01"
URL = f"/v1/users/u1/nights/{NIGHT}"


class StandInSource:
    """Refuses the uploads named after a refusal, answers the others; ``missing`` unreadies it."""

    def __init__(self):
        self.missing: str | None = None
        self.seen: list[tuple[bytes, str, dt.date]] = []

    def request(self, upload: bytes, user_id: str, night: dt.date) -> NightRequest:
        self.seen.append((upload, user_id, night))
        if upload == b"corrupt":
            raise BadUpload("the upload is not a valid night: corrupt_file (not gzip)",
                            rf.FileReject.CORRUPT)
        if upload == b"damaged store":
            raise StoredFileError("2026-02-28", "its statistics file is gone")
        return NightRequest(f"key-of-{user_id}", night.isoformat(), {}, upload)

    def problem(self) -> str | None:
        return self.missing


class StandInServing:
    """A serving directory whose versions a test pushes; version N answers probability N / 10."""

    def __init__(self, *versions: str):
        self.versions = list(versions)
        self.broken: set[str] = set()
        self.refuse = False

    def latest(self, base: str) -> str | None:
        return max(self.versions, key=int) if self.versions else None

    def load(self, path: str) -> LoadedModel:
        version = path.rsplit("/", 1)[-1]
        if version in self.broken:
            raise OSError(f"{path}: half copied")
        return LoadedModel(version, model=None)

    def predict(self, loaded: LoadedModel, serialized: list[bytes]) -> list[Prediction]:
        if self.refuse:
            raise ServingError("bad request: skin_temp is below 30.0, the schema's minimum")
        return [Prediction(int(loaded.version) / 10, int(loaded.version) >= 5, loaded.version)
                for _ in serialized]


def _service(*versions: str, limit: int = 1 << 20):
    serving, source = StandInServing(*versions), StandInSource()
    model = InProcessModel("/models/cyclecast", load=serving.load, latest=serving.latest,
                           predict=serving.predict)
    app = create_app(source, model, poll_seconds=None, max_upload_bytes=limit)
    return app, model, serving, source


def test_an_upload_gets_the_answer_of_the_version_in_service():
    app, _, _, source = _service("3")
    with TestClient(app) as client:
        response = client.post(URL, content=b"a night")
    assert response.status_code == 200
    assert response.json() == {"probability": 0.3, "fertile": False, "model_version": "3",
                               "night": NIGHT}
    assert source.seen == [(b"a night", "u1", dt.date(2026, 3, 1))]


@pytest.mark.parametrize(("url", "body", "status", "reason"), [
    (URL, b"corrupt", 422, "corrupt_file"),
    ("/v1/users/no%20one/nights/2026-03-01", b"x", 400, "bad_user_id"),
    ("/v1/users/u1/nights/2026-13-01", b"x", 400, "bad_night"),
    ("/v1/users/u1/nights/20260301", b"x", 400, "bad_night"),
    (URL, b"damaged store", 503, "store_damaged"),
])
def test_a_refusal_names_its_reason(url, body, status, reason):
    app, _, _, source = _service("3")
    with TestClient(app) as client:
        response = client.post(url, content=body)
    assert response.status_code == status
    assert response.json()["reason"] == reason
    detail = response.json()["detail"]
    assert {"corrupt_file": "not gzip", "bad_user_id": "'no one'", "bad_night": "YYYY-MM-DD",
            "store_damaged": "cyclecast backfill --from 2026-02-28"}[reason] in detail
    assert len(source.seen) == (1 if status in (422, 503) else 0)  # bad paths: never built


def test_the_models_refusal_and_no_model_at_all():
    app, model, serving, _ = _service()  # nothing pushed yet
    with TestClient(app) as client:
        nothing = client.post(URL, content=b"a night")
        serving.versions.append("4")
        model.refresh()
        serving.refuse = True
        refused = client.post(URL, content=b"a night")
    assert nothing.status_code == 503 and nothing.json()["reason"] == "model_unavailable"
    assert "no servable version under /models/cyclecast" in nothing.json()["detail"]
    assert refused.status_code == 502 and refused.json()["reason"] == "model_refused"
    assert "skin_temp is below 30.0" in refused.json()["detail"]


def test_an_oversized_body_is_refused_declared_or_streamed():
    app, _, _, source = _service("3", limit=10)
    with TestClient(app) as client:
        at_limit = client.post(URL, content=b"x" * 10)
        declared = client.post(URL, content=b"x" * 11)
        streamed = client.post(URL, content=iter([b"x" * 6, b"x" * 6]))  # chunked, no length
    assert at_limit.status_code == 200
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"reason": "upload_too_large",
                                   "detail": "the upload is larger than 10 bytes"}
    assert [seen[0] for seen in source.seen] == [b"x" * 10]


def test_health_and_readiness():
    app, model, serving, source = _service()
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        unready = client.get(READY_PATH)
        serving.versions.append("2")
        model.refresh()
        ready = client.get(READY_PATH)
        source.missing = "no cycle log at /data/raw/cycles.csv"
        store_gone = client.get(READY_PATH)
        assert client.get("/healthz").status_code == 200  # alive whatever it can answer
    assert unready.status_code == 503
    assert unready.json()["problems"] == ["no servable version under /models/cyclecast"]
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "model_version": "2"}
    assert store_gone.status_code == 503
    assert store_gone.json()["problems"] == ["no cycle log at /data/raw/cycles.csv"]


def test_a_new_push_is_answered_with_and_a_broken_one_leaves_the_old_in_service():
    app, model, serving, _ = _service("3")
    with TestClient(app) as client:
        before = client.post(URL, content=b"a night").json()
        serving.versions.append("7")
        assert model.refresh() == "7"
        after = client.post(URL, content=b"a night").json()
        serving.versions.append("9")
        serving.broken.add("9")
        with pytest.raises(OSError, match="half copied"):
            model.refresh()
        still = client.post(URL, content=b"a night").json()
        serving.versions.remove("9")
        serving.versions.remove("7")  # a rollback: the newest push removed
        assert model.refresh() == "3"
        rolled_back = client.post(URL, content=b"a night").json()
    assert (before["model_version"], before["probability"]) == ("3", 0.3)
    assert (after["model_version"], after["probability"], after["fertile"]) == ("7", 0.7, True)
    assert still["model_version"] == "7"
    assert rolled_back["model_version"] == "3"


def test_the_service_answers_what_predict_upload_json_prints(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main
    from pipeline.serving import online
    from pipeline.serving import predict as p

    app, _, serving, _ = _service("6")
    upload = tmp_path / rf.night_path(NIGHT, "u1")
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"a night")

    def request_for_upload(path, user, night_text, config, data_root, salt_file):
        return StandInSource().request(path.read_bytes(), user, dt.date.fromisoformat(NIGHT))

    monkeypatch.setattr(online, "request_for_upload", request_for_upload)
    monkeypatch.setattr(p, "load_model", lambda path: serving.load(f"{path}/6"))
    monkeypatch.setattr(p, "predict_loaded", serving.predict)
    assert main(["predict", "--local", "/models/cyclecast", "--upload", str(upload), "--user",
                 "u1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with TestClient(app) as client:
        answered = client.post(URL, content=b"a night").json()
    assert printed == answered == answer_body(0.6, True, "6", NIGHT)
    assert main(["predict", "--local", "/m", "--night", str(upload), "--json"]) == 2
    assert "--json answers an --upload" in capsys.readouterr().err


class _StandInTFServing(JsonHandler):
    """TF Serving's REST model status and row-format predict, for version 5 of `cyclecast`."""

    def do_GET(self):  # noqa: N802
        self.send_json(200, {"model_version_status": [{"version": "4", "state": "END"},
                                             {"version": "5", "state": "AVAILABLE"}]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_json(200, {"predictions": [{"probability": [0.4], "fertile": [False]}
                                    for _ in body["instances"]]})



def test_through_tf_serving_answers_carry_the_version_it_reports():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandInTFServing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        model = ServedModel(url, None, "cyclecast", timeout=5)
        with TestClient(create_app(StandInSource(), model, poll_seconds=None)) as client:
            ready = client.get(READY_PATH).json()
            answer = client.post(URL, content=b"a night").json()
    finally:
        server.shutdown()
        server.server_close()
    assert ready == {"status": "ready", "model_version": "5"}
    assert answer == answer_body(0.4, False, "5", NIGHT)
    gone = ServedModel(url, None, "cyclecast", timeout=1)  # the server is down now
    assert gone.refresh() is None and "cannot reach" in gone.problem()


def test_an_online_store_that_does_not_answer_is_a_503_and_unready(tmp_path):
    from benchmarks.local_ports import free_port
    from pipeline.serving.online import UploadSource
    from tests.rawfiles import steady_night, to_file

    source = UploadSource(f"redis://127.0.0.1:{free_port()}/0", str(tmp_path), b"salt")
    serving = StandInServing("3")
    model = InProcessModel("/models/cyclecast", load=serving.load, latest=serving.latest,
                           predict=serving.predict)
    app = create_app(source, model, poll_seconds=None)
    upload = to_file(steady_night(8.0))  # a valid night of 2026-01-05
    with TestClient(app) as client:
        response = client.post("/v1/users/u1/nights/2026-01-05", content=upload)
        ready = client.get(READY_PATH)
    assert response.status_code == 503
    assert response.json()["reason"] == "no_online_store"
    assert "does not answer" in response.json()["detail"]
    assert ready.status_code == 503
    assert any("does not answer" in p for p in ready.json()["problems"])


def test_no_online_store_configured_is_named():
    from pipeline.serving.online import UploadSource

    with pytest.raises(BadUpload, match="no online store is configured") as refused:
        UploadSource("", "gs://bucket/spans", b"salt").store()
    assert refused.value.reason == "no_online_store"
