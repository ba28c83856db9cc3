"""The BENCHMARKS.md page: the sections the e2e smoke test leaves out, rendered from figures."""

from __future__ import annotations


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
