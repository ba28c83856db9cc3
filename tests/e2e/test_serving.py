"""Serving: training/serving parity, TF Serving's layout and contract, bad requests, skew."""

from __future__ import annotations

import base64
import glob
import json
import threading
from concurrent import futures
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.json_http import JsonHandler
from transforms import features as fc
from transforms.serving_request import (
    BadRequest,
    load_schema,
    night_from_example,
    schema_ranges,
    validate_night,
)

pytestmark = pytest.mark.e2e


def _one(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


@pytest.fixture(scope="module")
def served(pipeline_runs):
    """The pushed model, the raw eval examples and Transform's materialised eval output."""
    import tensorflow as tf

    cfg, first, _, _ = pipeline_runs
    root = cfg.pipeline_root
    raw_dir = _one(f"{root}/NightlyFeatureGen/examples/*/Split-eval")
    transformed_dir = _one(f"{root}/Transform/transformed_examples/*/Split-eval")

    def records(directory):
        files = sorted(glob.glob(f"{directory}/*.gz"))
        return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())

    model = tf.saved_model.load(first.pushed_path)
    return {"cfg": cfg, "first": first, "model": model, "raw": records(raw_dir),
            "raw_dir": raw_dir, "transformed": records(transformed_dir),
            "stats": _one(f"{root}/StatisticsGen/statistics/*/Split-train/FeatureStats.pb")}


def _parse_transformed(records: list[bytes]) -> dict[str, np.ndarray]:
    from tensorflow.core.example import example_pb2

    columns: dict[str, list] = {}
    for r in records:
        ex = example_pb2.Example.FromString(r)
        for name, feature in ex.features.feature.items():
            kind = feature.WhichOneof("kind")
            columns.setdefault(name, []).append(list(getattr(feature, kind).value))
    return {k: np.array(v) for k, v in columns.items()}  # [examples, values per example]


