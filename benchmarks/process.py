"""Benchmark jobs in fresh processes: wall time and peak memory, scaled data, the whole TFX run.

Every measured job runs as ``python -m benchmarks.jobs <job> ...`` in its own process, so
its figures include what a user waits for (imports and start-up) and its peak resident memory is
that process's own (``os.wait4``'s ``ru_maxrss``: the largest of the process and the children it
waited for, e.g. the DirectRunner's multi_processing workers).

The processes share a bytecode cache (``PYTHONPYCACHEPREFIX``) even when the calling environment
forbids writing bytecode: without one every import recompiles its source, which on this machine
adds about 10 s of compiling to each start of TensorFlow, Beam or TFX, a cost no installed
environment pays.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from transforms import raw_format as rf

BENCH_SALT = "benchmark-salt-0123456789"
BYTECODE_CACHE = Path(".cyclecast") / "bench-pycache"


def bench_env(pycache: Path = BYTECODE_CACHE) -> dict[str, str]:
    """The environment of measured processes: quiet TensorFlow, a shared bytecode cache."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache.resolve())
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONWARNINGS"] = "ignore"
    return env


@dataclass
class ProcessRun:
    """One job in its own process: wall and CPU seconds, peak RSS (MiB), the job's JSON result.

    CPU seconds (user + system, the process and its waited-for children) move less than wall
    time when other work shares the machine.
    """

    seconds: float
    peak_rss_mb: float
    result: dict
    cpu_seconds: float = 0.0


def run_measured(job: list[str], work_dir: str, env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``python -m benchmarks.jobs JOB...`` and measure it; raise if it fails."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    out_path, err_path = (os.path.join(work_dir, f"job.{s}") for s in ("out", "err"))
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.jobs", *job],
            stdout=out,
            stderr=err,
            env=env or bench_env(),
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = Path(err_path).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"benchmark job {job[0]} failed ({proc.returncode}):\n{tail}")
    return ProcessRun(
        seconds,
        usage.ru_maxrss / 1024,
        json.loads(Path(out_path).read_text()),
        usage.ru_utime + usage.ru_stime,
    )


def users_of(data_root: str) -> list[str]:
    """The user ids that have raw files under a data root."""
    nights = Path(data_root) / rf.NIGHTS_DIR
    return sorted({p.name[: -len(rf.RAW_SUFFIX)] for p in nights.glob(f"*/*{rf.RAW_SUFFIX}")})


def replica_id(user_id: str, copy: int) -> str:
    """The user id of a copy of a user (copy 0 is the user herself)."""
    return user_id if copy == 0 else f"{user_id}c{copy}"


