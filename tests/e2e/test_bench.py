"""`cyclecast bench` keeps working, and the plain script builds the Beam feature job's examples."""

from __future__ import annotations

import re

import pytest

from tests.bench_data import bench_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bench_dataset(tmp_path_factory)


@pytest.mark.e2e
def test_plain_script_builds_the_feature_jobs_examples(data, tmp_path):
    """The plain baseline's examples are the Beam job's, split for split, byte for byte."""
    from benchmarks.plain_baseline import nightly_examples
    from components.nightly_features.job import run_feature_job
    from transforms.tf_example import read_examples, to_serialized_example

    salt = b"test-salt-0123456789"
    run_feature_job(str(data), str(tmp_path / "out"), salt, ["--runner=DirectRunner"])
    plain = nightly_examples(str(data), salt)
    for split, rows in plain.items():
        beam = read_examples(str(tmp_path / "out" / "examples" / f"Split-{split}" / "*.gz"))
        want = sorted(to_serialized_example(e) for e in beam)
        assert sorted(to_serialized_example(e) for e in rows) == want, split


@pytest.mark.e2e
def test_bench_command_writes_every_figure(tmp_path):
    from pipeline.cli import main

    out = tmp_path / "BENCHMARKS.md"
    # the whole TFX run takes minutes even on the smallest data: measured by the real bench only
    assert main(["bench", "--size", "smallest", "--skip", "whole-run", "--output", str(out)]) == 0
    text = out.read_text()
    for name in (
        "floor",
        "pandas",
        "Beam DirectRunner in_memory",
        "Beam DirectRunner multi_processing",
    ):
        row = next(line for line in text.splitlines() if line.startswith(f"| {name}"))
        seconds, cpu, rate = (float(x.replace(",", "")) for x in row.split("|")[2:5])
        assert seconds > 0 and cpu > 0 and rate > 0
    for factor in ("1x", "4x", "16x"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {factor} "))
        assert row.rstrip().endswith("MiB |")
    assert "Fixed start-up (one raw file)" in text
    assert re.search(r"one night of a 200,000-user fleet's raw data is [\d,.]+ core-hours", text)
    # the nightly path: with 7 and 30 nights already ingested, the next night ingests one night
    # and reads exactly its own raw files, its history from 28 (or all 7) stored nights
    for history in (7, 30):
        row = next(line for line in text.splitlines() if line.startswith(f"| {history} | 20"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        nights_ingested, files_read, new_files, from_store = (int(c) for c in cells[2:6])
        assert nights_ingested == 1 and files_read == new_files > 0
        assert from_store == min(history, 28)
    assert re.search(r"\*\*[\d,.]+ core-hours a night\*\* for 200,000 users", text)
