"""The cost of the next nightly run with 7, 30 and 90 nights already ingested, and of a backfill.

The data is the bench's run data from its 29th night on, when every generated user is recording.
For each history length H the span store holds every night before the new night, the data's first
H (one backfill, which also gives the backfill rate), as it would in steady operation; then the
new night (night H + 1) is ingested as the nightly component does (``plan_ingest`` and
``ingest``), three times, each in a fresh process. With ``whole_run`` the whole pipeline then
runs for that night on a window of the H nights (one ingest, the window gathered, Transform
and Trainer over it).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.process import BENCH_SALT, beam_args, run_measured, timed_run
from components.defaults import WINDOW_NIGHTS
from transforms import features as fc
from transforms import raw_format as rf

FLEET_USERS = 200_000
FLEET_WINDOW_NIGHTS = WINDOW_NIGHTS


def trimmed_root(data_root: str, out: str) -> list[str]:
    """A data root of ``data_root``'s nights from its 29th on (linked, not copied); its nights."""
    src, dst = Path(data_root), Path(out)
    nights = sorted(p.name for p in (src / rf.NIGHTS_DIR).iterdir())[fc.HISTORY_NIGHTS :]
    (dst / rf.NIGHTS_DIR).mkdir(parents=True, exist_ok=True)
    for night in nights:
        link = dst / rf.NIGHTS_DIR / night
        if not link.exists():
            link.symlink_to((src / rf.NIGHTS_DIR / night).resolve(), target_is_directory=True)
    cycles = dst / rf.CYCLES_FILE
    if not cycles.exists():
        cycles.write_bytes((src / rf.CYCLES_FILE).read_bytes())
    return nights


def job_backfill(data_root: str, store: str, first: str, last: str) -> dict:
    """The ``backfill`` job: nights first..last into the store; its summary and seconds."""
    from components.nightly_features.job import run_backfill

    started = time.perf_counter()
    summary = run_backfill(
        data_root, store, first, last, BENCH_SALT.encode(), beam_args("in_memory", 1), "bench"
    )
    return {"job_seconds": time.perf_counter() - started, "files": summary["files"]}


def job_ingest(data_root: str, store_root: str, night: str, out: str) -> dict:
    """The ``ingest`` job: what NightlyFeatureGen's executor does for one night."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.nightly_features.beam_job import FeatureJobConfig
    from components.nightly_features.ingest import ingest
    from components.spans.plan import plan_ingest
    from components.spans.store import SpanStore

    started = time.perf_counter()
    store = SpanStore(store_root)
    plan = plan_ingest(
        store, data_root, dt.date.fromisoformat(night), window_nights=FLEET_WINDOW_NIGHTS
    )
    summary = ingest(
        plan,
        FeatureJobConfig(input_root=data_root, salt=BENCH_SALT.encode()),
        f"{out}/examples",
        f"{out}/quarantine",
        store,
        "bench",
        lambda: beam.Pipeline(options=PipelineOptions(beam_args("in_memory", 1))),
    )
    return {
        "job_seconds": time.perf_counter() - started,
        "nights_ingested": len(plan.ingest),
        "files_read": summary["files"],
        "new_night_files": plan.fingerprints[night][1],
        "history_nights_from_store": len(plan.history),
    }


def job_night_run(data_root: str, workdir: str, night: str, window: str, steps: str) -> dict:
    """The ``night-run`` job: the whole pipeline for one night on a store already holding H."""
    return timed_run(data_root, workdir, int(steps), night=night, window_nights=int(window))


def job_scoring(store_root: str, model_dir: str, out_file: str) -> dict:
    """The ``scoring`` job: every stored night's requests through NightlyPredictions' scoring."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.nightly_predictions import ScoreRequests
    from components.spans.store import INDEX_DIR, SpanStore

    store = SpanStore(store_root)
    nights = sorted(p.stem for p in Path(store_root, INDEX_DIR).glob("*.json"))
    patterns = [store.entry(n).request_files for n in nights]
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_args("in_memory", 1))) as p:
        _ = (
            p
            | beam.Create(patterns)
            | beam.io.ReadAllFromTFRecord(coder=beam.coders.BytesCoder())
            | ScoreRequests(model_dir, os.path.basename(model_dir))
            | beam.combiners.Count.Globally()
            | beam.io.WriteToText(out_file, shard_name_template="")
        )
    scored = int(Path(out_file).read_text())
    return {"job_seconds": time.perf_counter() - started, "scored": scored}


