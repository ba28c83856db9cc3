"""`cyclecast submit` against a stand-in KFP API server on 127.0.0.1.

The server implements just the v2beta1 REST calls the real ``kfp.Client`` makes and records every
request, so the tests check what would reach a cluster: the compiled spec inline, the run-time
parameters, the pipeline root, the experiment, the schedule and the bearer token. Any other path
gets a 404 and is listed in ``server.unknown``, which every test expects to be empty.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from benchmarks.local_ports import free_port
from pipeline.cli import main
from pipeline.orchestration.kfp_submit import (
    SubmitError,
    default_run_name,
    load_token,
    submit_pipeline,
    validate_cron,
)

pytestmark = pytest.mark.e2e

API = "/apis/v2beta1"
CREATED_AT = "2025-01-01T00:00:00Z"


class FakeKfp:
    """A recording stand-in for the KFP v2beta1 API (single-user unless told)."""

    def __init__(self, multi_user: bool = False):
        self.multi_user = multi_user
        self.requests: list[dict] = []
        self.unknown: list[str] = []
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self.fail: dict[tuple[str, str], tuple[int, dict]] = {}
        self.delay: dict[tuple[str, str], float] = {}  # seconds before answering
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeKfp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def add_experiment(self, name: str, namespace: str = "") -> str:
        eid = f"exp-{next(self._ids)}"
        self.experiments[eid] = {
            "experiment_id": eid, "display_name": name, "namespace": namespace,
            "created_at": CREATED_AT,
        }
        return eid

    def posts(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == API + path]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

            def _serve(self, method: str):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                record = {
                    "method": method, "path": parts.path, "query": dict(parse_qsl(parts.query)),
                    "body": body, "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                with fake._lock:
                    fake.requests.append(record)
                    failure = fake.fail.get((method, parts.path))
                    try:
                        status, answer = failure or fake._route(method, parts.path, record)
                    except Exception as e:  # a request the fake did not expect: fail loudly
                        fake.unknown.append(f"{method} {self.path}: {e!r}")
                        status, answer = 400, {"error": repr(e), "code": 3}
                time.sleep(fake.delay.get((method, parts.path), 0.0))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _route(self, method: str, path: str, record: dict) -> tuple[int, dict]:
        body, query = record["body"] or {}, record["query"]
        if (method, path) == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": self.multi_user}
        if (method, path) == ("GET", f"{API}/experiments"):
            found = list(self.experiments.values())
            for p in json.loads(query.get("filter") or '{"predicates": []}')["predicates"]:
                # kfp sends the Filter proto's operation as its enum number (EQUALS = 1)
                assert p["key"] == "display_name" and p["operation"] in (1, "EQUALS"), p
                found = [e for e in found if e["display_name"] == p["stringValue"]]
            if query.get("namespace"):
                found = [e for e in found if e["namespace"] == query["namespace"]]
            return 200, ({"experiments": found, "total_size": len(found)} if found else {})
        if (method, path) == ("POST", f"{API}/experiments"):
            eid = self.add_experiment(body["display_name"], body.get("namespace") or "")
            return 200, self.experiments[eid]
        if (method, path) == ("POST", f"{API}/runs"):
            rid = f"run-{next(self._ids)}"
            self.runs[rid] = {
                "run_id": rid, "display_name": body.get("display_name"),
                "experiment_id": body.get("experiment_id"), "state": "PENDING",
                "created_at": CREATED_AT,
            }
            return 200, self.runs[rid]
        if method == "GET" and path.startswith(f"{API}/runs/"):
            run = self.runs.get(path.rsplit("/", 1)[1])
            return (200, run) if run else (404, {"error": "no such run", "code": 5})
        if (method, path) == ("POST", f"{API}/recurringruns"):
            rid = f"rr-{next(self._ids)}"
            self.recurring_runs[rid] = {
                "recurring_run_id": rid, "display_name": body.get("display_name"),
                "experiment_id": body.get("experiment_id"), "status": "ENABLED",
                "created_at": CREATED_AT,
            }
            return 200, self.recurring_runs[rid]
        self.unknown.append(f"{method} {path}")
        return 404, {"error": f"the fake KFP API has no {method} {path}", "code": 5}


@pytest.fixture(autouse=True)
def _no_local_kfp_context(monkeypatch, tmp_path):
    """Neither a developer's ~/.config/kfp/context.json nor KFP env variables leak in."""
    import kfp.client.client as kfp_client

    monkeypatch.setattr(kfp_client.Client, "_LOCAL_KFP_CONTEXT",
                        str(tmp_path / "kfp-context.json"))
    for name in ("KFP_TOKEN", "KF_PIPELINES_ENDPOINT", "KF_PIPELINES_UI_ENDPOINT",
                 "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID", "KF_PIPELINES_APP_OAUTH2_CLIENT_ID",
                 "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET", "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
                 "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kfp_server():
    with FakeKfp() as server:
        yield server
    assert server.unknown == [], f"kfp.Client made calls the fake does not serve: {server.unknown}"


@pytest.fixture(scope="module")
def compiled(compiled_spec) -> dict:
    return json.loads(Path(compiled_spec).read_text())


def _submit(spec: Path, host: str, *extra: str) -> int:
    return main(["submit", "--spec", str(spec), "--host", host, *extra])


def _proto(spec: dict):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())


