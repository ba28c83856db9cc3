"""One local run at a time per metadata store: a second run is refused, never interleaved.

ML Metadata has no notion of two pipeline runs writing the same store at once, and two runs of the
same night would race on the same cache entries. For a SQLite store the lock is an exclusive
``flock`` on a file beside it; for a MySQL store it is a named lock held by the run's own database
session (``GET_LOCK``), so runs on different machines sharing one store exclude each other too.
Either way the holder's end releases it (the kernel closes the file, the server ends the session),
even on SIGKILL: a killed run never leaves a stale lock behind. (On Kubeflow, the MLMD server and
Argo handle concurrency.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


class RunRefused(RuntimeError):
    """Another run holds the store; the message names it."""


def lock_path(metadata_path: str) -> Path:
    """The lock file of a metadata store."""
    return Path(f"{metadata_path}.lock")


def exclusive_run(metadata_path: str, what: str):
    """Hold the store's run lock for the block; raise ``RunRefused`` if another run holds it."""
    from pipeline.metadata.connection import recording_address

    address = recording_address(metadata_path)
    if address.kind == "mysql":
        return _mysql_lock(address, what)
    return _file_lock(address.path, what)


@contextmanager
def _mysql_lock(address, what: str) -> Iterator[None]:
    """A MySQL named lock on the store's database, held by this process's own session."""
    from pipeline.metadata.connection import mysql_login

    name = f"cyclecast-run:{address.database}"[:64]  # MySQL caps lock names at 64 characters
    conn = mysql_login(address)  # errors name what failed; the session then holds the lock
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0), IS_USED_LOCK(%s)", (name, name))
            acquired, holder = cur.fetchone()
        if acquired != 1:
            raise RunRefused(
                f"another cyclecast run is using the metadata store {address.describe()} "
                f"(MySQL session {holder} holds the lock {name!r}); this run ({what}) was "
                "refused and changed nothing. Wait for it to finish and run again."
            )
        try:
            yield
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
    finally:
        conn.close()


@contextmanager
def _file_lock(metadata_path: str, what: str) -> Iterator[None]:
    """An exclusive ``flock`` on the file beside a SQLite store."""
    from components.file_lock import LockHeld, exclusive_flock

    with ExitStack() as held:
        try:
            held.enter_context(exclusive_flock(lock_path(metadata_path), what))
        except LockHeld as e:
            raise RunRefused(
                f"another cyclecast run is using the metadata store {metadata_path} "
                f"({e.holder}); this run was refused and changed nothing. Wait for it to "
                "finish and run again."
            ) from None
        yield
