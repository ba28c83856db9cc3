"""The embedded online store: one SQLite file (stdlib ``sqlite3``), no server.

Live rows are keyed ``(user_key, night)`` (a request reads her nights with one range scan of
that key: its cost grows with neither the fleet nor the stored nights); staged rows carry the
run's id and are copied to the live table in one transaction per night. The file is in WAL mode,
so a reader is never blocked by a publish and sees the state before or after it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from components.online_store.base import OnlineStore, UserState, split_cycle_lines

SCHEMA = """
CREATE TABLE IF NOT EXISTS nights (
    user_key TEXT NOT NULL, night TEXT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (user_key, night)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nights_by_night ON nights (night);
CREATE TABLE IF NOT EXISTS night_digests (night TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cycles (user_key TEXT PRIMARY KEY, lines BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_nights (
    run TEXT NOT NULL, night TEXT NOT NULL, user_key TEXT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (run, night, user_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_cycles (
    run TEXT NOT NULL, user_key TEXT NOT NULL, lines BLOB NOT NULL,
    PRIMARY KEY (run, user_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
BUSY_TIMEOUT_S = 60.0  # Beam workers staging at once wait for each other's transactions


class SqliteStore(OnlineStore):
    """The online store in the SQLite file at ``path``."""

    def __init__(self, path: str, create: bool = False):
        self.path = path
        self.url = f"sqlite:///{path}"
        if not create and not Path(path).is_file():
            raise FileNotFoundError(
                f"no online store at {path}: the ingest writes it (`cyclecast run`, or "
                "`cyclecast backfill` over the nights to answer)"
            )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        # WAL with NORMAL sync: a commit is atomic and durable across a crash of the process; a
        # power cut may lose the last publishes, which the next ingest or a backfill re-publishes
        self._db.execute("PRAGMA synchronous=NORMAL")
        if create:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def _transaction(self, statements: Iterable[tuple[str, tuple]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                db.execute(sql, params)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _many(self, sql: str, rows: list[tuple]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(sql, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def stage_nights(self, run: str, rows: Iterable[tuple[str, str, str]]) -> None:
        """Stage statistics lines; a retried bundle's rows replace its earlier copy."""
        self._many(
            "INSERT OR REPLACE INTO staged_nights VALUES (?, ?, ?, ?)",
            [(run, night, key, line) for night, key, line in rows],
        )

    def stage_cycles(self, run: str, rows: Iterable[tuple[str, bytes]]) -> None:
        """Stage users' cycle rows."""
        self._many(
            "INSERT OR REPLACE INTO staged_cycles VALUES (?, ?, ?)",
            [(run, key, lines) for key, lines in rows],
        )

    def publish_night(self, run: str, night: str, digest: str) -> None:
        """Replace the night's live rows and digest with the staged ones in one transaction."""
        self._transaction(
            [
                ("DELETE FROM nights WHERE night = ?", (night,)),
                (
                    "INSERT INTO nights SELECT user_key, night, line FROM staged_nights "
                    "WHERE run = ? AND night = ?",
                    (run, night),
                ),
                ("INSERT OR REPLACE INTO night_digests VALUES (?, ?)", (night, digest)),
                ("DELETE FROM staged_nights WHERE run = ? AND night = ?", (run, night)),
            ]
        )

    def publish_cycles(self, run: str) -> None:
        """Replace every live cycle row with the staged ones in one transaction."""
        self._transaction(
            [
                ("DELETE FROM cycles", ()),
                ("INSERT INTO cycles SELECT user_key, lines FROM staged_cycles WHERE run = ?",
                 (run,)),
                ("DELETE FROM staged_cycles WHERE run = ?", (run,)),
            ]
        )

    def discard_staging(self) -> None:
        """Drop every staged row."""
        self._transaction([("DELETE FROM staged_nights", ()), ("DELETE FROM staged_cycles", ())])

    def prune(self, before: str) -> None:
        """Delete the nights before ``before`` and record the bound."""
        self._transaction(
            [
                ("DELETE FROM nights WHERE night < ?", (before,)),
                ("DELETE FROM night_digests WHERE night < ?", (before,)),
                ("INSERT OR REPLACE INTO meta VALUES ('pruned_before', max(?, "
                 "coalesce((SELECT value FROM meta WHERE key = 'pruned_before'), '')))",
                 (before,)),
            ]
        )

    def user_state(self, user_key: str, nights: list[str]) -> UserState:
        """Read in one transaction: a consistent snapshot across the nights."""
        state = UserState()
        db = self._db
        db.execute("BEGIN")
        try:
            if nights:
                first, last = min(nights), max(nights)
                wanted = set(nights)
                for night, line in db.execute(
                    "SELECT night, line FROM nights WHERE user_key = ? AND night BETWEEN ? AND ?",
                    (user_key, first, last),
                ):
                    if night in wanted:
                        state.lines[night] = line
                for night, digest in db.execute(
                    "SELECT night, digest FROM night_digests WHERE night BETWEEN ? AND ?",
                    (first, last),
                ):
                    if night in wanted:
                        state.digests[night] = digest
            row = db.execute("SELECT lines FROM cycles WHERE user_key = ?", (user_key,)).fetchone()
            state.cycles = split_cycle_lines(row[0] if row else None)
            row = db.execute("SELECT value FROM meta WHERE key = 'pruned_before'").fetchone()
            state.pruned_before = row[0] if row else ""
        finally:
            db.execute("COMMIT")
        return state

    def nights(self) -> dict[str, str]:
        """Every published night and its digest."""
        return dict(self._db.execute("SELECT night, digest FROM night_digests ORDER BY night"))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
