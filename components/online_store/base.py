"""The online store's interface: staged rows per ingest run, published one night at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class UserState:
    """What the store holds for one user over some nights.

    ``lines``: her stored statistics line per night she has one; ``digests``: per night the
    store holds (hers or not), the sha256 of the statistics file it was built from ("" for a span
    entry that recorded none); ``cycles``: her raw cycle-log lines; ``pruned_before``: nights
    before this one were pruned ("" if none were).
    """

    lines: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    cycles: list[bytes] = field(default_factory=list)
    pruned_before: str = ""


class OnlineStore(ABC):
    """One backend of the online store (SQLite or Redis).

    Writers stage rows under a run id, then publish: ``publish_night`` swaps one night's live
    rows for the staged ones in one step, so a reader sees the night's old rows or its new ones,
    never a mix. Staged rows are invisible to readers; ``discard_staging`` drops them.
    """

    url: str

    @abstractmethod
    def stage_nights(self, run: str, rows: Iterable[tuple[str, str, str]]) -> None:
        """Stage ``(night, user key, statistics line)`` rows (idempotent: a retried bundle)."""

    @abstractmethod
    def stage_cycles(self, run: str, rows: Iterable[tuple[str, bytes]]) -> None:
        """Stage ``(user key, her cycle-log lines joined by newlines)`` rows (idempotent)."""

    @abstractmethod
    def publish_night(self, run: str, night: str, digest: str) -> None:
        """Make the run's staged rows of ``night`` (none: no user) the night's live rows."""

    @abstractmethod
    def publish_cycles(self, run: str) -> None:
        """Make the run's staged cycle rows (none: an empty log) the live ones."""

    @abstractmethod
    def discard_staging(self) -> None:
        """Drop every staged row (of a failed or finished run)."""

    @abstractmethod
    def prune(self, before: str) -> None:
        """Delete the nights before ``before`` (ISO date) and remember that they are gone."""

    @abstractmethod
    def user_state(self, user_key: str, nights: list[str]) -> UserState:
        """Her lines and the store's digests for ``nights``, and her cycle rows."""

    @abstractmethod
    def nights(self) -> dict[str, str]:
        """Every published night -> its digest."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""


def keyed_cycle_line(user_key: str, line: bytes) -> bytes:
    """A cycle-log line as the store keeps it: its user id replaced by her pseudonym.

    The store holds no raw user id (README, "Privacy"); a pseudonym is a valid user-id field, so
    ``records.parse_cycle_line`` reads the line as before, and nothing a request builds from the
    line uses the id.
    """
    _, _, rest = line.partition(b",")
    return user_key.encode() + b"," + rest


def join_cycle_lines(lines: Iterable[bytes]) -> bytes:
    """One user's cycle-log lines as stored: sorted (a stable value), newline-joined."""
    return b"\n".join(sorted(line.rstrip(b"\r\n") for line in lines))


def split_cycle_lines(value: bytes | None) -> list[bytes]:
    """The lines ``join_cycle_lines`` stored."""
    return value.split(b"\n") if value else []
