"""``cyclecast bench``: feature extraction and serving latency, measured against their peers.

Feature extraction, on the same generated files in the same run: the Beam path, a vectorised pandas
implementation and a floor (``benchmarks.feature_peers``). The whole TFX run against a plain script
on the same data (``benchmarks.process``, ``benchmarks.plain_baseline``). Serving: in-process
latency of ``serving_default`` for one request and throughput for batches
(``benchmarks.serving_latency``).

Benchmarks are not tests: nothing here asserts a time. Results go to ``BENCHMARKS.md``
(``benchmarks.markdown``).
"""

from __future__ import annotations

import glob
import json
import os
import platform
from dataclasses import dataclass

from benchmarks.feature_peers import (
    floor_features,
    pandas_features,
    raw_files,
    time_beam,
    time_per_file,
)
from benchmarks.markdown import format_markdown, kept_log
from benchmarks.serving_latency import serving_latency
from transforms import raw_format as rf

# what the command line imports from here
__all__ = ["PARTS", "SIZES", "format_markdown", "kept_log", "run_benchmarks"]


def machine() -> str:
    """A line describing the machine and the versions measured."""
    from importlib.metadata import version

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Beam {version('apache-beam')}, "
        f"pandas {version('pandas')}, numpy {version('numpy')}"
    )


PARTS = ("features", "scaling", "whole-run", "serving", "nightly")


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
    pushed = glob.glob(os.path.join(work_dir, f"tfx-x{scale}", "serving_model", "*", "[0-9]*"))
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
    if run_data is None and {"whole-run", "nightly"} & set(parts):
        run_data = os.path.join(work_dir, "run-data")
        generate_dataset(
            run_data,
            users=spec.run_users or 80,
            cycles=spec.run_cycles,
            seed=2,
            progress=False,
            overwrite=True,
        )
    if "scaling" in parts:
        from benchmarks.process import measure_scaling

        figures["scaling"] = measure_scaling(data, os.path.join(work_dir, "scaling"), log=log)
    if "whole-run" in parts:
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
        from components.spans.store import split_dir
        from transforms.tf_example import read_examples

        log.write(f"bench: serving latency of {model_dir}\n")
        pattern = os.path.join(split_dir(os.path.join(beam_dir, "out", "examples"), "*"), "*.gz")
        example = read_examples(pattern, limit=1)[0]
        figures["serving"] = serving_latency(model_dir, example)
        figures["serving_model"] = model_label
    if "nightly" in parts:
        from benchmarks.nightly_cost import measure_nightly_cost

        histories = (7, 30, 90) if spec.run_cycles >= 4 else (7, 30)
        figures["nightly"] = measure_nightly_cost(
            run_data,
            os.path.join(work_dir, "nightly"),
            histories=histories,
            whole_run_steps=spec.train_steps if "whole-run" in parts else None,
            log=log,
        )
    figures["load_after"] = os.getloadavg()
    return figures
