"""A real ``mlflow server`` for the MLflow tests: started on a free loopback port, stopped after.

The tests talk to MLflow the way a team's set-up does (REST over HTTP, the server's own checks on
model version sources), not to an in-process store. The server keeps its runs and registry in the
backend store it is given (SQLite, or MariaDB through ``mysql+pymysql://``) and the artifacts it
serves (``mlflow-artifacts:/``, MLflow's default) in a directory of the test's: clients upload
through the server, as they do to a team's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.local_ports import free_port
from pipeline.runs.mlflow_export import redacted

START_TIMEOUT_S = 180  # it starts in 15-50 s here, slower while pipelines share the cores



def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def mlflow_server(backend_store_uri: str, workdir: Path) -> Iterator[str]:
    """Run ``mlflow server`` on ``backend_store_uri``; yield its tracking URI (``http://...``).

    One worker keeps it light on the shared cores. The server's log is in ``workdir/server.log``
    and is quoted when it does not come up.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(mlflow_cli), "server",
                "--backend-store-uri", backend_store_uri,
                "--artifacts-destination", str(workdir / "artifacts"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # its own process group: stopping it stops its workers
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                store = redacted(backend_store_uri)  # the MariaDB one carries a password
                pytest.fail(f"mlflow server on {store} did not come up:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server's process group (the CLI, uvicorn and its worker), then wait for it."""
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)  # its data is the test's, nothing to save
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