def online_latency(
    data_root: str, store_root: str, model_dir: str, night: str, salt: bytes, repeats: int = 200
) -> dict:
    """One upload to an answer in this process: request building and the model, p50 and p99."""
    import tensorflow as tf

    from components.online_store import default_url, open_store
    from pipeline.serving.online import BadUpload, upload_request
    from transforms.serving_request import EXAMPLES_INPUT, SERVING_SIGNATURE

    signature = tf.saved_model.load(model_dir).signatures[SERVING_SIGNATURE]
    files = sorted(Path(data_root, rf.NIGHTS_DIR, night).glob(f"*{rf.RAW_SUFFIX}"))
    online = open_store(default_url(store_root))  # the backfill published it
    uploads = [(p.name[: -len(rf.RAW_SUFFIX)], p.read_bytes()) for p in files]
    when = dt.date.fromisoformat(night)

    def answer(user: str, upload: bytes):
        request = upload_request(upload, user, when, online, store_root, salt)
        return signature(**{EXAMPLES_INPUT: tf.constant([request.serialized])})

    scorable = []
    for user, upload in uploads:
        try:
            answer(user, upload)  # also warms the signature up
            scorable.append((user, upload))
        except BadUpload:
            continue
    times = []
    for i in range(repeats):
        user, upload = scorable[i % len(scorable)]
        started = time.perf_counter()
        answer(user, upload)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "uploads": len(scorable),
        "repeats": repeats,
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
    }


def job_online(data_root: str, store_root: str, model_dir: str, night: str) -> dict:
    """The ``online`` job: ``online_latency`` in a fresh process."""
    return online_latency(data_root, store_root, model_dir, night, BENCH_SALT.encode())


