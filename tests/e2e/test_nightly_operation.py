"""Nightly operation: dated spans ingested once, byte-identical re-runs, drift stops a run."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json

import pytest

from components.spans.dates import span_of
from tests.rawfiles import write_steady_root

FIRST = dt.date(2026, 1, 5)


def _run_gen(tmp_path, data, root_name, night=None, window_nights=None, cache=False):
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.nightly_features.component import NightlyFeatureGen, night_range_config

    salt = tmp_path / "salt"
    salt.write_text("nightly-operation-salt-0123456789")
    gen = NightlyFeatureGen(
        input_base=str(data), salt_file=str(salt), window_nights=window_nights,
        span_store=str(tmp_path / root_name / "spans"),
        range_config=night_range_config(night) if night else None)
    LocalDagRunner().run(pipeline.Pipeline(
        pipeline_name="nightly-op", pipeline_root=str(tmp_path / root_name), components=[gen],
        enable_cache=cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            str(tmp_path / f"{root_name}.db")),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]))
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / f"{root_name}.db")
    store = metadata_store.MetadataStore(config)
    return store.get_artifacts_by_type("Examples")[-1], store


def _hashes(uri) -> dict[str, str]:
    from pathlib import Path

    return {str(p.relative_to(uri)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(uri).rglob("*")) if p.is_file()}


@pytest.mark.e2e
def test_spans_are_ingested_once_and_reruns_are_byte_identical(tmp_path):
    from transforms.tf_example import read_examples

    data = tmp_path / "data"
    write_steady_root(data, nights=10, vary_heart_rate=True)

    # a first run for 2026-01-10 ingests every night its window and their history need
    night = "2026-01-10"
    first, _ = _run_gen(tmp_path, data, "a", night=night, window_nights=3)
    assert first.properties["span"].int_value == span_of(dt.date(2026, 1, 10))
    assert first.custom_properties["first_night"].string_value == "2026-01-05"
    assert first.custom_properties["nights_ingested"].int_value == 6
    rows = read_examples(f"{first.uri}/Split-*/*.gz")
    assert len(rows) == 6 * 3
    night_8 = next(r for r in rows if r["night_date"][0] == b"2026-01-08")
    assert night_8["hist_valid"][-3:] == [1, 1, 1] and sum(night_8["hist_valid"]) == 3
    assert night_8["hist_heart_rate"][-1] == pytest.approx(57.0)

    # the same night again, in a fresh pipeline root: byte-identical examples
    again, _ = _run_gen(tmp_path, data, "b", night=night, window_nights=3)
    assert _hashes(first.uri) == _hashes(again.uri)
    assert len(_hashes(first.uri)) == 6 * 3  # a shard per night and split, the empty ones too

    # no night named: the latest night folder is the span; only the nights not yet ingested
    # are read, and the new nights' history comes from the stored statistics
    latest, _ = _run_gen(tmp_path, data, "a", window_nights=3)
    assert latest.properties["span"].int_value == span_of(FIRST + dt.timedelta(days=9))
    assert latest.custom_properties["first_night"].string_value == "2026-01-11"
    assert latest.custom_properties["nights_ingested"].int_value == 4
    rows = read_examples(f"{latest.uri}/Split-*/*.gz")
    assert sorted({r["night_date"][0].decode() for r in rows}) == [
        "2026-01-11", "2026-01-12", "2026-01-13", "2026-01-14"]
    night_11 = next(r for r in rows if r["night_date"][0] == b"2026-01-11")
    assert sum(night_11["hist_valid"]) == 6 and night_11["hist_heart_rate"][-1] == pytest.approx(60)
    ledger_files = list((tmp_path / "a").rglob("nights-2026-01-1*.jsonl.gz"))
    ledger = [json.loads(line) for f in ledger_files for line in gzip.open(f)]
    assert len(ledger) == 3 * (1 + 4)  # 01-10 from the first run, 01-11..14 from this one
    assert all("features" in e for e in ledger)


def _shift_heart_rate(night_dir, bpm: float) -> int:
    """Rewrite every raw file of a night as a firmware reading ``bpm`` too high would."""
    from transforms import raw_format as rf

    col = rf.RAW_COLUMNS.index("heart_rate")
    n = 0
    for path in sorted(night_dir.glob("*.csv.gz")):
        try:
            lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        except (OSError, EOFError):
            continue  # a corrupt or truncated upload stays as it is
        out = [lines[0]]
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) == len(rf.RAW_COLUMNS) and fields[col]:
                fields[col] = f"{float(fields[col]) + bpm:.1f}"
            out.append(",".join(fields))
        path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode(), mtime=0))
        n += 1
    return n


@pytest.mark.e2e
def test_drift_stops_the_run_the_override_trains_and_the_next_night_compares_with_it(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.config import DriftConfig, EvaluationConfig
    from pipeline.orchestration.local_runner import RunStopped, run_local
    from synthetic.generate import generate_dataset
    from tests.conftest import pipeline_config

    data = tmp_path / "data"
    generate_dataset(data, users=16, cycles=2, seed=11, progress=False)
    night = "2026-02-20"  # every generated user is recording by then
    assert _shift_heart_rate(data / "nights" / night, 20.0) >= 14
    cfg = pipeline_config(tmp_path / "work", data, night=night, window_nights=30,
                          drift=DriftConfig(min_nights=10))
    with pytest.raises(RunStopped) as stopped:
        run_local(cfg)
    message = str(stopped.value)
    assert "drifted" in message and "DRIFT heart_rate: jensen_shannon_divergence" in message
    assert f"night {night}" in message

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = cfg.metadata_path
    store = metadata_store.MetadataStore(config)
    assert not store.get_artifacts_by_type("Model")  # nothing trained

    from pipeline.runs.summary import format_run_summary, summarize_run

    # the stopped run can be summarised (what `cyclecast run` prints when it stops); a failed
    # DriftGate publishes no report, so the summary's drift line says "not recorded"
    stopped_run = summarize_run(cfg.metadata_path, cfg.pipeline_name, stopped.value.run_id)
    assert stopped_run.executions["DriftGate"] == "FAILED"
    assert "Trainer" not in stopped_run.executions
    assert stopped_run.code["git_commit"]  # provenance is recorded on a stopped run too

    # blessed whatever it scores, so that the next night has a baseline to compare with
    allowed = cfg.with_changes(drift=DriftConfig(min_nights=10, allow=True),
                               evaluation=EvaluationConfig(min_auc=0.0, min_sensitivity=0.0,
                                                           min_specificity=0.0, max_auc_drop=1.0))
    summary = summarize_run(cfg.metadata_path, cfg.pipeline_name, run_local(allowed))
    report = store.get_artifacts_by_type("components.DriftReport")[-1]
    assert report.custom_properties["status"].string_value == "overridden"
    assert "heart_rate" in report.custom_properties["drifted_features"].string_value
    saved = json.loads(open(f"{report.uri}/drift.json").read())
    assert saved["night"] == night and saved["status"] == "overridden"
    assert store.get_artifacts_by_type("Model") and summary.examples["train"] > 0
    # the run summary (`cyclecast run`, `runs show`) says what was overridden, and which nights
    assert summary.drift["status"] == "overridden"
    assert summary.data["last_night"] == night and summary.data["first_night"] == "2026-01-22"
    text = format_run_summary(summary)
    (line,) = [x for x in text.splitlines() if x.startswith("drift ")]
    assert f"OVERRIDDEN: {night} vs 2026-02-19," in line and "heart_rate" in line
    assert f"span {span_of(dt.date(2026, 2, 20))}" in text
    assert f"window 2026-01-22..{night} (30 nights)" in text

    # The next night in the same work directory (`cyclecast run --night` twice): its Evaluator's
    # baseline is the first night's Trainer model, found from the Pusher's record (no Resolver).
    (first_model,) = store.get_artifacts_by_type("Model")
    assert summary.pushed_path
    following = allowed.with_changes(night="2026-02-21")
    next_summary = summarize_run(cfg.metadata_path, cfg.pipeline_name, run_local(following))
    blessings = store.get_artifacts_by_type("ModelBlessing")
    assert len(blessings) == 2 and "baseline_model" not in blessings[0].custom_properties
    assert blessings[1].custom_properties["baseline_model"].string_value == first_model.uri
    assert next_summary.baseline and next_summary.data["last_night"] == "2026-02-21"
