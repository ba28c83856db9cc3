"""A whole pipeline recorded in MariaDB (Kubeflow's kind of store), read back, and a racing run.

Uses the MariaDB server ``./dev test`` starts (tests/services/start_mariadb.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT
from pipeline.metadata.connection import PASSWORD_ENV

pytestmark = pytest.mark.e2e

# The first run, in its own process: what the test races a second run against.
_FIRST_RUN = """
import sys
from pathlib import Path
from pipeline.orchestration.local_runner import run_local
from tests.conftest import pipeline_config
cfg = pipeline_config(Path(sys.argv[1]), Path(sys.argv[2]), metadata_path=sys.argv[3])
print(run_local(cfg))
"""


def _lock_holder(server, database: str) -> int | None:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT IS_USED_LOCK(%s)", (f"cyclecast-run:{database}",))
        return cur.fetchone()[0]


def test_a_run_recorded_in_mariadb_reads_back_and_a_racing_run_is_refused(
    mysql_server, mysql_database, tmp_path, capsys, monkeypatch
):
    from pipeline.cli import main
    from synthetic.generate import generate_dataset
    from tests.conftest import pipeline_config

    monkeypatch.setenv(PASSWORD_ENV, mysql_server.password)
    url = mysql_server.url(mysql_database)
    data, work = tmp_path / "data", tmp_path / "work"
    generate_dataset(data, users=16, cycles=3, seed=5, progress=False)
    pipeline_config(work, data, metadata_path=url)  # writes the salt file under work

    env = {**os.environ, PASSWORD_ENV: mysql_server.password, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.Popen(
        [sys.executable, "-c", _FIRST_RUN, str(work), str(data), url],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _lock_holder(mysql_server, mysql_database) is None:
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        # a second run on the same store, from another process, while the first holds it
        racing = subprocess.run(
            [str(Path(sys.executable).parent / "cyclecast"), "run", "--data-root", str(data),
             "--workdir", str(tmp_path / "other"), "--metadata", url, "--train-steps", "5"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        assert racing.returncode == 3, racing.stderr[-3000:]
        assert "refused" in racing.stderr and "holds the lock" in racing.stderr
        out, err = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    first_run = out.strip().splitlines()[-1]

    # a second run through the command line, logged to MLflow afterwards (--mlflow-uri)
    mlflow_uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["run", "--data-root", str(data), "--workdir", str(work), "--metadata", url,
                 "--train-steps", "300", "--mlflow-uri", mlflow_uri]) == 0
    printed = capsys.readouterr().out
    assert main(["runs", "list", "--metadata", url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed][0] == first_run and len(listed) == 2
    second_run = listed[1]["run_id"]
    assert f"exported {second_run} to {mlflow_uri} as MLflow run" in printed
    assert "registered" in printed.splitlines()[-1]  # registered, or why not
    from mlflow.tracking import MlflowClient

    from pipeline.runs.mlflow_export import RUN_TAG

    found = MlflowClient(mlflow_uri).search_runs(
        [MlflowClient(mlflow_uri).get_experiment_by_name("cyclecast").experiment_id],
        filter_string=f"tags.`{RUN_TAG}` = '{second_run}'",
    )
    assert len(found) == 1
    assert main(["runs", "show", first_run, "--metadata", url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["blessed"] is True and shown["pushed_version"]
    assert json.loads(shown["code"]["config"])["metadata_path"] == url  # no password in it
    assert mysql_server.password not in json.dumps(shown)
    assert main(["runs", "compare", first_run, second_run, "--metadata", url, "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    # the command line's run trained with its own evaluation steps; the data and code are the same
    assert "code.feature_code" not in compared["changed"]
    assert "data.input_fingerprint" not in compared["changed"]
    assert "training.train_args.num_steps" not in compared["changed"]
    assert compared["blessed"][0] is True

    version = shown["pushed_version"]
    assert main(["models", "show", version, "--metadata", url, "--json"]) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["run_id"] == first_run and model["version"] == version
    assert Path(model["path"]).is_dir() and model["model_uri"] and model["examples_uri"]
    assert "split:cycles" in model["data"]["input_fingerprint"]  # the raw files and cycle log
