"""``BENCHMARKS.md`` from the figures ``run_benchmarks`` measured, and the kept optimisation log."""

from __future__ import annotations

import math

from components.defaults import WINDOW_NIGHTS

FLEET_USERS = 200_000  # docs/DOMAIN.md "What good looks like": the fleet this design follows


LOG_HEADING = "## Optimisation log"
ONLINE_HEADING = "## The online store: one request at fleet size"


def kept_log(previous: str) -> str:
    """The kept tail of an earlier BENCHMARKS.md: the hand-written optimisation log."""
    at = previous.find(LOG_HEADING)
    return previous[at:].rstrip() + "\n" if at >= 0 else ""


def kept_sections(previous: str) -> str:
    """What other commands wrote into an earlier BENCHMARKS.md, for the full bench to keep.

    ``bench --serve`` and ``bench --online`` each rewrite only their own section; the full bench
    keeps both, then the optimisation log.
    """
    return (
        section_of(previous, SERVE_HEADING)
        + section_of(previous, ONLINE_HEADING)
        + kept_log(previous)
    )


def online_markdown(rows: list[dict], command: str) -> str:
    """The online store's section: request p50/p99 by backend and store size."""
    lines = [
        ONLINE_HEADING,
        "",
        f"Measured with `{command}` (`benchmarks/online_store.py`): the full request build "
        "(`pipeline.serving.online.upload_request` on a real upload: parse and check it, read her "
        "28 history nights, their digests and her cycle rows from the online store, check them "
        "against the span entries, build and serialise the request), in-process, over "
        f"{rows[0]['requests']:,} requests cycling through the {rows[0]['uploads']} answerable "
        "uploads of one night of 80 generated users, after 200 warm-up requests. The fleet "
        "store holds the same users plus synthetic ones (copies of their statistics lines and "
        "cycle rows under other pseudonyms) for every history night, staged and published as the "
        "ingest does. The goal (issue 25): p99 at 200,000 users at most 20 ms and at most 1.5x "
        "the p99 at 80 users.",
        "",
        "| backend | users in the store | p50 ms | p99 ms | p99 vs 80 users | store filled in s |",
        "|---|---|---|---|---|---|",
    ]
    base = {r["backend"]: r["p99_ms"] for r in rows if r["users"] == min(x["users"] for x in rows)}
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['users']:,} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['p99_ms'] / base[r['backend']]:.2f}x | {r['fill_seconds']:.0f} |"
        )
    lines += [""] + [
        f"    online request p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms at {r['users']} "
        f"users ({r['backend']})"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


SERVE_HEADING = "## The answer service under load"


def section_of(text: str, heading: str) -> str:
    """The section of ``text`` under ``heading`` (to the next ``## `` heading), or ""."""
    at = text.find(heading + "\n")
    if at < 0:
        return ""
    end = text.find("\n## ", at + len(heading))
    return text[at : end + 1 if end >= 0 else len(text)].rstrip() + "\n\n"


def with_section(text: str, heading: str, section: str) -> str:
    """``text`` with its section under ``heading`` replaced by ``section``.

    A missing section is added before the optimisation log, else at the end.
    """
    old = section_of(text, heading)
    if old:
        at = text.find(heading + "\n")
        return text[:at] + section + text[at + len(old.rstrip()) :].lstrip("\n")
    log_at = text.find(LOG_HEADING)
    if log_at >= 0:
        return text[:log_at] + section + text[log_at:]
    return text.rstrip() + "\n\n" + section


def serve_section(figures: dict, command: str) -> str:
    """BENCHMARKS.md's load test of ``cyclecast serve`` (``bench --serve`` rewrites only this)."""
    f = figures
    before, after = (" / ".join(f"{x:.2f}" for x in f[k]) for k in ("load_before", "load_after"))
    lines = [
        SERVE_HEADING,
        "",
        f"Measured with `{command}` on: {f['machine']}. Load average (1/5/15 min) before: "
        f"{before}; after: {after}.",
        "",
        "`cyclecast serve` runs under uvicorn (one process, the model in-process, "
        f"{f['threads']} answer threads) on a loopback port; {f['clients']} concurrent httpx "
        f"clients in one other process send {f['requests']:,}"
        f" uploads, cycling through the {f['distinct_uploads']} uploads of nights {f['nights'][0]}"
        f" to {f['nights'][1]} that the service scores (the newest raw gzipped CSV files of the "
        "data, as the phone uploads them). Each "
        "answer is the whole online path: parse, validate and summarise the raw file, the user's "
        "28 previous nights from the store, the model's `serving_default` (version "
        f"{f['model_version']}). Every answer was a 200.",
        "",
        "| requests | clients | seconds | answers / s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
        f"| {f['requests']:,} | {f['clients']} | {f['seconds']:.1f} | {f['per_second']:,.1f} | "
        f"{f['p50_ms']:.1f} | {f['p99_ms']:.1f} |",
        "",
        "Latency is per request as a client sees it, queueing behind the other clients included; "
        "the clients share the machine's cores with the server.",
        "",
    ]
    return "\n".join(lines) + "\n"


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
        f"rows): memory {'stays flat' if flat else 'grows'} "
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


def _nightly_lines(nightly: dict) -> list[str]:
    """The next night's cost against the history already ingested, and the fleet figures."""
    points = nightly["points"]
    base = points[0]["ingest"]
    lines = [
        "## The nightly path: the next night against the history already ingested",
        "",
        "The next night ingested into a span store already holding every night before it "
        "(`benchmarks/nightly_cost.py`; each ingest three times in a fresh process, "
        "median; CPU is user + system of the process, start-up included).",
        "",
        "| nights already ingested | new night | nights ingested | raw files read "
        "| the new night's files "
        "| history nights read from the store | ingest wall s | ingest CPU s | CPU vs "
        f"{points[0]['history_nights']} nights |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        i = p["ingest"]
        lines.append(
            f"| {p['history_nights']} | {p['night']} | {i['nights_ingested']} | "
            f"{i['files_read']} | "
            f"{i['new_night_files']} | {i['history_nights_from_store']} | {i['seconds']:.1f} | "
            f"{i['cpu_seconds']:.1f} | {i['cpu_seconds'] / base['cpu_seconds']:.2f}x |"
        )
    runs = [p for p in points if "whole_run" in p]
    if runs:
        lines += [
            "",
            "The whole run for that night (one night ingested, the window of the ingested nights "
            "gathered, Transform and Trainer over it), in its own process:",
            "",
            "| window nights | examples | whole run s | NightlyFeatureGen s | TrainingWindow s "
            "| Transform s | Trainer s |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in runs:
            w = p["whole_run"]
            c = w["components"]
            lines.append(
                f"| {p['history_nights']} | {sum(w['examples'].values())} | {w['seconds']:.0f} | "
                + " | ".join(
                    f"{c.get(n, 0.0):.1f}"
                    for n in ("NightlyFeatureGen", "TrainingWindow", "Transform", "Trainer")
                )
                + " |"
            )
    if "online" in nightly:
        o, sc = nightly["online"], nightly["scoring"]
        lines += [
            "",
            "Answers, with the model the 90-night whole run pushed:",
            "",
            f"- One upload to an answer in-process (`pipeline/serving/online.py`: parse, validate "
            f"and summarise the raw file, 28 nights of history from the span store, the model's "
            f"`serving_default`), over {o['repeats']} requests cycling through the "
            f"{o['uploads']} users of the night: **p50 {o['p50_ms']:.1f} ms, p99 "
            f"{o['p99_ms']:.1f} ms**.",
            f"- Nightly batch scoring (NightlyPredictions' `RunInference`, DirectRunner, one "
            f"worker) of every stored night's requests: {sc['scored']} user-nights in "
            f"{sc['seconds']:.1f} s ({sc['cpu_seconds']:.1f} CPU s, start-up included): "
            f"**{sc['scored'] / sc['cpu_seconds']:,.0f} user-nights per CPU-second**.",
        ]
    f = nightly["fleet"]
    lines += [
        "",
        "### The fleet, from the nightly path as shipped",
        "",
        f"- Ingest: {f['ingest_cpu_seconds_per_file'] * 1000:.1f} ms of CPU per raw file (the "
        "backfill's marginal rate, history read included) x one file per user: "
        f"**{f['ingest_core_hours_per_night']:,.2f} core-hours a night** for {f['users']:,} "
        "users, the same whatever the history.",
        f"- Backfill: {f['backfill_files_per_cpu_second']:,.0f} user-nights per CPU-second; a "
        f"year of the fleet's history is **{f['backfill_core_hours_per_year']:,.0f} "
        "core-hours** (one Beam job, parallel on the configured runner).",
    ]
    if "scoring_core_hours_per_night" in f:
        lines.append(
            f"- Scoring every user's night: **{f['scoring_core_hours_per_night']:,.2f} "
            "core-hours a night** (at the measured batch rate, start-up included)."
        )
    if "train_core_hours_per_training_night" in f:
        lines.append(
            f"- Training on a {WINDOW_NIGHTS}-night window: Transform and Trainer took "
            f"{f['train_seconds_per_window_example'] * 1000:.2f} ms per window example here; at "
            f"{f['window_examples_per_user_night']:.2f} examples per user-night the fleet's "
            f"window is "
            f"{f['users'] * WINDOW_NIGHTS * f['window_examples_per_user_night']:,.0f} examples: "
            f"**{f['train_core_hours_per_training_night']:,.1f} core-hours per training night** "
            "(a linear extrapolation: the Trainer's fixed step count makes it an upper bound "
            "for the Trainer). `--train-every N` divides it by N."
        )
    return lines + [""]


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
    if "nightly" in figures:
        lines += _nightly_lines(figures["nightly"])
    if "features" in figures:
        beam = next(f for f in figures["features"] if "in_memory" in f["name"])
        rate = beam["rows_per_second_per_core"]
        rows_per_night = figures["rows"] / max(figures["files"], 1)
        night_core_hours = FLEET_USERS * rows_per_night / rate / 3600
        lines += [
            "## On paper: one night of raw data",
            "",
            f"At {rate:,.0f} raw rows / s / core (Beam in_memory, start-up included) and "
            f"{rows_per_night:,.0f} rows per user-night, parsing one night of a "
            f"{FLEET_USERS:,}-user fleet's raw data is {night_core_hours:,.1f} core-hours (the "
            "raw-data part of a night; the nightly path's own figures are above when measured).",
            "",
        ]
    if log:
        lines += ["", log.rstrip()]
    return "\n".join(lines)
