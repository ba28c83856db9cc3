"""One writer at a time per span store: `cyclecast run` and `cyclecast backfill` exclude each other.

Every process that plans and commits span entries (a local run for its whole length, a backfill,
NightlyFeatureGen's executor, the benchmarks' ingest) holds ``store_writer`` around its planning
and commits, so two writers never plan against the same index, write into the same folder or
interleave commits. A second writer is refused at once with ``StoreBusy``, whose message names the
holder. The lock is an exclusive ``flock`` on ``<store>/writer.lock`` (``components.file_lock``):
the kernel releases it when its holder dies, even on SIGKILL, and the next writer takes it over.

It is re-entrant within one process (a local run holds it while its NightlyFeatureGen executor,
in the same process, takes it again). A span store on a remote file system (``gs://``, ``s3://``)
has no ``flock``: there the orchestrator keeps writers apart (the Kubeflow recurring run has
max concurrency 1), and a backfill of a remote store must not run while the schedule does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

LOCK_FILE = "writer.lock"

_held: dict[str, int] = {}  # store root -> depth of this process's holds


class StoreBusy(RuntimeError):
    """Another process is writing the span store; the message names it."""


def is_local(root: str) -> bool:
    """Whether a store root is a local path (which ``flock`` can lock)."""
    return "://" not in root


@contextmanager
def store_writer(root: str, what: str) -> Iterator[None]:
    """Hold the span store's writer lock for the block; raise ``StoreBusy`` if another holds it."""
    import os

    from components.file_lock import LockHeld, exclusive_flock

    if not is_local(root):
        yield
        return
    key = os.path.realpath(root)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with ExitStack() as held:
        try:
            held.enter_context(exclusive_flock(os.path.join(key, LOCK_FILE), what))
        except LockHeld as e:
            raise StoreBusy(
                f"another cyclecast process is writing the span store {root} ({e.holder}); "
                f"this {what} was refused and changed nothing. Wait for it to finish and run "
                "again."
            ) from None
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
