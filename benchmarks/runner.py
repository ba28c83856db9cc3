"""``cyclecast bench``: feature extraction and serving latency, measured against their peers.

Feature extraction, on the same generated files in the same run:
- the Beam path (the real NightlyFeatureGen transforms) on the DirectRunner, in_memory and
  multi_processing;
- an idiomatic vectorised pandas implementation of the same nightly features (what a notebook
  would do: read each file, drop bad rows, filter, aggregate);
- a floor that only reads the files and computes the same statistics (pyarrow CSV + numpy).
Serving: in-process latency of ``serving_default`` for one request and throughput for batches.

Benchmarks are not tests: nothing here asserts a time. Results go to ``BENCHMARKS.md``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import platform
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


def pandas_features(path: str):
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
    if len(df) * rf.SAMPLE_PERIOD_S / 3600 < rf.NightRules().min_worn_hours:
        return None
    sel = df[(df["sleep_state"] > 0) & (df["motion"] <= rf.LOW_MOTION_G)]
    if sel.empty:
        return None
    out = {}
    for name, (col, stat) in fc.NIGHTLY_STATS.items():
        out[name] = sel[col].median() if stat == "median" else sel[col].quantile(0.1)
    return out


def floor_features(path: str):
    """Read the file and compute the same statistics, with no validation: the floor."""
    import numpy as np
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path)
    except Exception:  # noqa: BLE001 - unreadable upload
        return None
    cols = {name: table.column(name).to_numpy() for name in rf.RAW_COLUMNS}
    sel = (cols["sleep_state"] > 0) & (cols["motion"] <= rf.LOW_MOTION_G)
    if not sel.any():
        return None
    return {
        name: float(
            np.median(cols[col][sel]) if stat == "median" else np.percentile(cols[col][sel], 10)
        )
        for name, (col, stat) in fc.NIGHTLY_STATS.items()
    }


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


def _percentiles(times: list[float]) -> dict:
    import numpy as np

    return {
        "p50_ms": float(np.percentile(times, 50) * 1e3),
        "p99_ms": float(np.percentile(times, 99) * 1e3),
    }


def latency_and_throughput(fn, one, batch_of, repeats: int = 200) -> dict:
    """p50/p99 of ``fn(one)`` and inputs per second of ``fn(batch_of(n))`` for n = 1, 32, 1024."""
    for _ in range(10):
        fn(one)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(one)
        times.append(time.perf_counter() - started)
    out = _percentiles(times)
    for batch in (1, 32, 1024):
        data = batch_of(batch)
        fn(data)
        n = max(3, 2000 // batch)
        started = time.perf_counter()
        for _ in range(n):
            fn(data)
        out[f"batch_{batch}_per_s"] = batch * n / (time.perf_counter() - started)
    return out


def serving_latency(model_dir: str, example: dict[str, list]) -> dict:
    """``serving_default`` on one raw tf.Example against the bare Keras model on its features.

    The bare model gets what the in-graph transform would give it (computed once, beforehand, by
    the model's ``transform_features`` signature) as one dense tensor, and is called as a concrete
    function like the signature, so the difference is the price of parsing, checking and
    transforming in the graph.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras

    from transforms.serving_request import (
        EXAMPLES_INPUT,
        SERVING_SIGNATURE,
        TRANSFORM_SIGNATURE,
        night_from_example,
        serving_example,
    )
    from transforms.tf_example import to_serialized_example

    signatures = tf.saved_model.load(model_dir).signatures
    serve = signatures[SERVING_SIGNATURE]
    request = serving_example(night_from_example(example))

    def served(batch):
        return serve(**{EXAMPLES_INPUT: batch})

    out = {
        "serving": latency_and_throughput(
            served, tf.constant([request]), lambda n: tf.constant([request] * n)
        )
    }
    model = tf_keras.models.load_model(model_dir, compile=False)
    names = [t.name.split(":")[0] for t in model.inputs]
    transformed = signatures[TRANSFORM_SIGNATURE](
        **{EXAMPLES_INPUT: tf.constant([to_serialized_example(example)])}
    )
    # one dense [batch, features] tensor, split into the model's inputs inside the graph: the
    # call costs one tensor's dispatch, as the signature's does
    one = tf.concat([tf.reshape(tf.cast(transformed[n], tf.float32), [1, 1]) for n in names], 1)

    @tf.function(input_signature=[tf.TensorSpec([None, len(names)], tf.float32)])
    def bare(x):
        return model(dict(zip(names, tf.split(x, len(names), axis=1), strict=True)))

    call = bare.get_concrete_function()
    out["bare_keras"] = latency_and_throughput(call, one, lambda k: tf.tile(one, [k, 1]))
    return out


def machine() -> str:
    """A line describing the machine and the versions measured."""
    from importlib.metadata import version

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Beam {version('apache-beam')}, "
        f"pandas {version('pandas')}, numpy {version('numpy')}"
    )


