"""The benchmark's peers compute the same features, and `cyclecast bench` keeps working."""

from __future__ import annotations

import re

import pytest

from components.nightly_features.night import decode_file, extract_features, parse_rows
from pipeline.bench import floor_features, pandas_features, raw_files


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from components.synthetic.generate import FaultRates, generate_dataset

    root = tmp_path_factory.mktemp("bench")
    clean = FaultRates(missing_night=0, off_wrist=0, motion_corrupted=0.3, short_night=0,
                       duplicated_rows=0, out_of_order_rows=0, truncated_file=0, corrupt_file=0,
                       fahrenheit_user=0, sensor_glitch_row=0)
    generate_dataset(root, users=2, cycles=1, seed=9, faults=clean, progress=False)
    return root


def test_peers_compute_the_same_nightly_features(data):
    files = raw_files(str(data))[:5]
    assert files
    for path in files:
        with open(path, "rb") as f:
            want = extract_features(parse_rows(decode_file(f.read())).columns)
        for peer in (pandas_features, floor_features):
            got = peer(path)
            assert got.keys() == want.keys()
            for name in want:
                assert got[name] == pytest.approx(want[name], abs=1e-6), (peer.__name__, name)


@pytest.mark.e2e
def test_bench_command_writes_every_figure(tmp_path):
    from pipeline.cli import main

    out = tmp_path / "BENCHMARKS.md"
    assert main(["bench", "--size", "smallest", "--output", str(out)]) == 0
    text = out.read_text()
    for name in ("floor", "pandas", "Beam DirectRunner in_memory",
                 "Beam DirectRunner multi_processing"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {name}"))
        seconds, rate = (float(x.replace(",", "")) for x in row.split("|")[2:4])
        assert seconds > 0 and rate > 0
    assert re.search(r"one night of a 200,000-user fleet is [\d,.]+ core-hours", text)
