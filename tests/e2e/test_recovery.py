"""A run killed mid-component recovers on re-run; a run racing it on the same store is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CYCLECAST = str(Path(sys.executable).parent / "cyclecast")


def _store(db: Path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(db)
    return metadata_store.MetadataStore(config)


def _executions_by_component(db: Path) -> list[tuple[str, str]]:
    """(component type, state) of every execution, oldest first; retried while SQLite is busy."""
    from ml_metadata.proto import metadata_store_pb2

    for _ in range(20):
        try:
            store = _store(db)
            types = {t.id: t.name for t in store.get_execution_types()}
            return [
                (types[e.type_id].rsplit(".", 1)[-1],
                 metadata_store_pb2.Execution.State.Name(e.last_known_state))
                for e in sorted(store.get_executions(), key=lambda e: e.id)
            ]
        except Exception:  # the writer holds SQLite's lock for a moment
            time.sleep(0.2)
    raise AssertionError(f"could not read {db}")


def _wait_for(predicate, timeout_s: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_component_then_rerun_and_a_racing_run(tmp_path):
    from synthetic.generate import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, users=16, cycles=2, seed=3, progress=False)
    work = tmp_path / "work"
    db = work / "metadata.db"
    args = [CYCLECAST, "run", "--data-root", str(data), "--workdir", str(work),
            "--train-steps", "1500"]
    env = {**os.environ, "CYCLECAST_ID_SALT": "recovery-test-salt-0123456789",
           "TF_CPP_MIN_LOG_LEVEL": "3"}

    first = subprocess.Popen(args, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: db.exists() and ("Trainer", "RUNNING") in _executions_by_component(db),
                  600, "the Trainer to start", first)

        # a second run of the same night while the first trains: refused, and it changes nothing
        before = _executions_by_component(db)
        racing = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert racing.returncode == 3, racing.stderr[-2000:]
        assert "refused" in racing.stderr and "another cyclecast run" in racing.stderr
        assert _executions_by_component(db)[: len(before)] == before
        assert first.poll() is None  # the first run went on

        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL

    killed = _executions_by_component(db)
    assert ("Trainer", "RUNNING") in killed and ("Trainer", "COMPLETE") not in killed
    assert all(c != "Pusher" for c, _ in killed)
    store = _store(db)
    from ml_metadata.proto import metadata_store_pb2

    live = metadata_store_pb2.Artifact.LIVE
    # nothing half-written is marked complete: no live model, and every live artifact exists
    assert not [a for a in store.get_artifacts_by_type("Model") if a.state == live]
    for artifact in store.get_artifacts():
        if artifact.state == live:
            assert Path(artifact.uri).exists(), artifact.uri
    assert not (work / "serving_model").exists()

    rerun = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True,
                           timeout=1200)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout)
    states = summary["executions"]
    for finished in ("NightlyFeatureGen", "StatisticsGen", "ExampleValidator", "Transform"):
        assert states[finished] == "CACHED", states
    assert states["Trainer"] == "COMPLETE" and states["Pusher"] == "COMPLETE", states
    # the re-run evaluated its model (this small history may or may not bless it)
    assert 0.5 < summary["candidate"]["auc"] <= 1.0
    assert summary["blessed"] == (summary["pushed_path"] is not None)
    assert [a for a in _store(db).get_artifacts_by_type("Model") if a.state == live]
    # and no raw user id reached the run's output or log
    from synthetic.generate import user_id

    printed = rerun.stdout + rerun.stderr + racing.stderr
    assert not [u for u in map(user_id, range(16)) if u in printed]
