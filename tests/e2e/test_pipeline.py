"""The pipeline on small generated data: push, cache, refuse a worse model, stop on anomalies."""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

from synthetic.generate import generate_dataset
from tests.conftest import pipeline_config

pytestmark = pytest.mark.e2e

UPSTREAM = ["ImportSchemaGen", "NightlyFeatureGen", "StatisticsGen", "ExampleValidator",
            "AnomalyGate", "Transform", "Trainer", "CalendarBaseline"]


def test_first_run_is_blessed_on_value_thresholds_and_pushed(pipeline_runs):
    cfg, first, _, _ = pipeline_runs
    assert all(state == "COMPLETE" for state in first.executions.values()), first.executions
    assert first.blessed is True and first.baseline == {}
    assert first.pushed_path and os.path.isfile(os.path.join(first.pushed_path, "saved_model.pb"))
    assert Path(first.pushed_path).parent == Path(cfg.serving_dir) / cfg.model_name
    assert Path(first.pushed_path).name.isdigit()  # TF Serving's integer version directory
    assert sum(first.examples.values()) > 1000 and first.examples["eval"] > 50
    assert first.quarantine["valid_nights"] == sum(first.examples.values())


def test_metrics_are_in_a_sane_range(pipeline_runs):
    _, first, _, _ = pipeline_runs
    m = first.candidate
    assert 0.6 <= m["auc"] <= 1.0
    assert 0.0 < m["recall"] <= 1.0 and 0.5 <= m["specificity"] <= 1.0
    assert m["example_count"] == first.examples["eval"]
    assert 0.05 < m["mean_label"] < 0.4  # the fertile window is about 20% of nights
    cal = first.calendar
    assert cal["examples"] == first.examples["eval"]
    assert 0.0 < cal["sensitivity"] < 1.0 and 0.5 < cal["specificity"] < 1.0
    assert set(first.slices) >= {"cycle_regularity=unknown"}


def test_pushed_model_loads_and_scores_raw_examples(pipeline_runs):
    import tensorflow as tf

    _, first, _, _ = pipeline_runs
    examples_dir = glob.glob(str(Path(first.pushed_path).parents[2] / "pipeline_root"
                                 / "NightlyFeatureGen" / "examples" / "*" / "Split-eval"))[0]
    files = sorted(glob.glob(f"{examples_dir}/*.gz"))
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    model = tf.saved_model.load(first.pushed_path)
    out = model.signatures["serving_default"](examples=tf.constant(records))
    probability = out["probability"].numpy().ravel()
    assert probability.shape == (len(records),)
    assert np.all((probability >= 0) & (probability <= 1)) and probability.std() > 0.01
    decision = out["fertile"].numpy().ravel()
    assert set(np.unique(decision)) <= {0, 1}


def test_second_run_with_the_same_inputs_is_served_from_cache(pipeline_runs):
    _, first, second, _ = pipeline_runs
    for name in UPSTREAM:
        assert second.executions[name] == "CACHED", (name, second.executions)
    assert second.run_id != first.run_id
    # the first run's model is now the blessed baseline, and it compares equal with itself
    assert second.baseline["auc"] == pytest.approx(second.candidate["auc"])
    assert second.blessed is True


def test_worse_candidate_than_the_blessed_baseline_is_not_pushed(pipeline_runs):
    cfg, first, second, worse = pipeline_runs
    assert worse.executions["Trainer"] == "COMPLETE"
    assert worse.candidate["auc"] < worse.baseline["auc"] - 0.01
    assert worse.blessed is False and worse.pushed_path is None
    versions = sorted(v for v in os.listdir(Path(cfg.serving_dir) / cfg.model_name) if v.isdigit())
    assert Path(first.pushed_path).name in versions
    assert len(versions) == len({first.pushed_path, second.pushed_path} - {None})