def measure_nightly_cost(
    data_root: str,
    work_dir: str,
    histories: tuple[int, ...] = (7, 30, 90),
    repeats: int = 3,
    whole_run_steps: int | None = None,
    log=None,
) -> dict:
    """Measure the next night's ingest (and whole run) for each history length; see the module."""
    log = log or sys.stderr
    data = os.path.join(work_dir, "data-from-night-29")
    nights = trimmed_root(data_root, data)
    if len(nights) <= max(histories):
        raise ValueError(f"{len(nights)} nights from the 29th on; {max(histories) + 1} needed")
    points = []
    for h in histories:
        # every night before the new one is in the store: the steady state of a nightly run
        night, first, last = nights[h], nights[0], nights[h - 1]
        workdir = os.path.join(work_dir, f"history-{h}")
        store = os.path.join(workdir, "pipeline_root", "spans")
        log.write(f"bench: nightly cost, {h} nights ingested ({first}..{last}): backfill...\n")
        back = run_measured(
            ["backfill", data, store, first, last], os.path.join(workdir, "backfill-job")
        )
        runs = []
        for i in range(repeats):
            runs.append(
                run_measured(
                    ["ingest", data, store, night, os.path.join(workdir, f"ingest-{i}")],
                    os.path.join(workdir, f"ingest-{i}-job"),
                )
            )
        point = {
            "history_nights": h,
            "night": night,
            "backfill": {
                "nights": h,
                "files": back.result["files"],
                "seconds": back.seconds,
                "cpu_seconds": back.cpu_seconds,
                "job_seconds": back.result["job_seconds"],
            },
            "ingest": {
                "seconds": statistics.median(r.seconds for r in runs),
                "cpu_seconds": statistics.median(r.cpu_seconds for r in runs),
                "job_seconds": statistics.median(r.result["job_seconds"] for r in runs),
                **{
                    k: runs[0].result[k]
                    for k in (
                        "nights_ingested",
                        "files_read",
                        "new_night_files",
                        "history_nights_from_store",
                    )
                },
            },
        }
        log.write(
            f"bench: nightly cost, {h} nights ingested: ingest {point['ingest']['seconds']:.1f} s "
            f"wall, {point['ingest']['cpu_seconds']:.1f} s CPU\n"
        )
        if whole_run_steps:
            whole = run_measured(
                ["night-run", data, workdir, night, str(h), str(whole_run_steps)],
                os.path.join(workdir, "night-run-job"),
            )
            point["whole_run"] = whole.result | {
                "seconds": whole.seconds,
                "cpu_seconds": whole.cpu_seconds,
            }
            log.write(f"bench: nightly cost, {h} nights: whole run {whole.seconds:.0f} s\n")
        points.append(point)
    result = {"points": points, "fleet": fleet_estimate(points)}
    last = points[-1]
    workdir = os.path.join(work_dir, f"history-{last['history_nights']}")
    # TF Serving's integer versions (beside them, the Pusher's push_records)
    models = sorted(Path(workdir, "serving_model").glob("*/[0-9]*"))
    if models:  # the whole run pushed a model: score with it, batch and online
        model = str(models[-1])
        store = os.path.join(workdir, "pipeline_root", "spans")
        log.write("bench: nightly cost: batch scoring of every stored night's requests...\n")
        batch = run_measured(
            ["scoring", store, model, os.path.join(work_dir, "scored.txt")],
            os.path.join(work_dir, "scoring-job"),
        )
        log.write("bench: nightly cost: one upload to an answer, in-process...\n")
        online = run_measured(
            ["online", data, store, model, last["night"]], os.path.join(work_dir, "online-job")
        )
        result["scoring"] = batch.result | {
            "seconds": batch.seconds,
            "cpu_seconds": batch.cpu_seconds,
        }
        result["online"] = online.result
        per_second = batch.result["scored"] / batch.cpu_seconds
        result["fleet"]["scoring_user_nights_per_cpu_second"] = per_second
        result["fleet"]["scoring_core_hours_per_night"] = FLEET_USERS / per_second / 3600
    return result


def fleet_estimate(points: list[dict]) -> dict:
    """The nightly path at 200,000 users, from the measured marginal rates (see BENCHMARKS.md).

    Ingest: the backfill's CPU seconds per raw file (its fixed start-up spread over many files,
    so a marginal rate) times one file per user; the history read is inside that rate, since a
    backfill night reads the same 28 nights of statistics. Training: Transform's and the
    Trainer's seconds per window example (the largest window measured) times a year's window of
    the fleet's examples (the measured examples per user-night), on a training night.
    """
    biggest = max(points, key=lambda p: p["backfill"]["files"])
    backfill = biggest["backfill"]
    per_file = backfill["cpu_seconds"] / backfill["files"]
    out = {
        "users": FLEET_USERS,
        "ingest_cpu_seconds_per_file": per_file,
        "ingest_core_hours_per_night": FLEET_USERS * per_file / 3600,
        "backfill_files_per_cpu_second": 1 / per_file,
        "backfill_core_hours_per_year": FLEET_USERS * 365 * per_file / 3600,
    }
    runs = [p for p in points if "whole_run" in p]
    if runs:
        run = max(runs, key=lambda p: p["history_nights"])
        examples = sum(run["whole_run"]["examples"].values())
        files = run["backfill"]["files"]
        per_example = sum(
            run["whole_run"]["components"].get(c, 0.0) for c in ("Transform", "Trainer")
        ) / max(examples, 1)
        fleet_examples = FLEET_USERS * FLEET_WINDOW_NIGHTS * examples / max(files, 1)
        out |= {
            "window_examples_per_user_night": examples / max(files, 1),
            "train_seconds_per_window_example": per_example,
            "train_core_hours_per_training_night": fleet_examples * per_example / 3600,
        }
    return out