def _matrix(columns: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """One row per example: the named features side by side (a sequence feature's every value)."""
    return np.concatenate(
        [columns[n].astype(np.float64).reshape(len(columns[n]), -1) for n in names], axis=1)


def _rows_sorted(columns: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    names = sorted(columns)
    matrix = _matrix(columns, names)
    return names, matrix[np.lexsort(matrix.T[::-1])]


def test_signatures_of_the_pushed_model(served):
    sigs = served["model"].signatures
    assert {"serving_default", "predict_raw", "transform_features"} <= set(sigs)
    inputs = sigs["serving_default"].structured_input_signature[1]
    assert list(inputs) == ["examples"]
    raw_inputs = sigs["predict_raw"].structured_input_signature[1]
    assert set(raw_inputs) == set(fc.SERVING_FEATURES) and fc.LABEL_KEY not in raw_inputs


def test_parity_beam_transform_equals_the_exported_transform_graph(served):
    import tensorflow as tf

    beam_cols = _parse_transformed(served["transformed"])
    graph_out = served["model"].signatures["transform_features"](
        examples=tf.constant(served["raw"]))
    graph_cols = {k: v.numpy() for k, v in graph_out.items()}
    assert set(beam_cols) == set(graph_cols) and len(served["raw"]) == len(served["transformed"])
    # exact for integers (the label); the float features within 1e-6
    assert sorted(beam_cols[fc.LABEL_KEY].ravel().tolist()) == sorted(
        graph_cols[fc.LABEL_KEY].ravel().tolist())
    names, beam_rows = _rows_sorted(beam_cols)
    _, graph_rows = _rows_sorted(graph_cols)
    np.testing.assert_allclose(graph_rows, beam_rows, rtol=0, atol=1e-6)


def test_parity_served_predictions_equal_the_keras_model_on_transform_output(served):
    import tensorflow as tf
    import tf_keras

    model = served["model"]
    raw = tf.constant(served["raw"])
    served_p = model.signatures["serving_default"](examples=raw)["probability"].numpy().ravel()
    transformed = {k: v.numpy() for k, v in model.signatures["transform_features"](
        examples=raw).items()}
    # pair every raw night with its row of Transform's materialised (Beam) output
    beam_cols = _parse_transformed(served["transformed"])
    names = sorted(n for n in beam_cols if n != fc.LABEL_KEY)
    beam_matrix = _matrix(beam_cols, names)
    graph_matrix = _matrix(transformed, names)
    distance = np.abs(graph_matrix[:, None, :] - beam_matrix[None, :, :]).max(axis=2)
    match = distance.argmin(axis=1)
    assert np.all(distance[np.arange(len(match)), match] < 1e-6)
    assert len(set(match.tolist())) == len(match)
    keras_model = tf_keras.models.load_model(served["first"].pushed_path)
    widths = [beam_cols[n].reshape(len(beam_cols[n]), -1).shape[1] for n in names]
    starts = np.cumsum([0, *widths])
    keras_inputs = {n: beam_matrix[match, starts[i]:starts[i + 1]].astype(np.float32)
                    for i, n in enumerate(names)}
    keras_p = keras_model.predict(keras_inputs, verbose=0).ravel()
    np.testing.assert_allclose(served_p, keras_p, rtol=0, atol=1e-6)


def _nights(served, n=8):
    from transforms.tf_example import read_examples

    return [night_from_example(r) for r in read_examples(f"{served['raw_dir']}/*.gz")[:n]]


def _scorable_night(served) -> dict:
    """The first night of the served split that the batch path would score (enough history)."""
    from components.nightly_features.user_history import too_little_history
    from transforms.features import HISTORY_MASK

    return next(n for n in _nights(served, 10_000) if not too_little_history(n[HISTORY_MASK]))


def test_raw_tensor_signature_agrees_with_serialized_examples(served):
    import tensorflow as tf

    from pipeline.serving.predict import build_requests

    nights = _nights(served)
    by_example = served["model"].signatures["serving_default"](
        examples=tf.constant(build_requests(nights)))["probability"].numpy()
    spec = fc.serving_spec()
    tensors = {n: tf.constant([night[n] if spec[n].length > 1 else [night[n]] for night in nights],
                              dtype=tf.float32 if spec[n].dtype == "float" else tf.int64)
               for n in fc.SERVING_FEATURES}
    by_tensor = served["model"].signatures["predict_raw"](**tensors)["probability"].numpy()
    np.testing.assert_allclose(by_tensor, by_example, atol=1e-6)


def test_tf_serving_layout_and_warmup_requests(served):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    cfg, first = served["cfg"], served["first"]
    version_dir = Path(first.pushed_path)
    assert version_dir.parent == Path(cfg.serving_dir) / "cyclecast" and version_dir.name.isdigit()
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / "variables" / "variables.index").is_file()
    warmup = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    logs = [prediction_log_pb2.PredictionLog.FromString(r)
            for r in tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator()]
    assert len(logs) == 2
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "cyclecast"
        assert request.model_spec.signature_name == "serving_default"
        examples = tf.make_ndarray(request.inputs["examples"])
        out = served["model"].signatures["serving_default"](examples=tf.constant(examples))
        assert out["probability"].shape[0] == len(examples)


class _FakeRestServer(JsonHandler):
    """TF Serving's REST predict API answered by the SavedModel (no model server runs here)."""

    model = None
    calls: list = []

    def do_POST(self):  # noqa: N802
        import tensorflow as tf

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append((self.path, body))
        if self.path != "/v1/models/cyclecast:predict":
            return self.send_json(404, {"error": f"Servable not found for request: {self.path}"})
        examples = [base64.b64decode(i["b64"]) for i in body["instances"]]
        try:
            out = self.model.signatures[body.get("signature_name", "serving_default")](
                examples=tf.constant(examples))
        except tf.errors.InvalidArgumentError as e:
            return self.send_json(400, {"error": e.message})
        rows = [{k: v.numpy()[i].tolist() for k, v in out.items()} for i in range(len(examples))]
        self.send_json(200, {"predictions": rows})



@pytest.fixture
def rest_server(served):
    _FakeRestServer.model = served["model"]
    _FakeRestServer.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRestServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_rest_contract(served, rest_server):
    from pipeline.serving.predict import ServingError, build_requests, predict_local, predict_rest

    serialized = build_requests(_nights(served))
    local = predict_local(served["first"].pushed_path, serialized)
    remote = predict_rest(rest_server, "cyclecast", serialized)
    assert [round(p.probability, 6) for p in remote] == [round(p.probability, 6) for p in local]
    assert [p.fertile for p in remote] == [p.fertile for p in local]
    path, body = _FakeRestServer.calls[-1]
    assert path == "/v1/models/cyclecast:predict" and body["signature_name"] == "serving_default"
    assert base64.b64decode(body["instances"][0]["b64"]) == serialized[0]
    with pytest.raises(ServingError, match="answered 404"):
        predict_rest(rest_server, "other-model", serialized)


def test_grpc_contract(served):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pipeline.serving.predict import build_requests, predict_grpc, predict_local

    seen = []

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            seen.append(request)
            examples = tf.make_ndarray(request.inputs["examples"])
            out = served["model"].signatures[request.model_spec.signature_name](
                examples=tf.constant(examples))
            response = predict_pb2.PredictResponse()
            for k, v in out.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        serialized = build_requests(_nights(served))
        remote = predict_grpc(f"127.0.0.1:{port}", "cyclecast", serialized)
    finally:
        server.stop(0)
    local = predict_local(served["first"].pushed_path, serialized)
    np.testing.assert_allclose([p.probability for p in remote], [p.probability for p in local],
                               atol=1e-6)
    assert seen[0].model_spec.name == "cyclecast"
    assert list(tf.make_ndarray(seen[0].inputs["examples"])) == serialized


def test_bad_requests_are_named_before_sending(served):
    ranges = schema_ranges(load_schema())
    good = _nights(served, 1)[0]
    assert validate_night(good, ranges)
    cases = [
        ({k: v for k, v in good.items() if k != "skin_temp"}, "skin_temp: missing"),
        ({**good, "heart_rate": "58"}, "heart_rate: expected numbers"),
        ({**good, "cycle_day": 3.5}, "cycle_day: expected whole numbers"),
        ({**good, "skin_temp": 93.1}, "skin_temp: 93.1 is above the schema's maximum 38.0"),
        ({**good, "hrv_rmssd": float("nan")}, "hrv_rmssd: NaN or infinite value"),
        ({**good, fc.HISTORY_MASK: [1, 0]}, "hist_valid: expected 28 value(s), got 2"),
    ]
    for night, message in cases:
        with pytest.raises(BadRequest) as e:
            validate_night(night, ranges)
        assert message in str(e.value)


def test_bad_requests_get_a_clear_error_from_the_model_not_a_nan(served):
    import tensorflow as tf

    from transforms.tf_example import to_serialized_example

    good = validate_night(_nights(served, 1)[0])
    spec = fc.serving_spec()
    hot = to_serialized_example({**good, "skin_temp": [93.1]}, spec=spec)  # Fahrenheit
    serve = served["model"].signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="skin_temp is above 38"):
        serve(examples=tf.constant([hot]))
    missing = to_serialized_example({k: v for k, v in good.items() if k != "heart_rate"},
                                    spec={k: v for k, v in spec.items() if k != "heart_rate"})
    with pytest.raises(tf.errors.InvalidArgumentError, match="heart_rate"):
        serve(examples=tf.constant([missing]))
    wrong_type = to_serialized_example(
        {**good, "perfusion": [1]}, spec={**spec, "perfusion": fc.FeatureSpec("int")})
    with pytest.raises(tf.errors.InvalidArgumentError, match="perfusion"):
        serve(examples=tf.constant([wrong_type]))