FLEET_USERS = 200_000  # DESIGN.md "What good looks like": the fleet this design follows
PARTS = ("features", "scaling", "whole-run", "serving")


@dataclass(frozen=True)
class BenchSize:
    """How much data a size measures: the feature data, and the whole run's data and steps."""

    users: int
    cycles: int
    run_users: int | None  # None: the default dataset of ``cyclecast run``
    run_cycles: int
    train_steps: int


SIZES = {
    "smallest": BenchSize(2, 1, 8, 2, 50),
    "small": BenchSize(10, 1, 20, 3, 300),
    "default": BenchSize(40, 1, None, 4, 1500),
}


def whole_run(data_root: str, work_dir: str, train_steps: int, scale: int, log) -> dict:
    """The whole TFX run and the plain script on the same data, each in its own process."""
    from benchmarks.process import replicate_dataset, run_measured, users_of

    with open(os.path.join(data_root, rf.MANIFEST_FILE)) as f:
        params = json.load(f)["parameters"]
    label = f"{params['users']} users x {params['cycles']} cycles, seed {params['seed']}"
    if scale != 1:
        scaled = os.path.join(work_dir, f"data-x{scale}")
        replicate_dataset(data_root, scaled, scale * len(users_of(data_root)))
        data_root = scaled
        label += f", each user's files and cycles {scale} times under renamed copies"
    files = len(raw_files(data_root))
    log.write(f"bench: whole run x{scale} ({files} raw files): TFX pipeline...\n")
    tfx = run_measured(
        ["tfx", data_root, os.path.join(work_dir, f"tfx-x{scale}"), str(train_steps)],
        os.path.join(work_dir, f"tfx-x{scale}-job"),
    )
    log.write(f"bench: whole run x{scale}: TFX {tfx.seconds:.0f} s; plain script...\n")
    plain = run_measured(
        ["plain", data_root, str(train_steps)], os.path.join(work_dir, f"plain-x{scale}-job")
    )
    log.write(f"bench: whole run x{scale}: plain script {plain.seconds:.0f} s\n")
    pushed = glob.glob(os.path.join(work_dir, f"tfx-x{scale}", "serving_model", "*", "*"))
    return {
        "scale": scale,
        "data": label,
        "files": files,
        "tfx": tfx.result
        | {"seconds": tfx.seconds, "cpu_seconds": tfx.cpu_seconds, "peak_rss_mb": tfx.peak_rss_mb},
        "plain": plain.result
        | {
            "seconds": plain.seconds,
            "cpu_seconds": plain.cpu_seconds,
            "peak_rss_mb": plain.peak_rss_mb,
        },
        "pushed_model": sorted(pushed)[-1] if pushed else None,
    }


