"""The benchmark's peers compute the same features, and `cyclecast bench` keeps working."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from benchmarks.feature_peers import floor_features, pandas_features, raw_files
from components.nightly_features.night import extract_features, parse_rows
from transforms.raw_format import decode_raw


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from synthetic.generate import FaultRates, generate_dataset

    root = tmp_path_factory.mktemp("bench")
    clean = FaultRates(
        missing_night=0,
        off_wrist=0,
        motion_corrupted=0.3,
        short_night=0,
        duplicated_rows=0,
        out_of_order_rows=0,
        truncated_file=0,
        corrupt_file=0,
        fahrenheit_user=0,
        sensor_glitch_row=0,
    )
    generate_dataset(root, users=2, cycles=1, seed=9, faults=clean, progress=False)
    return root


def test_peers_compute_the_same_nightly_features(data):
    files = raw_files(str(data))[:5]
    assert files
    for path in files:
        with open(path, "rb") as f:
            want = extract_features(parse_rows(decode_raw(f.read())).columns)
        for peer in (pandas_features, floor_features):
            got = peer(path)
            assert got.keys() == want.keys()
            for name in want:
                assert got[name] == pytest.approx(want[name], abs=1e-6), (peer.__name__, name)


def test_examples_without_tensorflow_are_byte_identical_to_tensorflow_s(data):
    """The feature job builds tf.Examples from a private proto; TensorFlow's must agree."""
    from tensorflow.core.example import example_pb2

    from benchmarks.plain_baseline import nightly_examples
    from transforms import example_proto
    from transforms.tf_example import to_serialized_example

    rows = [
        e for split in nightly_examples(str(data), b"test-salt-0123456789").values() for e in split
    ]
    assert rows
    ours = [to_serialized_example(e) for e in rows]
    original = example_proto.example_class
    try:
        example_proto.example_class = lambda: example_pb2.Example
        theirs = [to_serialized_example(e) for e in rows]
    finally:
        example_proto.example_class = original
    assert ours == theirs


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


def test_replicated_data_and_the_scaling_exponent(data, tmp_path):
    from benchmarks.process import replicate_dataset, scaling_exponent, users_of

    users = users_of(str(data))
    replicate_dataset(str(data), str(tmp_path / "x3"), 3 * len(users))
    copies = users_of(str(tmp_path / "x3"))
    assert len(copies) == 3 * len(users) and set(users) <= set(copies)
    assert len(raw_files(str(tmp_path / "x3"))) == 3 * len(raw_files(str(data)))
    cycles = (tmp_path / "x3" / "cycles.csv").read_text().splitlines()
    assert len(cycles) - 1 == 3 * (len((data / "cycles.csv").read_text().splitlines()) - 1)
    replicate_dataset(str(data), str(tmp_path / "tiny"), 1, max_files=1)
    assert len(raw_files(str(tmp_path / "tiny"))) == 1
    # t = 2 + n: the exponent beyond the start-up is 1
    k = scaling_exponent([1, 4, 16], [3.0, 6.0, 18.0], 2.0)
    assert k["step"] == pytest.approx(1.0) and k["fit"] == pytest.approx(1.0)


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


def test_bench_markdown_renders_the_whole_run_and_serving():
    """The sections the smoke test leaves out, rendered from figures of the right shape."""
    from benchmarks.runner import format_markdown

    timing = {
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "batch_1_per_s": 900.0,
        "batch_32_per_s": 2e4,
        "batch_1024_per_s": 1e5,
    }
    side = {"seconds": 100.0, "cpu_seconds": 90.0, "peak_rss_mb": 900.0}
    figures = {
        "machine": "m",
        "size": "smallest",
        "users": 2,
        "cycles": 1,
        "files": 3,
        "rows": 9,
        "load_before": (0.1, 0.2, 0.3),
        "load_after": (0.1, 0.2, 0.3),
        "whole_run": [
            {
                "scale": 1,
                "files": 3,
                "data": "2 users x 1 cycles, seed 1",
                "tfx": side
                | {
                    "mlmd_seconds": 80.0,
                    "components": {"Trainer": 30.0},
                    "metrics": {"auc": 0.9, "recall": 0.6, "specificity": 0.9},
                },
                "plain": side
                | {
                    "seconds": 50.0,
                    "cpu_seconds": 45.0,
                    "stages": {"features": 10.0, "train": 30.0},
                    "metrics": {"auc": 0.9, "sensitivity": 0.6, "specificity": 0.9},
                },
            }
        ],
        "serving": {"serving": timing, "bare_keras": timing | {"p50_ms": 0.4}},
        "serving_model": "`/m/1`",
    }
    text = format_markdown(figures, "cyclecast bench")
    assert "| process wall time, s | 100 | 50 | **2.00** |" in text
    assert "Trainer 30.0" in text and "features 10.0" in text
    assert "cost 0.60 ms of the one-request p50" in text


REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("transforms", "components", "pipeline", "synthetic", "benchmarks")


def _first_party_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports anywhere (lazy imports in functions too)."""
    modules = _first_party_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                               for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while not component or v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_and_pipeline_never_imports_benchmarks():
    """benchmarks/ builds on pipeline/ and is left out of the component image, never the reverse."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    graph = _import_graph()
    assert {"benchmarks.model_comparison", "pipeline.cli.bench"} <= graph.keys()
    assert _circles(graph) == []
    assert {(m, t) for m, ts in graph.items() if not m.startswith("benchmarks")
            for t in ts if t.startswith("benchmarks")} == set()


def test_bench_without_the_benchmarks_package_says_where_to_run_it(monkeypatch, capsys):
    from pipeline.cli import bench, main

    monkeypatch.setattr(bench, "benchmarks_installed", lambda: False)
    for argv in (["bench", "--size", "smallest"], ["calibrate-drift", "--help"]):
        assert main(argv) == 2
        assert "repository checkout" in capsys.readouterr().err