def test_predict_command_answers_from_the_pushed_model(served, tmp_path, capsys):
    from pipeline.cli import main

    night = tmp_path / "night.json"
    night.write_text(json.dumps(_scorable_night(served)))
    assert main(["predict", "--local", str(Path(served["first"].pushed_path).parent),
                 "--night", str(night)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert 0.0 <= line["probability"] <= 1.0 and isinstance(line["fertile"], bool)
    night.write_text(json.dumps({**_scorable_night(served), "skin_temp": 93.1}))
    assert main(["predict", "--local", served["first"].pushed_path, "--night", str(night)]) == 2
    assert "skin_temp: 93.1 is above" in capsys.readouterr().err


def test_requests_from_the_eval_split_show_no_skew(served, tmp_path):
    from pipeline.serving.predict import build_requests, log_requests
    from pipeline.serving.skew import check_serving_skew

    log_requests(str(tmp_path / "log"), build_requests(_nights(served, 10_000)))
    report = check_serving_skew(str(tmp_path / "log" / "*"), served["stats"])
    assert report.requests == len(served["raw"]) and report.ok, report.format()


def test_skewed_requests_are_flagged(served, tmp_path):
    from pipeline.serving.predict import log_requests
    from pipeline.serving.skew import check_serving_skew
    from transforms.tf_example import to_serialized_example

    spec = {k: v for k, v in fc.serving_spec().items() if k != "hrv_rmssd"}  # an app bug
    skewed = []
    for night in _nights(served, 10_000):
        night = validate_night(night)
        night["skin_temp"] = [night["skin_temp"][0] * 9 / 5 + 32]  # a Fahrenheit device
        skewed.append(to_serialized_example(
            {k: v for k, v in night.items() if k != "hrv_rmssd"}, spec=spec))
    log_requests(str(tmp_path / "log"), skewed)
    report = check_serving_skew(str(tmp_path / "log" / "*"), served["stats"])
    assert not report.ok
    assert "skin_temp" in report.anomalies and "hrv_rmssd" in report.anomalies
    assert "heart_rate" not in report.anomalies


def test_evaluate_command_agrees_with_tfma_and_the_calendar_component(served):
    from pipeline.serving.evaluate import evaluate

    first = served["first"]
    result = evaluate(first.pushed_path, f"{served['raw_dir']}/*.gz")
    model, calendar = result["model"], result["calendar"]
    assert model["examples"] == first.examples["eval"]
    assert model["sensitivity"] == pytest.approx(first.candidate["recall"], abs=1e-6)
    assert model["specificity"] == pytest.approx(first.candidate["specificity"], abs=1e-6)
    # (TFMA's AUC interpolates over score buckets; ours is the exact rank statistic: see below)
    for key in ("sensitivity", "specificity", "accuracy", "precision"):
        assert calendar[key] == pytest.approx(first.calendar[key], abs=1e-9)


def test_auc_is_the_exact_rank_statistic():
    from pipeline.serving.evaluate import auc

    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)  # a tie counts 1/2
    assert auc([1, 1], [0.2, 0.3]) != auc([1, 1], [0.2, 0.3])  # NaN: undefined with one class
