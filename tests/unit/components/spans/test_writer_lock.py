"""The span store's writer lock: one writer at a time (run or backfill), a dead one's taken."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.spans.writer_lock import LOCK_FILE, StoreBusy, store_writer

REPO = Path(__file__).resolve().parents[4]
HOLD = (
    "import sys, time\n"
    "from components.spans.writer_lock import store_writer\n"
    "with store_writer(sys.argv[1], 'backfill 2026-01-01..2026-01-31'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the store's writer lock (killed at the end)."""
    store = tmp_path / "spans"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.readline().strip() == "held"
    yield store, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_naming_the_holder(holder):
    store, proc = holder
    with pytest.raises(StoreBusy) as refused:
        with store_writer(str(store), "run of night 2026-02-01"):
            pytest.fail("entered a store another process is writing")
    message = str(refused.value)
    assert f"pid {proc.pid}" in message and "backfill 2026-01-01..2026-01-31" in message
    assert "run of night 2026-02-01 was refused and changed nothing" in message


def test_a_killed_holders_lock_is_taken_over(holder):
    store, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the dead holder's record is still in the file; the kernel released its flock
    assert json.loads((store / LOCK_FILE).read_text())["pid"] == proc.pid
    with store_writer(str(store), "backfill again"):
        record = json.loads((store / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["run"] == "backfill again"


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    store = str(tmp_path / "spans")
    with store_writer(store, "run"):
        with store_writer(store, "its ingest"):  # the run's own executor, in the same process
            pass
        assert json.loads((tmp_path / "spans" / LOCK_FILE).read_text())["run"] == "run"
    probe = subprocess.run(
        [sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), store],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert probe.stdout.strip() == "held", probe.stderr


def test_a_run_is_refused_while_a_backfill_writes_its_store(holder, tmp_path):
    from pipeline.orchestration.local_runner import _exclusive
    from pipeline.orchestration.run_lock import RunRefused, exclusive_run

    store, _ = holder
    cfg = SimpleNamespace(
        metadata_path=str(tmp_path / "metadata.db"),
        night="2026-02-01",
        data_root="/data",
        span_store=str(store),
    )
    with pytest.raises(RunRefused, match="backfill 2026-01-01..2026-01-31"):
        with _exclusive(cfg):
            pytest.fail("ran while a backfill held the store")
    with exclusive_run(cfg.metadata_path, "next"):  # the metadata lock it took was released
        pass


def test_backfill_is_refused_exit_3_while_another_writer_holds_the_store(holder, tmp_path, capsys):
    from pipeline.cli import main
    from tests.rawfiles import write_steady_root

    store, _ = holder
    work = store.parent / "work"
    data = tmp_path / "data"
    write_steady_root(data, nights=1)
    # the store of the backfill's work directory is the one the holder writes
    span_store = work / "pipeline_root" / "spans"
    span_store.parent.mkdir(parents=True)
    span_store.symlink_to(store)
    status = main(
        ["backfill", "--from", "2026-01-05", "--to", "2026-01-05", "--data-root", str(data),
         "--workdir", str(work), "--salt-file", str(_salt(tmp_path))]
    )
    assert status == 3
    err = capsys.readouterr().err
    assert "cyclecast backfill: refused." in err and "backfill 2026-01-01..2026-01-31" in err
    assert not (store / "index").exists() and not (store / "backfill").exists()


def _salt(tmp_path: Path) -> Path:
    path = tmp_path / "salt"
    path.write_text("writer-lock-test-salt-0123456789")
    return path
