"""The online store: each user's state a request needs, by pseudonym, at a fixed cost.

An answer to one upload needs her stored nightly statistics of the 28 nights before it and her
cycle-log rows. Reading them from the span store means scanning each night's whole statistics
file and the whole cycle log; the online store holds them per pseudonym instead:

- per night, her stored nightly-statistics line (the very line of the span store's
  ``nightly_stats-<night>.jsonl.gz``, so ``prediction_request.stored_history`` parses it
  unchanged) and the sha256 of the statistics file the night was built from (its span entry's),
  for the nights a request can need (``HISTORY_NIGHTS`` plus the lateness horizon; older ones are
  pruned);
- her cycle-log rows, the raw lines ``records.parse_cycle_line`` parses.

It is written by the ingest (``nightly_features.ingest``): the Beam job stages each night's rows
under the run's id (``staging.StageOnlineRows``), and ``ingest`` publishes a night, atomically,
only after its span-store entry commits; a failed ingest publishes nothing. Two backends behind one
interface (``base.OnlineStore``): SQLite, embedded (a file beside the span store: no server for a
local run), and Redis, the production store (``redis://host:port/db``).
"""

from __future__ import annotations

from components.online_store.base import OnlineStore, UserState

SQLITE_FILE = "online.sqlite"

__all__ = ["OnlineStore", "UserState", "default_url", "open_store"]


def default_url(span_store: str) -> str:
    """The embedded store of a span store: ``sqlite:///<span store>/online.sqlite``.

    (An absolute path makes four slashes, ``sqlite:////abs/path``, as SQLAlchemy writes it.)

    Empty for a span store on a remote file system (``gs://``...): SQLite needs a local file, so
    such a deployment names a Redis store.
    """
    if "://" in span_store:
        return ""
    return f"sqlite:///{span_store.rstrip('/')}/{SQLITE_FILE}"


def open_store(url: str, create: bool = False) -> OnlineStore:
    """The store at ``url``: ``sqlite:///<path>`` or ``redis://host:port/db``.

    A SQLite file that is not there is created only with ``create`` (the ingest); a reader gets
    ``FileNotFoundError`` naming it.
    """
    if url.startswith("sqlite:///"):
        from components.online_store.sqlite_store import SqliteStore

        return SqliteStore(url[len("sqlite:///") :], create=create)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from components.online_store.redis_store import RedisStore

        return RedisStore(url)
    raise ValueError(
        f"unknown online store {url!r}: give sqlite:///<path> or redis://host:port/db"
    )
