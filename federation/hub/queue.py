"""A work queue of object keys: deduplicated, one worker per key at a time, delayed adds.

A key added while it is queued is not queued twice; a key added while a worker holds it
is queued again once the worker is done, so no change is lost and no key runs twice at
once (the same contract as client-go's workqueue). Keys come out by ``band`` first
(``CHANGE`` before ``STATUS`` before ``RESYNC``), then by ``priority`` (higher first; the
policy's priority for templates), first in first out within one rank. A key queued at a
low rank (a resync, a copy's status) and added again at a higher one (a real change)
moves up: it does not wait behind them. So when a cluster fails, moving its workloads
does not queue behind the status updates of the copies already moved.

Retries of failures are rate limited (``add_rate_limited``): a key is due after the
queue's ``RetryLimiter`` says (by default client-go's controller limiter: per key 5 ms,
doubling with each failure, at most 300 s; and 10 retries/s, burst 100, over all keys,
whichever is longer); ``forget`` (after a success) starts the key's backoff afresh. A key
waits for at most one retry; a later one never postpones it (the earlier due time stays).
A retry never holds a key back: an ``add`` (a real change) queues it at once, and when
the key runs, for whatever reason, its pending retry is dropped (that run decides whether
to retry again), so a resync that runs a failing key costs no second run, and the
dropped retry's token of the overall limit is given back. ``add`` and ``add_after`` take
no token of the overall limit.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from federation.hub.ratelimit import RetryLimiter, default_retry_limiter

K = TypeVar("K", bound=Hashable)

RESYNC = 0  # periodic resync: nothing known to have changed
STATUS = 1  # a copy's status moved: the hub's aggregated status is behind
CHANGE = 2  # the desired state changed (template, policy, fleet, a failover is due)


class WorkQueue(Generic[K]):
    def __init__(self, priority: Callable[[K], int] | None = None, *,
                 limiter: RetryLimiter | None = None) -> None:
        self._priority = priority
        self.limiter: RetryLimiter = limiter if limiter is not None else (
            default_retry_limiter())
        self._seq = itertools.count()
        self._queue: asyncio.PriorityQueue[tuple[int, int, int, K]] = asyncio.PriorityQueue()
        self._queued: dict[K, tuple[int, int]] = {}  # key -> best (band, priority) queued
        self._active: set[K] = set()
        self._again: dict[K, tuple[int, int]] = {}  # added while active: its best rank
        # pending add_after timers by id: a TimerHandle hashes by its due time, so a set
        # of many handles due at one instant degrades to a list
        self._timers: dict[int, asyncio.TimerHandle] = {}
        # key -> (when, band) of its pending delayed add
        self._due: dict[K, tuple[float, int]] = {}
        # key -> (when, band, timer) of its pending rate-limited retry
        self._retry: dict[K, tuple[float, int, asyncio.TimerHandle]] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, priority: int | None = None, *, band: int = CHANGE) -> None:
        """Queue ``key`` in ``band`` at ``priority`` (default: the queue's priority
        function)."""
        if priority is None:
            priority = self._priority(key) if self._priority is not None else 0
        rank = (band, priority)
        if key in self._active:
            self._again[key] = max(rank, self._again.get(key, rank))
            return
        queued = self._queued.get(key)
        if queued is not None and queued >= rank:
            return
        # new, or moving up: the older, lower entry is skipped when it comes out
        self._queued[key] = rank
        self._queue.put_nowait((-band, -priority, next(self._seq), key))

    def add_after(self, key: K, delay: float, *, band: int = CHANGE) -> None:
        """Add ``key`` in ``delay`` seconds. A key already due earlier, in the same band
        or a higher one, is not timed again: that add covers this one (a burst of copy
        status events is one reconcile)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        due = self._due.get(key)
        if due is not None and due[0] <= when and due[1] >= band:
            return
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.pop(id(handle), None)
            if self._due.get(key) == (when, band):
                del self._due[key]
            self.add(key, band=band)

        handle = loop.call_at(when, fire)
        self._timers[id(handle)] = handle
        self._due[key] = (when, band)

    def add_rate_limited(self, key: K, *, band: int = CHANGE) -> float:
        """Count a failure of ``key`` and retry it when the limiter says (in ``band``).
        A retry already pending stays if it is due earlier; else the earlier time and the
        higher band of the two are kept (one timer per key). Returns the seconds until
        the retry."""
        delay = self.limiter.when(key)
        loop = asyncio.get_running_loop()
        now = loop.time()
        when = now + delay
        retry = self._retry.get(key)
        if retry is not None:
            if retry[0] <= when and retry[1] >= band:
                return retry[0] - now
            when, band = min(when, retry[0]), max(band, retry[1])
            retry[2].cancel()
        elif delay <= 0:
            self.add(key, band=band)
            return 0.0
        self._retry[key] = (when, band, loop.call_at(when, self._fire_retry, key))
        return when - now

    def _fire_retry(self, key: K) -> None:
        retry = self._retry.pop(key, None)
        if retry is not None:
            self.add(key, band=retry[1])

    def _drop_retry(self, key: K) -> None:
        retry = self._retry.pop(key, None)
        if retry is not None:
            retry[2].cancel()
            self.limiter.cancel(key)  # it will not happen: its share of the limit back

    def forget(self, key: K) -> None:
        """``key`` succeeded: its failures are forgotten (the next backoff starts at the
        base again) and a retry still pending is dropped."""
        self._drop_retry(key)
        self.limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Failures of ``key`` counted since it was last forgotten."""
        return self.limiter.num_requeues(key)

    def retry_due(self, key: K) -> float | None:
        """The event loop time of ``key``'s pending retry, None without one."""
        retry = self._retry.get(key)
        return retry[0] if retry is not None else None

    async def get(self) -> K:
        while True:
            neg_band, neg_prio, _, key = await self._queue.get()
            if self._queued.get(key) == (-neg_band, -neg_prio):
                break  # else a stale entry of a key that moved up or already ran
        del self._queued[key]
        self._active.add(key)
        self._drop_retry(key)  # this run decides whether to retry again
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        rank = self._again.pop(key, None)
        if rank is not None:
            self.add(key, rank[1], band=rank[0])

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._due.clear()
        for _when, _band, handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