def run_benchmarks(
    size: str,
    work_dir: str,
    model_dir: str | None = None,
    run_data: str | None = None,
    parts: tuple[str, ...] = PARTS,
    whole_run_scales: tuple[int, ...] = (1,),
    log=None,
) -> dict:
    """Generate data, time every implementation on it, and return the figures.

    ``run_data`` is the whole run's data root (generated in ``work_dir`` when None);
    ``model_dir`` the model whose serving is measured (the whole run's pushed model when None).
    """
    import sys

    from synthetic.generate import generate_dataset

    log = log or sys.stderr
    spec = SIZES[size]
    data = os.path.join(work_dir, "data")
    generate_dataset(
        data, users=spec.users, cycles=spec.cycles, seed=1, progress=False, overwrite=True
    )
    with open(os.path.join(data, rf.MANIFEST_FILE)) as f:
        manifest = json.load(f)
    rows = int(manifest["totals"]["rows_written"])
    files = raw_files(data)
    log.write(f"bench: {len(files)} files, {rows} rows\n")
    figures: dict = {
        "machine": machine(),
        "size": size,
        "users": spec.users,
        "cycles": spec.cycles,
        "files": len(files),
        "rows": rows,
        "load_before": os.getloadavg(),
    }
    beam_dir = os.path.join(work_dir, "beam_in_memory")
    if "features" in parts or "serving" in parts:
        results = []
        if "features" in parts:
            for name, fn in (
                ("floor: pyarrow read + numpy statistics", floor_features),
                ("pandas, vectorised per night", pandas_features),
            ):
                results.append(time_per_file(name, fn, files, rows))
                log.write(f"bench: {results[-1].name}: {results[-1].seconds:.1f} s\n")
        for mode, workers in (("in_memory", 1), ("multi_processing", 2)):
            if mode != "in_memory" and "features" not in parts:
                continue
            results.append(
                time_beam(data, os.path.join(work_dir, f"beam_{mode}"), mode, workers, rows)
            )
            log.write(f"bench: {results[-1].name}: {results[-1].seconds:.1f} s\n")
        figures["features"] = [
            m.__dict__ | {"rows_per_second_per_core": m.rows_per_second_per_core} for m in results
        ]
    if "scaling" in parts:
        from benchmarks.process import measure_scaling

        figures["scaling"] = measure_scaling(data, os.path.join(work_dir, "scaling"), log=log)
    if "whole-run" in parts:
        if run_data is None:
            run_data = os.path.join(work_dir, "run-data")
            generate_dataset(
                run_data,
                users=spec.run_users or 80,
                cycles=spec.run_cycles,
                seed=2,
                progress=False,
                overwrite=True,
            )
        figures["whole_run"] = [
            whole_run(run_data, work_dir, spec.train_steps, scale, log)
            for scale in whole_run_scales
        ]
    model_label = f"`{model_dir}`"
    if model_dir is None and figures.get("whole_run") and figures["whole_run"][0]["pushed_model"]:
        model_dir = figures["whole_run"][0]["pushed_model"]
        model_label = (
            f"the one the {figures['whole_run'][0]['scale']}x whole run above trained and pushed "
            f"(version {os.path.basename(model_dir)})"
        )
    if "serving" in parts and model_dir:
        from transforms.tf_example import read_examples

        log.write(f"bench: serving latency of {model_dir}\n")
        pattern = os.path.join(beam_dir, "out", "examples", "Split-*", "*.gz")
        example = read_examples(pattern, limit=1)[0]
        figures["serving"] = serving_latency(model_dir, example)
        figures["serving_model"] = model_label
    figures["load_after"] = os.getloadavg()
    return figures


LOG_HEADING = "## Optimisation log"


def kept_log(previous: str) -> str:
    """The hand-written optimisation log of an earlier BENCHMARKS.md, kept across re-runs."""
    at = previous.find(LOG_HEADING)
    return previous[at:].rstrip() + "\n" if at >= 0 else ""


