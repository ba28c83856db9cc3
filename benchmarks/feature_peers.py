"""The feature-extraction peers ``cyclecast bench`` times on the same files, and their timers.

- the Beam path (the real NightlyFeatureGen transforms) on the DirectRunner, in its own process;
- an idiomatic vectorised pandas implementation of the same nightly features (what a notebook
  would do: read each file, drop bad rows, filter, aggregate);
- a floor that only reads the files and computes the same statistics (pyarrow CSV + numpy).

Every peer takes the row, night and feature-row rules from the contract (``transforms.raw_format``)
and the statistics from ``transforms.features``, so they differ in how they compute, not in what.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass

from transforms import features as fc
from transforms import raw_format as rf


@dataclass
class Measurement:
    """One timed run: what, how long, how many raw rows, on how many cores."""

    name: str
    seconds: float
    rows: int
    cores: int
    peak_rss_mb: float | None = None  # measured for jobs run in their own process
    cpu_seconds: float | None = None  # user + system

    @property
    def rows_per_second_per_core(self) -> float:
        """Throughput normalised by the cores the implementation used."""
        return self.rows / self.seconds / self.cores


def raw_files(data_root: str) -> list[str]:
    """Every raw file under a data root."""
    return sorted(glob.glob(os.path.join(data_root, rf.NIGHTS_GLOB)))


def pandas_features(path: str) -> dict[str, float] | None:
    """The nightly features of one file, the way a data scientist's notebook computes them."""
    import pandas as pd

    try:
        df = pd.read_csv(path, compression="gzip")
    except Exception:  # noqa: BLE001 - a notebook skips unreadable uploads
        return None
    df = df.apply(pd.to_numeric, errors="coerce").dropna()
    temp = df["skin_temp_c"]
    df = df[(temp < rf.FAHRENHEIT_BAND.low) | (temp > rf.FAHRENHEIT_BAND.high)]
    for name, r in rf.VALID_RANGES.items():
        df = df[df[name].between(r.low, r.high)]
    df = df.drop_duplicates("timestamp")
    df = df[df["timestamp"] > df["timestamp"].cummax().shift(fill_value=-1)]
    columns = {name: df[name].to_numpy() for name in ("timestamp", "sleep_state", "motion")}
    if not rf.assess_night(columns, rf.NightRules()).valid:
        return None
    sel = df[rf.feature_rows(columns["sleep_state"], columns["motion"])]
    out = {}
    for name, (col, stat) in fc.NIGHTLY_STATS.items():
        out[name] = sel[col].median() if stat == "median" else sel[col].quantile(0.1)
    return out


def floor_features(path: str) -> dict[str, float] | None:
    """Read the file and compute the same statistics, with no validation: the floor."""
    import pyarrow.csv as pacsv

    from components.nightly_features.night import extract_features

    try:
        table = pacsv.read_csv(path)
    except Exception:  # noqa: BLE001 - unreadable upload
        return None
    try:
        return extract_features({name: table.column(name).to_numpy() for name in rf.RAW_COLUMNS})
    except ValueError:  # no asleep low-motion row to compute from
        return None


def time_per_file(name: str, fn, files: list[str], rows: int) -> Measurement:
    """Time ``fn`` over every file in one process."""
    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        fn(path)
    return Measurement(
        name, time.perf_counter() - started, rows, 1, cpu_seconds=time.process_time() - cpu
    )


def time_beam(data_root: str, work_dir: str, mode: str, workers: int, rows: int) -> Measurement:
    """Time the real feature job (NightlyFeatureGen's transforms) on the DirectRunner.

    It runs in its own process (``bench_process``), like ``cyclecast features``: the figure
    includes the imports and Beam's start-up, and the peak memory is the job's own.
    """
    from benchmarks.process import measure_feature_job

    run = measure_feature_job(data_root, work_dir, mode, workers)
    m = Measurement(f"Beam DirectRunner {mode} ({workers} worker(s))", run.seconds, rows, workers)
    m.peak_rss_mb, m.cpu_seconds = run.peak_rss_mb, run.cpu_seconds
    return m