def _auc_lower_bound(eval_config: dict) -> float:
    for spec in eval_config["metricsSpecs"]:
        for metric in spec.get("metrics", []):
            if metric["className"] == "AUC":
                return metric["threshold"]["valueThreshold"]["lowerBound"]
    raise AssertionError("no AUC metric in eval_config")


def test_submit_creates_a_run_with_the_compiled_spec_inline(
    compiled_spec, compiled, kfp_server, capsys
):
    rc = _submit(compiled_spec, kfp_server.url, "--param", "train_steps=123",
                 "--param", "min_auc=0.8", "--experiment", "nightly", "--run-name", "r1")
    out, err = capsys.readouterr()
    assert rc == 0, err
    printed = json.loads(out)  # stdout is only the JSON result; kfp's links went to stderr
    assert "Run details:" in err and "submit: creating run 'r1'" in err

    calls = [(r["method"], r["path"]) for r in kfp_server.requests]
    assert calls == [
        ("GET", f"{API}/healthz"),  # our bounded reachability check
        ("GET", f"{API}/healthz"),  # kfp.Client's constructor
        ("GET", f"{API}/experiments"),
        ("POST", f"{API}/experiments"),
        ("POST", f"{API}/runs"),
    ]
    assert json.loads(kfp_server.requests[2]["query"]["filter"])["predicates"][0][
        "stringValue"] == "nightly"
    [experiment] = kfp_server.experiments.values()
    assert experiment["display_name"] == "nightly"

    [post] = kfp_server.posts("/runs")
    body = post["body"]
    assert body["display_name"] == "r1"
    assert body["experiment_id"] == experiment["experiment_id"]
    # the compiled pipeline, inline (nothing uploaded): same proto as the compiled file
    assert body["pipeline_spec"]["pipelineInfo"] == compiled["pipelineSpec"]["pipelineInfo"]
    assert _proto(body["pipeline_spec"]).root == _proto(compiled["pipelineSpec"]).root
    assert _proto(body["pipeline_spec"]) == _proto(compiled["pipelineSpec"])
    tasks = body["pipeline_spec"]["root"]["dag"]["tasks"]
    assert not tasks["NightlyFeatureGen"].get("cachingOptions", {}).get("enableCache")
    assert tasks["Trainer"]["cachingOptions"]["enableCache"] is True  # compiled caching kept
    assert set(body["pipeline_spec"]["root"]["inputDefinitions"]["parameters"]) == {
        "train_args", "eval_config"}

    runtime = body["runtime_config"]
    assert runtime["pipeline_root"] == compiled["runtimeConfig"]["gcsOutputDirectory"]
    assert set(runtime["parameters"]) == {"train_args", "eval_config"}
    assert json.loads(runtime["parameters"]["train_args"])["numSteps"] == 123
    assert _auc_lower_bound(json.loads(runtime["parameters"]["eval_config"])) == 0.8
    assert "authorization" not in post["headers"]

    assert printed["kind"] == "run"
    assert printed["id"] in kfp_server.runs and printed["id"] == kfp_server.runs[printed["id"]][
        "run_id"]
    assert printed["name"] == "r1"
    assert printed["experiment_id"] == experiment["experiment_id"]
    assert printed["experiment_name"] == "nightly"
    assert printed["host"] == kfp_server.url
    assert printed["parameters"] == runtime["parameters"]


