"""The production online store: Redis (``redis://host:port/db``).

Layout, every key under ``cyclecast:``: one hash per night, ``night:<YYYY-MM-DD>``, field = user
key, value = her statistics line; ``digests``, night -> the statistics file's sha256; ``cycles``,
user key -> her cycle-log lines; ``pruned_before``. A request reads her 28 nights, the digests and
her cycles in one MULTI/EXEC round trip (HGET per night: constant in the fleet's size). A run
stages into ``staging:<run>:...`` keys, and a night is published by RENAME of its staged hash onto
the live one inside MULTI/EXEC, with its digest: readers see the old hash or the new one.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.online_store.base import OnlineStore, UserState, split_cycle_lines

PREFIX = "cyclecast:"
DIGESTS = f"{PREFIX}digests"
CYCLES = f"{PREFIX}cycles"
PRUNED_BEFORE = f"{PREFIX}pruned_before"
STAGING = f"{PREFIX}staging:"
NIGHT = f"{PREFIX}night:"
BATCH = 5000  # fields per HSET while staging


def _night_key(night: str) -> str:
    return f"{NIGHT}{night}"


def _staged(run: str, what: str) -> str:
    return f"{STAGING}{run}:{what}"


class RedisStore(OnlineStore):
    """The online store in the Redis database at ``url``."""

    def __init__(self, url: str):
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url)

    def _hset_all(self, pipe, key: str, mapping: dict) -> None:
        items = list(mapping.items())
        for i in range(0, len(items), BATCH):
            pipe.hset(key, mapping=dict(items[i : i + BATCH]))

    def stage_nights(self, run: str, rows: Iterable[tuple[str, str, str]]) -> None:
        """HSET the lines into the run's staged hash of each night (idempotent)."""
        by_night: dict[str, dict[str, str]] = {}
        for night, key, line in rows:
            by_night.setdefault(night, {})[key] = line
        pipe = self._redis.pipeline(transaction=False)
        for night, mapping in by_night.items():
            self._hset_all(pipe, _staged(run, _night_key(night)), mapping)
        pipe.execute()

    def stage_cycles(self, run: str, rows: Iterable[tuple[str, bytes]]) -> None:
        """HSET the users' cycle rows into the run's staged cycles hash."""
        pipe = self._redis.pipeline(transaction=False)
        self._hset_all(pipe, _staged(run, CYCLES), dict(rows))
        pipe.execute()

    def _swap(self, staged: str, live: str, extra=None) -> None:
        exists = self._redis.exists(staged)  # staged keys change no more: the job has ended
        pipe = self._redis.pipeline(transaction=True)
        if exists:
            pipe.rename(staged, live)
        else:
            pipe.delete(live)
        if extra:
            extra(pipe)
        pipe.execute()

    def publish_night(self, run: str, night: str, digest: str) -> None:
        """RENAME the staged hash onto the night's and set its digest, in one MULTI/EXEC."""
        self._swap(
            _staged(run, _night_key(night)),
            _night_key(night),
            lambda pipe: pipe.hset(DIGESTS, night, digest),
        )

    def publish_cycles(self, run: str) -> None:
        """RENAME the staged cycles hash onto the live one."""
        self._swap(_staged(run, CYCLES), CYCLES)

    def discard_staging(self) -> None:
        """Delete every staged key."""
        keys = list(self._redis.scan_iter(match=f"{STAGING}*", count=1000))
        if keys:
            self._redis.delete(*keys)

    def prune(self, before: str) -> None:
        """Delete the nights before ``before`` and their digests, and record the bound."""
        old = [n.decode() for n in self._redis.hkeys(DIGESTS) if n.decode() < before]
        pipe = self._redis.pipeline(transaction=True)
        for night in old:
            pipe.delete(_night_key(night))
            pipe.hdel(DIGESTS, night)
        current = (self._redis.get(PRUNED_BEFORE) or b"").decode()
        pipe.set(PRUNED_BEFORE, max(before, current))
        pipe.execute()

    def user_state(self, user_key: str, nights: list[str]) -> UserState:
        """One MULTI/EXEC: her line of each night, their digests, her cycles, the pruning bound."""
        pipe = self._redis.pipeline(transaction=True)
        for night in nights:
            pipe.hget(_night_key(night), user_key)
        if nights:
            pipe.hmget(DIGESTS, nights)
        pipe.hget(CYCLES, user_key)
        pipe.get(PRUNED_BEFORE)
        replies = pipe.execute()
        state = UserState()
        for night, line in zip(nights, replies, strict=False):
            if line is not None:
                state.lines[night] = line.decode()
        if nights:
            digests = replies[len(nights)]
            pairs = zip(nights, digests, strict=True)
            state.digests = {n: d.decode() for n, d in pairs if d is not None}
        state.cycles = split_cycle_lines(replies[-2])
        state.pruned_before = (replies[-1] or b"").decode()
        return state

    def nights(self) -> dict[str, str]:
        """Every published night and its digest."""
        published = self._redis.hgetall(DIGESTS)
        return dict(sorted((k.decode(), v.decode()) for k, v in published.items()))

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()
