"""`cyclecast bench` where the benchmarks package is absent (the component image)."""

from __future__ import annotations


def test_bench_without_the_benchmarks_package_says_where_to_run_it(monkeypatch, capsys):
    from pipeline.cli import bench, main

    monkeypatch.setattr(bench, "benchmarks_installed", lambda: False)
    for argv in (["bench", "--size", "smallest"], ["calibrate-drift", "--help"]):
        assert main(argv) == 2
        assert "repository checkout" in capsys.readouterr().err
