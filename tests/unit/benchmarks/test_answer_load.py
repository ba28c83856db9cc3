"""`cyclecast bench --serve` rewrites its own section of BENCHMARKS.md and nothing else."""

from __future__ import annotations

from benchmarks.markdown import LOG_HEADING, SERVE_HEADING, section_of, serve_section, with_section

FIGURES = {
    "machine": "x86_64, 2 cores", "load_before": (1.0, 1.5, 2.0), "load_after": (2.0, 1.5, 1.0),
    "clients": 16, "requests": 1000, "distinct_uploads": 9, "nights": ("2026-02-20", "2026-03-01"),
    "model_version": "1795965137", "threads": 2, "seconds": 12.5, "per_second": 80.0,
    "p50_ms": 190.04, "p99_ms": 420.96,
}


def test_the_serve_section_replaces_its_old_self_and_keeps_the_rest():
    section = serve_section(FIGURES, "cyclecast bench --serve --workdir .cyclecast")
    assert section.startswith(SERVE_HEADING + "\n")
    assert "| 1,000 | 16 | 12.5 | 80.0 | 190.0 | 421.0 |" in section
    head, log = "# Benchmarks\n\n## Serving (in-process)\n\nfigures\n\n", f"{LOG_HEADING}\n\nkept\n"
    first = with_section(head + log, SERVE_HEADING, section)
    assert first == head + section + log  # added before the optimisation log
    newer = serve_section({**FIGURES, "p50_ms": 100.0}, "cyclecast bench --serve")
    second = with_section(first, SERVE_HEADING, newer)
    assert second == head + newer + log and section_of(second, SERVE_HEADING) == newer
    assert with_section(head, SERVE_HEADING, section) == head.rstrip() + "\n\n" + section
    assert section_of(head, SERVE_HEADING) == ""


def test_bench_serve_refuses_what_it_cannot_measure(tmp_path, capsys):
    from pipeline.cli import main

    assert main(["bench", "--serve", "--requests", "0"]) == 2
    assert "--requests and --clients must be at least 1" in capsys.readouterr().err
    assert main(["bench", "--serve", "--workdir", str(tmp_path)]) == 2
    assert "run `cyclecast run` first, or pass --data-root" in capsys.readouterr().err