def test_schedule_creates_a_recurring_run_in_the_existing_experiment(
    compiled_spec, compiled, kfp_server, capsys
):
    existing = kfp_server.add_experiment("nightly")
    rc = _submit(compiled_spec, kfp_server.url, "--experiment", "nightly",
                 "--schedule", "0 0 3 * * *")
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert kfp_server.posts("/experiments") == []  # reused, not created again
    assert kfp_server.posts("/runs") == []
    [post] = kfp_server.posts("/recurringruns")
    body = post["body"]
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["experiment_id"] == existing
    assert body["display_name"].startswith("cyclecast-")
    assert _proto(body["pipeline_spec"]) == _proto(compiled["pipelineSpec"])
    assert body["runtime_config"] == {
        "pipeline_root": compiled["runtimeConfig"]["gcsOutputDirectory"], "parameters": {}}

    printed = json.loads(out)
    assert printed["kind"] == "recurring_run"
    assert printed["id"] in kfp_server.recurring_runs
    assert printed["schedule"] == "0 0 3 * * *"
    assert printed["experiment_id"] == existing


def test_server_error_names_status_and_message(compiled_spec, kfp_server, capsys):
    kfp_server.fail[("POST", f"{API}/runs")] = (
        500, {"error": "internal", "code": 13,
              "message": "Failed to create a run: quota exceeded in namespace kubeflow"},
    )
    rc = _submit(compiled_spec, kfp_server.url, "--run-name", "r1")
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "HTTP 500" in err
    assert "quota exceeded in namespace kubeflow" in err
    assert "creating the run 'r1'" in err
    assert len(kfp_server.posts("/runs")) == 1  # no retry of a run creation


def test_unreachable_host_fails_fast(compiled_spec, capsys):
    started = time.monotonic()
    rc = _submit(compiled_spec, f"http://127.0.0.1:{free_port()}")
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert rc == 2
    assert "cannot reach the KFP API at http://127.0.0.1:" in err
    assert "refused" in err.lower()
    assert took < 10


def test_silent_server_times_out(compiled_spec):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        host = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(SubmitError, match="cannot reach the KFP API.*timed out"):
            submit_pipeline(compiled_spec, host, timeout=1.0)
        assert time.monotonic() - started < 5


