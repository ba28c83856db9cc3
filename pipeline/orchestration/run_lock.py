"""One local run at a time per metadata store: a second run is refused, never interleaved.

SQLite ML Metadata has no notion of two pipeline runs writing the same store at once, and two runs
of the same night would race on the same cache entries. The lock is an exclusive ``flock`` on a file
beside the store, so the kernel releases it when its holder exits, even on SIGKILL: a killed run
never leaves a stale lock behind. (On Kubeflow, the MLMD server and Argo handle concurrency.)
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunRefused(RuntimeError):
    """Another run holds the store; the message names it."""


def lock_path(metadata_path: str) -> Path:
    """The lock file of a metadata store."""
    return Path(f"{metadata_path}.lock")


@contextmanager
def exclusive_run(metadata_path: str, what: str) -> Iterator[None]:
    """Hold the store's run lock for the block; raise ``RunRefused`` if another run holds it."""
    path = lock_path(metadata_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "an unknown process"
            raise RunRefused(
                f"another cyclecast run is using the metadata store {metadata_path} "
                f"({holder}); this run was refused and changed nothing. Wait for it to finish "
                "and run again."
            ) from None
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
