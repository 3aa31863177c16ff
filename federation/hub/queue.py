"""A work queue of object keys: deduplicated, one worker per key at a time, delayed adds.

A key added while it is queued is not queued twice; a key added while a worker holds it
is queued again once the worker is done, so no change is lost and no key runs twice at
once (the same contract as client-go's workqueue). Keys come out by ``priority`` (higher
first; the policy's priority for templates), first in first out within one priority. A
key queued at a low priority (a resync) and added again at a higher one (a real change)
moves up: it does not wait behind the resync.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, priority: Callable[[K], int] | None = None) -> None:
        self._priority = priority
        self._seq = itertools.count()
        self._queue: asyncio.PriorityQueue[tuple[int, int, K]] = asyncio.PriorityQueue()
        self._queued: dict[K, int] = {}  # key -> the best priority it is queued with
        self._active: set[K] = set()
        self._again: set[K] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._due: dict[K, float] = {}  # key -> when its earliest delayed add fires

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, priority: int | None = None) -> None:
        """Queue ``key`` at ``priority`` (default: the queue's priority function)."""
        if key in self._active:
            self._again.add(key)
            return
        if priority is None:
            priority = self._priority(key) if self._priority is not None else 0
        queued = self._queued.get(key)
        if queued is not None and queued >= priority:
            return
        # new, or moving up: the older, lower entry is skipped when it comes out
        self._queued[key] = priority
        self._queue.put_nowait((-priority, next(self._seq), key))

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` in ``delay`` seconds. A key already due earlier is not timed again:
        that add covers this one (a burst of copy status events is one reconcile)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        due = self._due.get(key)
        if due is not None and due <= when:
            return
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            if self._due.get(key) == when:
                del self._due[key]
            self.add(key)

        handle = loop.call_at(when, fire)
        self._timers.add(handle)
        self._due[key] = when

    async def get(self) -> K:
        while True:
            neg, _, key = await self._queue.get()
            if self._queued.get(key) == -neg:
                break  # else a stale entry of a key that moved up or already ran
        del self._queued[key]
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._due.clear()
