"""An exclusive, non-blocking ``flock`` on a local file that names its holder.

Used by the metadata store's run lock (``pipeline.orchestration.run_lock``) and the span store's
writer lock (``components.spans.writer_lock``). The kernel releases a ``flock`` when its holder's
file is closed, so a holder killed by SIGKILL leaves no stale lock: the next process takes it over
and overwrites the dead holder's record. The record (pid, start time, what it runs) is only
there to name the holder in a refusal.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(RuntimeError):
    """Another process holds the lock; ``holder`` describes it (its record, or a placeholder)."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def _describe(record_text: str) -> str:
    """The holder's record as a person reads it, saying when its pid is no longer running."""
    try:
        record = json.loads(record_text)
    except ValueError:
        return record_text.strip() or "an unknown process"
    if not isinstance(record, dict):
        return record_text.strip()
    text = ", ".join(f"{k} {v}" for k, v in record.items())
    pid = record.get("pid")
    if isinstance(pid, int) and not _alive(pid):
        # the lock outlived its pid: a process it started (a fork) still holds the open file
        text += " (no longer running: a process it started still holds the lock)"
    return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def exclusive_flock(path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block; raise ``LockHeld`` if taken.

    The file records this process as the holder (pid, start, ``what``) while the block runs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise LockHeld(_describe(f.read())) from None
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "run": what,
                }
            )
        )
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)