def _shift_temperature(path: Path, by: float) -> None:
    """Rewrite a raw file with skin temperature shifted (a miscalibrated sensor)."""
    try:
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    except (EOFError, OSError, zlib.error):  # an injected truncated or corrupt upload: leave it
        return
    out = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        if f[3]:
            f[3] = f"{float(f[3]) + by:.2f}"
        out.append(",".join(f))
    path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode(), mtime=0))


def test_schema_violations_stop_the_run_before_transform(tmp_path, capsys):
    from components.population_checks import POPULATION
    from components.spans.refusals import REFUSED_DIR
    from pipeline.cli import main
    from pipeline.orchestration.local_runner import RunStopped, run_local
    from pipeline.runs.summary import format_run_summary, summarize_run
    from tests.rawfiles import read_jsonl

    data = tmp_path / "data"
    generate_dataset(data, users=10, cycles=1, seed=3, progress=False)
    # three users' sensors read 7 C low (nightly medians near 27 C: accepted rows, bad nights):
    # each such night is that user's invalid night; 3 in 10 is a population problem
    for user in ("u00002", "u00003", "u00004"):
        for path in (data / "nights").glob(f"*/{user}.csv.gz"):
            _shift_temperature(path, -7.0)
    cfg = pipeline_config(tmp_path / "work", data)
    with pytest.raises(RunStopped) as stopped:
        run_local(cfg)
    message = str(stopped.value)
    assert "too many nights outside the schema's ranges" in message and "skin_temp" in message
    assert "nothing is trained or pushed" in message
    summary = summarize_run(cfg.metadata_path, cfg.pipeline_name, stopped.value.run_id)
    assert summary.run_id == stopped.value.run_id
    assert summary.executions["AnomalyGate"] == "FAILED"
    # the valid users' answers went out before the gate stopped the run
    assert summary.executions["NightlyPredictions"] == "COMPLETE"
    # the odd nights were quarantined one by one, naming the feature and the bound
    quarantine = glob.glob(f"{cfg.pipeline_root}/NightlyFeatureGen/quarantine/*")[0]
    ledger = read_jsonl(quarantine, "nights")
    odd = [e for e in ledger if e["invalid_reason"] == "feature_out_of_range"]
    assert odd and all(e["invalid_detail"].startswith("skin_temp ") for e in odd)
    assert all("< 30 (the schema's minimum)" in e["invalid_detail"] for e in odd)
    # and every night the gate judged is refused for later training windows
    refused = sorted(p.name for p in (Path(cfg.span_store) / REFUSED_DIR).iterdir())
    assert refused and all(name.endswith(".AnomalyGate.json") for name in refused)
    assert set(summary.anomalies[POPULATION]) == {"skin_temp"}
    assert "Transform" not in summary.executions and "Trainer" not in summary.executions
    assert not (Path(cfg.serving_dir)).exists()
    assert summary.code["git_commit"] and summary.code["config"]  # provenance of a stopped run

    # the anomalies, per split (here the nights' population) and feature, in what `cyclecast
    # run` prints when it stops...
    broken = {split: by for split, by in summary.anomalies.items() if by}
    assert broken == {POPULATION: summary.anomalies[POPULATION]}, summary.anomalies
    text = format_run_summary(summary)
    assert "none (the schema check passed)" not in text
    assert "(the schema check failed)" in text
    assert any(x.startswith("  [") and "skin_temp:" in x for x in text.splitlines()), text
    # ... in `runs show`...
    assert main(["runs", "show", summary.run_id, "--metadata", cfg.metadata_path]) == 0
    shown = capsys.readouterr().out
    assert "(the schema check failed)" in shown and "skin_temp:" in shown
    # ... and in the report
    page = tmp_path / "stopped.html"
    args = ["report", summary.run_id, "--out", str(page), "--metadata", cfg.metadata_path]
    assert main(args) == 0
    html = page.read_text()
    assert 'class="bad">Anomalies in' in html and "skin_temp" in html
    assert "anomalies-none" not in html
