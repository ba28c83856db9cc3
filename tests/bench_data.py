"""The small data set the benchmark tests share: two users, one cycle, motion the only fault."""

from __future__ import annotations

from pathlib import Path


def bench_dataset(tmp_path_factory) -> Path:
    """Generate it under a fresh temporary folder; its root."""
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