def replicate_dataset(src: str, dst: str, instances: int, max_files: int | None = None) -> None:
    """A data root of ``instances`` users: the source's users, then renamed copies of them.

    Raw files are hard-linked (copied across file systems), the cycle log is rewritten for the
    copies. ``max_files`` keeps only the first files (a tiny input to measure start-up).
    """
    users = users_of(src)
    chosen = [(users[i % len(users)], i // len(users)) for i in range(instances)]
    wanted: dict[str, list[int]] = {}
    for user, copy in chosen:
        wanted.setdefault(user, []).append(copy)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    files = sorted(Path(src, rf.NIGHTS_DIR).glob(f"*/*{rf.RAW_SUFFIX}"))
    written = 0
    for path in files:
        user = path.name[: -len(rf.RAW_SUFFIX)]
        for copy in wanted.get(user, []):
            if max_files is not None and written >= max_files:
                break
            target = Path(
                dst, rf.NIGHTS_DIR, path.parent.name, replica_id(user, copy) + rf.RAW_SUFFIX
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
            written += 1
    lines = Path(src, rf.CYCLES_FILE).read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        user, sep, rest = line.partition(",")
        out.extend(f"{replica_id(user, c)}{sep}{rest}" for c in wanted.get(user, []))
    Path(dst, rf.CYCLES_FILE).write_text("\n".join(out) + "\n")


def beam_args(mode: str, workers: int) -> list[str]:
    """DirectRunner options for a running mode and a number of workers."""
    return [
        "--runner=DirectRunner",
        f"--direct_running_mode={mode}",
        f"--direct_num_workers={workers}",
    ]


def measure_feature_job(
    data_root: str, work_dir: str, mode: str = "in_memory", workers: int = 1
) -> ProcessRun:
    """The Beam feature job on a data root, in its own process."""
    return run_measured(
        ["features", data_root, os.path.join(work_dir, "out"), mode, str(workers)], work_dir
    )


def scaling_exponent(sizes: list[float], seconds: list[float], startup: float) -> dict:
    """How time grows beyond the fixed start-up: t = startup + b * n^k.

    ``step`` is k from the last two sizes, ``fit`` the least-squares k over every size (both NaN
    when a size took no longer than the start-up, i.e. it was too small to tell).
    """
    work = [t - startup for t in seconds]
    if min(work) <= 0:
        return {"step": math.nan, "fit": math.nan}
    step = math.log(work[-1] / work[-2]) / math.log(sizes[-1] / sizes[-2])
    xs = [math.log(n) for n in sizes]
    ys = [math.log(w) for w in work]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    fit = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return {"step": step, "fit": fit}


def measure_scaling(data_root: str, work_dir: str, factors=(1, 4, 16), log=None) -> dict:
    """Time and peak memory of the Beam feature job (in_memory) at 1x, 4x, 16x a base size.

    The base (1x) is a quarter of the benchmark's users; the start-up is the job on one raw file
    (the faster of two runs, so a cold bytecode cache or a moment of load counts less).
    """
    log = log or sys.stderr
    base = max(1, len(users_of(data_root)) // 4)
    tiny = os.path.join(work_dir, "tiny")
    replicate_dataset(data_root, tiny, 1, max_files=1)
    startup = min(
        (measure_feature_job(tiny, os.path.join(work_dir, f"tiny-{i}")) for i in range(2)),
        key=lambda run: run.seconds,
    )
    log.write(f"bench: scaling: start-up (one file) {startup.seconds:.1f} s\n")
    points = []
    for factor in factors:
        root = os.path.join(work_dir, f"x{factor}")
        replicate_dataset(data_root, root, base * factor)
        run = measure_feature_job(root, os.path.join(work_dir, f"x{factor}-run"))
        shutil.rmtree(root)
        rows = run.result["summary"]["rows_total"]
        points.append(
            {
                "cpu_seconds": run.cpu_seconds,
                "factor": factor,
                "users": base * factor,
                "rows": rows,
                "seconds": run.seconds,
                "peak_rss_mb": run.peak_rss_mb,
            }
        )
        log.write(
            f"bench: scaling: {factor}x ({rows:,} rows): {run.seconds:.1f} s, "
            f"peak {run.peak_rss_mb:.0f} MiB\n"
        )
    exponent = scaling_exponent(
        [p["rows"] for p in points], [p["seconds"] for p in points], startup.seconds
    )
    return {
        "startup_cpu_seconds": startup.cpu_seconds,
        "startup_seconds": startup.seconds,
        "startup_peak_rss_mb": startup.peak_rss_mb,
        "base_users": base,
        "points": points,
        "exponent": exponent,
    }


def component_durations(
    metadata_path: str, pipeline_name: str, run_id: str | None = None
) -> dict[str, float]:
    """Seconds per component of a run (the latest by default), from ML Metadata."""
    from pipeline.metadata import store as md

    store = md.connect(metadata_path)
    run = md.find_run(store, pipeline_name, run_id)
    return {name: md.execution_seconds(e) for name, e in md.run_executions(store, run)}


def job_features(data_root: str, out_dir: str, mode: str, workers: str) -> dict:
    """The ``features`` job: the Beam feature job on a data root; its summary and seconds."""
    from components.nightly_features.job import run_feature_job

    started = time.perf_counter()
    summary = run_feature_job(
        data_root, out_dir, BENCH_SALT.encode(), beam_args(mode, int(workers))
    )
    return {"job_seconds": time.perf_counter() - started, "summary": summary}


def timed_run(data_root: str, workdir: str, train_steps: int, **changes) -> dict:
    """One local pipeline run (no cache) on ``data_root``, timed; ``changes`` edit its config."""
    from pipeline.config import LocalConfig, TrainingConfig
    from pipeline.orchestration.local_runner import run_local
    from pipeline.runs.summary import summarize_run

    config = LocalConfig(workdir=Path(workdir))
    config.salt_file.parent.mkdir(parents=True, exist_ok=True)
    config.salt_file.write_text(BENCH_SALT + "\n")
    cfg = config.pipeline_config(Path(data_root)).with_changes(
        enable_cache=False, training=TrainingConfig(train_steps=train_steps), **changes
    )
    started = time.perf_counter()
    run_id = run_local(cfg)
    run_seconds = time.perf_counter() - started
    summary = summarize_run(cfg.metadata_path, cfg.pipeline_name, run_id)
    return {
        "run_seconds": run_seconds,
        "mlmd_seconds": summary.duration_s,
        "components": component_durations(cfg.metadata_path, cfg.pipeline_name, run_id),
        "examples": summary.examples,
        "ingested": summary.data.get("ingested"),
        "metrics": {k: summary.candidate.get(k) for k in ("auc", "recall", "specificity")},
    }