def test_slow_run_creation_times_out_without_retry(compiled_spec, kfp_server):
    kfp_server.delay[("POST", f"{API}/runs")] = 3.0
    started = time.monotonic()
    with pytest.raises(SubmitError, match="cannot reach .* while creating the run 'r1'.*timed out"):
        submit_pipeline(compiled_spec, kfp_server.url, run_name="r1", timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert len(kfp_server.posts("/runs")) == 1  # a POST is never re-sent


def test_rejected_token_is_named(compiled_spec, kfp_server):
    kfp_server.fail[("GET", f"{API}/healthz")] = (
        401, {"error": "Unauthorized", "code": 16, "message": "Jwt is expired"})
    with pytest.raises(SubmitError, match="HTTP 401 .*Jwt is expired.*check the token"):
        submit_pipeline(compiled_spec, kfp_server.url, token="old")
    assert len(kfp_server.requests) == 1


def test_bad_cron_sends_nothing(compiled_spec, kfp_server, capsys):
    rc = _submit(compiled_spec, kfp_server.url, "--schedule", "0 3 * * *")
    err = capsys.readouterr().err
    assert rc == 2
    assert "bad cron '0 3 * * *'" in err and "6 fields" in err and "'0 0 3 * * *'" in err
    assert kfp_server.requests == []


@pytest.mark.parametrize("cron", ["0 0 3 * *", "0 0 25 * * *", "0 0 3 * * * *", "0 0 x * * *",
                                  "0 0 3 * * 7", "0 */0 * * * *"])
def test_validate_cron_rejects(cron):
    with pytest.raises(SubmitError, match="bad cron"):
        validate_cron(cron)


@pytest.mark.parametrize("cron", ["0 0 3 * * *", "0 30 2 * * MON-FRI", "0 */15 * * * ?",
                                  "0 0 1,13 1-31 JAN-DEC 0-6"])
def test_validate_cron_accepts(cron):
    assert validate_cron(f"  {cron} ") == cron


def test_token_file_sends_bearer_and_namespace_on_multi_user(compiled_spec, tmp_path, capsys):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with FakeKfp(multi_user=True) as server:
        # multi-user without a namespace: a clear error after the health check, nothing created
        rc = _submit(compiled_spec, server.url, "--token-file", str(token_file))
        assert rc == 2
        assert "multi-user: give --namespace" in capsys.readouterr().err
        assert [r["path"] for r in server.requests] == [f"{API}/healthz"]

        rc = _submit(compiled_spec, server.url, "--token-file", str(token_file),
                     "--namespace", "team-a")
        assert rc == 0, capsys.readouterr().err
    assert server.unknown == []
    assert server.requests
    assert {r["headers"].get("authorization") for r in server.requests} == {
        "Bearer s3cret-token"}
    [listing] = [r for r in server.requests if r["path"] == f"{API}/experiments"
                 and r["method"] == "GET"]
    assert listing["query"]["namespace"] == "team-a"
    [created] = server.posts("/experiments")
    assert created["body"]["namespace"] == "team-a"
    assert len(server.posts("/runs")) == 1


def test_load_token(tmp_path, monkeypatch):
    assert load_token(None) is None
    monkeypatch.setenv("KFP_TOKEN", " from-env \n")
    assert load_token(None) == "from-env"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert load_token(str(token_file)) == "from-file"  # the file wins over the environment
    token_file.write_text(" \n")
    with pytest.raises(SubmitError, match="is empty"):
        load_token(str(token_file))
    with pytest.raises(SubmitError, match="cannot read the token file"):
        load_token(str(tmp_path / "missing"))


def test_bad_spec_and_parameters_send_nothing(compiled_spec, kfp_server, tmp_path):
    not_json = tmp_path / "spec.json"
    not_json.write_text("apiVersion: v1\n")
    with pytest.raises(SubmitError, match="bad spec file .*not JSON"):
        submit_pipeline(not_json, kfp_server.url)
    no_spec = tmp_path / "other.json"
    no_spec.write_text(json.dumps({"displayName": "x"}))
    with pytest.raises(SubmitError, match="no 'pipelineSpec'"):
        submit_pipeline(no_spec, kfp_server.url)
    with pytest.raises(SubmitError, match=r"no parameter\(s\) \['train_stepz'\]"):
        submit_pipeline(compiled_spec, kfp_server.url, parameters={"train_stepz": "1"})
    with pytest.raises(SubmitError, match="bad host"):
        submit_pipeline(compiled_spec, "ml-pipeline:8888")
    assert kfp_server.requests == []


def test_default_run_name_is_utc():
    import datetime as dt

    when = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert default_run_name(when) == "cyclecast-20250304-030607"