def _feature_lines(figures: dict) -> list[str]:
    feats = figures["features"]
    lines = [
        "## Feature extraction",
        "",
        "| implementation | seconds | CPU seconds | raw rows / s / core | vs floor | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    floor = feats[0]["rows_per_second_per_core"]
    for f in feats:
        rss = f"{f['peak_rss_mb']:,.0f} MiB" if f.get("peak_rss_mb") else "-"
        lines.append(
            f"| {f['name']} | {f['seconds']:.1f} | {f['cpu_seconds']:.1f} "
            f"| {f['rows_per_second_per_core']:,.0f} "
            f"| {f['rows_per_second_per_core'] / floor:.2f}x | {rss} |"
        )
    beam = next(f for f in feats if "in_memory" in f["name"])
    lines += [
        "",
        "The floor and pandas run in the benchmark's process; each Beam job runs in its own "
        "process, like `cyclecast features`, so its seconds include the imports and Beam's "
        "start-up. Peak RSS is the largest process's (multi_processing: one worker).",
        "",
        f"Goal: the Beam path within 2x of the floor. Measured: the floor is "
        f"{beam['seconds'] / feats[0]['seconds']:.2f}x faster than Beam in_memory "
        f"({_verdict(beam['seconds'] / feats[0]['seconds'] <= 2)}).",
    ]
    if "scaling" in figures:
        startup = figures["scaling"]["startup_seconds"]
        work = beam["seconds"] - startup
        lines += [
            "",
            f"Excluding the fixed start-up ({startup:.1f} s: the same job on a single raw file), "
            f"Beam in_memory takes {work:.1f} s on these files: the floor is "
            f"{work / feats[0]['seconds']:.2f}x faster "
            f"({_verdict(work / feats[0]['seconds'] <= 2)}).",
        ]
    return lines + [""]


def _scaling_lines(sc: dict) -> list[str]:
    lines = [
        "## Scaling (Beam in_memory, one process)",
        "",
        f"1x is {sc['base_users']} users (a quarter of the data above); 4x and 16x add renamed "
        f"copies of the same users' files. Fixed start-up (one raw file): "
        f"{sc['startup_seconds']:.1f} s, {sc['startup_peak_rss_mb']:,.0f} MiB.",
        "",
        "| size | users | raw rows | seconds | CPU seconds | beyond start-up "
        "| rows / s beyond start-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sc["points"]:
        work = p["seconds"] - sc["startup_seconds"]
        rate = f"{p['rows'] / work:,.0f}" if work > 0 else "-"
        lines.append(
            f"| {p['factor']}x | {p['users']} | {p['rows']:,} | {p['seconds']:.1f} "
            f"| {p['cpu_seconds']:.1f} "
            f"| {work:.1f} | {rate} | {p['peak_rss_mb']:,.0f} MiB |"
        )
    first, last = sc["points"][0], sc["points"][-1]
    k = sc["exponent"]
    if math.isnan(k["step"]):
        growth = (
            "At this size some runs took no longer than the start-up, so no exponent can be "
            "told from the noise (measure with `--size default`)."
        )
    else:
        growth = (
            f"Time beyond start-up grows as rows^k with k = {k['step']:.2f} from the 4x to the "
            f"16x step (least squares over all three sizes: {k['fit']:.2f}). Goal: k at most 1.1 "
            f"({_verdict(k['step'] <= 1.1)})."
        )
        if first["seconds"] < 2 * sc["startup_seconds"]:
            growth += (
                " Read the step: at 1x the work beyond start-up is no longer than the start-up "
                "itself, so the noise of either moves the fit."
            )
    flat = last["peak_rss_mb"] <= 1.25 * first["peak_rss_mb"]
    lines += [
        "",
        f"{growth} Peak memory at 16x is {last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x that "
        f"at 1x ({first['peak_rss_mb']:,.0f} -> {last['peak_rss_mb']:,.0f} MiB for 16 times the "
        f"rows): memory stays {'flat' if flat else 'NOT flat'} "
        "(goal: flat, taken as at most 1.25x).",
        "",
    ]
    return lines


def _whole_run_lines(runs: list[dict]) -> list[str]:
    lines = [
        "## The whole run: TFX against a plain script",
        "",
        "The TFX run is `cyclecast run`'s pipeline (LocalDagRunner, Beam in_memory, no cache) in "
        "its own process; the plain script (`benchmarks/plain_baseline.py`) does the same work "
        "in "
        "one process with no TFX: the same feature code in a loop, the same engineered features "
        "z-scored with the training split's statistics, the same Keras model, steps and seed, "
        "the same metrics on the eval split. It skips what only TFX does (statistics, schema "
        "validation, drift and anomaly gates, the export with the transform graph, blessing, "
        "push). Component seconds come from ML Metadata (each execution's start to its end).",
        "",
    ]
    for r in runs:
        tfx, plain = r["tfx"], r["plain"]
        comps = ", ".join(f"{name} {sec:.1f}" for name, sec in tfx["components"].items())
        stages = ", ".join(f"{name} {sec:.1f}" for name, sec in plain["stages"].items())
        m = tfx.get("metrics") or {}
        pm = plain["metrics"]
        lines += [
            f"### {r['scale']}x: {r['files']:,} raw files ({r['data']})",
            "",
            "| | TFX pipeline | plain script | ratio |",
            "|---|---|---|---|",
            f"| process wall time, s | {tfx['seconds']:.0f} | {plain['seconds']:.0f} "
            f"| **{tfx['seconds'] / plain['seconds']:.2f}** |",
            f"| work without imports, s | {tfx['mlmd_seconds']:.0f} (ML Metadata) "
            f"| {sum(plain['stages'].values()):.0f} (its stages) "
            f"| {tfx['mlmd_seconds'] / sum(plain['stages'].values()):.2f} |",
            f"| CPU seconds (user + system) | {tfx['cpu_seconds']:.0f} "
            f"| {plain['cpu_seconds']:.0f} "
            f"| {tfx['cpu_seconds'] / plain['cpu_seconds']:.2f} |",
            f"| peak RSS | {tfx['peak_rss_mb']:,.0f} MiB | {plain['peak_rss_mb']:,.0f} MiB | |",
            f"| eval AUC / sensitivity / specificity | {_fmt(m.get('auc'))} / "
            f"{_fmt(m.get('recall'))} / {_fmt(m.get('specificity'))} | {_fmt(pm['auc'])} / "
            f"{_fmt(pm['sensitivity'])} / {_fmt(pm['specificity'])} | |",
            "",
            f"TFX components (s): {comps}.",
            "",
            f"Plain script stages (s): {stages}.",
            "",
        ]
    goal = "Goal: overhead ratio at most 2 at 4x the default data."
    at4 = [r for r in runs if r["scale"] == 4]
    if at4:
        wall = at4[0]["tfx"]["seconds"] / at4[0]["plain"]["seconds"]
        cpu = at4[0]["tfx"]["cpu_seconds"] / at4[0]["plain"]["cpu_seconds"]
        goal += (
            f" Measured at 4x: {wall:.2f} in wall time ({_verdict(wall <= 2)}), {cpu:.2f} in CPU "
            f"seconds ({_verdict(cpu <= 2)})."
        )
    lines.append(goal)
    return lines + [""]


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _serving_lines(figures: dict) -> list[str]:
    lines = [
        "## Serving (in-process)",
        "",
        f"Model: {figures['serving_model']}. `serving_default` takes one raw serialized "
        "tf.Example and parses, checks and transforms it in the graph; the bare Keras model takes "
        "the already-transformed features as one dense tensor (a concrete function, like the "
        "signature).",
        "",
        "| path | p50 ms | p99 ms | batch 1 / s | batch 32 / s | batch 1024 / s |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (
        ("serving_default (raw tf.Example)", "serving"),
        ("bare Keras model (transformed)", "bare_keras"),
    ):
        s = figures["serving"][key]
        lines.append(
            f"| {name} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['batch_1_per_s']:,.0f} "
            f"| {s['batch_32_per_s']:,.0f} | {s['batch_1024_per_s']:,.0f} |"
        )
    s, b = figures["serving"]["serving"], figures["serving"]["bare_keras"]
    lines += [
        "",
        f"The in-graph parsing, checks and transform cost {s['p50_ms'] - b['p50_ms']:.2f} ms of "
        f"the one-request p50. Goal: p50 for one request under 2 ms "
        f"({_verdict(s['p50_ms'] < 2)}).",
        "",
    ]
    return lines


def format_markdown(figures: dict, command: str, log: str = "") -> str:
    """Render the figures as BENCHMARKS.md, followed by the kept optimisation log."""
    load = figures["load_before"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured with `{command}` on: {figures['machine']}.",
        "",
        f"Load average (1/5/15 min) before the run: {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f}; after: {' / '.join(f'{x:.2f}' for x in figures['load_after'])} "
        "(the machine is shared; a load above 0.5 means other work ran beside the benchmark).",
        "",
        f"Data: {figures['users']} generated users x {figures['cycles']} cycles, "
        f"{figures['files']} raw files, {figures['rows']:,} raw rows (the same files for every "
        "implementation, in one run). Jobs run in their own processes share a warm bytecode "
        "cache (`benchmarks/process.py` says why).",
        "",
    ]
    if "features" in figures and len(figures["features"]) > 1:
        lines += _feature_lines(figures)
    if "scaling" in figures:
        lines += _scaling_lines(figures["scaling"])
    if "whole_run" in figures:
        lines += _whole_run_lines(figures["whole_run"])
    if "serving" in figures:
        lines += _serving_lines(figures)
    if "features" in figures:
        beam = next(f for f in figures["features"] if "in_memory" in f["name"])
        rate = beam["rows_per_second_per_core"]
        rows_per_night = figures["rows"] / max(figures["files"], 1)
        night_core_hours = FLEET_USERS * rows_per_night / rate / 3600
        lines += [
            "## On paper: the fleet",
            "",
            f"At {rate:,.0f} raw rows / s / core (Beam in_memory, start-up included) and "
            f"{rows_per_night:,.0f} rows per user-night, one night of a {FLEET_USERS:,}-user "
            f"fleet is {night_core_hours:,.1f} core-hours; a year of its history is "
            f"{night_core_hours * 365:,.0f} core-hours.",
            "",
        ]
    if log:
        lines += ["", log.rstrip()]
    return "\n".join(lines)
