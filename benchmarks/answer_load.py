"""The answer service under load: ``cyclecast serve`` under uvicorn on loopback, many clients.

``running_service`` starts ``cyclecast serve`` in its own process (the server a deployment runs,
not an in-process test client) on a free loopback port and waits until ``/readyz`` answers 200.
``load_test`` sends a fixed number of uploads from concurrent httpx clients and reports
throughput and latency percentiles; every answer must be a 200 (a refusal stops the benchmark:
it would measure the refusal path instead).

Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.local_ports import free_port
from transforms import raw_format as rf

START_TIMEOUT_S = 180  # TensorFlow's import and the model's load; slower on shared cores
SERVE_ENTRY = "import sys; from pipeline.cli import main; sys.exit(main())"



def _ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_service(
    serve_args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``cyclecast serve SERVE_ARGS --host 127.0.0.1 --port P``; yield ``http://127.0.0.1:P``.

    Waits until ``/readyz`` answers 200 (its log is quoted when it never does); stops the
    process (SIGTERM, uvicorn's graceful shutdown) when the block ends.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", SERVE_ENTRY, "serve", *serve_args,
               "--host", "127.0.0.1", "--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=env or dict(os.environ))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"`cyclecast serve` did not become ready at {url}:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def recent_uploads(data_root: str, wanted: int) -> list[tuple[str, str, bytes]]:
    """(user id, night, raw upload) of the newest nights' raw files.

    Whole nights, newest first, until there are at least ``wanted`` (or the nights run out).
    """
    out: list[tuple[str, str, bytes]] = []
    for folder in sorted(Path(data_root, rf.NIGHTS_DIR).iterdir(), reverse=True):
        for path in sorted(folder.glob(f"*{rf.RAW_SUFFIX}")):
            out.append((path.name[: -len(rf.RAW_SUFFIX)], folder.name, path.read_bytes()))
        if len(out) >= wanted:
            break
    return out


def answer_path(user: str, night: str) -> str:
    """The service's path for a user-night."""
    return f"/v1/users/{user}/nights/{night}"


def scorable_uploads(url: str, uploads: list[tuple[str, str, bytes]]) -> list:
    """The uploads the service answers with 200 (one request each, which also warms it up)."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        return [(user, night, upload) for user, night, upload in uploads
                if client.post(answer_path(user, night), content=upload).status_code == 200]


async def _load(url: str, uploads: list, total: int, clients: int) -> tuple:
    import httpx

    times: list[float] = []
    failures: list[str] = []
    next_index = iter(range(total))

    async def client_loop(client: httpx.AsyncClient) -> None:
        for i in next_index:  # the clients share one iterator: each request is sent once
            user, night, upload = uploads[i % len(uploads)]
            started = time.perf_counter()
            response = await client.post(answer_path(user, night), content=upload)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures.append(f"{user}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        seconds = time.perf_counter() - started
    return times, failures, seconds


def load_test(url: str, uploads: list, total: int = 1000, clients: int = 16) -> dict:
    """``total`` (user, night, upload)s, cycling through ``uploads``, from ``clients`` clients."""
    from benchmarks.serving_latency import percentiles_ms

    times, failures, seconds = asyncio.run(_load(url, uploads, total, clients))
    if failures:
        raise RuntimeError(f"{len(failures)} of {total} answers were not 200: {failures[:3]}")
    return {
        "requests": total,
        "clients": clients,
        "distinct_uploads": len(uploads),
        "seconds": seconds,
        "per_second": total / seconds,
        **percentiles_ms(times),
    }


def measure_answer_service(workdir: str, data_root: str, work_dir: str, total: int = 1000,
                           clients: int = 16, candidates: int = 200, threads: int | None = None,
                           log=None) -> dict:
    """The load test against ``cyclecast serve --workdir WORKDIR``.

    The uploads are the newest nights' raw files (``candidates`` of them) that the service
    scores: the others would measure refusals.
    """
    from benchmarks.process import bench_env

    log = log or sys.stderr
    load_before = os.getloadavg()
    args = ["--workdir", workdir, "--data-root", data_root]
    args += ["--threads", str(threads)] if threads else []
    with running_service(args, Path(work_dir) / "serve.log", env=bench_env()) as url:
        version = _readiness(url)["model_version"]
        uploads = scorable_uploads(url, recent_uploads(data_root, candidates))
        if not uploads:
            raise RuntimeError(f"the service scores none of the newest uploads of {data_root}")
        nights = sorted({night for _, night, _ in uploads})
        log.write(f"bench: serve: {len(uploads)} scorable uploads of {nights[0]} to "
                  f"{nights[-1]}, model {version}; {total} requests from {clients} clients...\n")
        result = load_test(url, uploads, total, clients)
    return result | {"nights": (nights[0], nights[-1]), "model_version": version,
                     "threads": threads or os.cpu_count(),
                     "load_before": load_before, "load_after": os.getloadavg()}


def _readiness(url: str) -> dict:
    import httpx

    return httpx.get(f"{url}/readyz", timeout=10).json()
