"""Rate limits of the hub: a token bucket (failover evictions, and the work queue's
overall retry rate) and the work queue's retry limiters.

``TokenBucket``: ``rate`` tokens per second, bursts up to ``burst``; ``rate <= 0`` is
unlimited. Karmada's taint manager defaults to 0.5 evictions/s per cluster (about 33
minutes for 1,000 workloads); fedctl's default is much higher, configurable with
``fedctl hub run --eviction-rate``.

The retry limiters answer "how long until ``key`` is retried?" (``when``) and are pure:
no timers, no I/O, a clock passed in. They are client-go's workqueue rate limiters:
``ExponentialBackoff`` (per key: 5 ms, doubling with every failure, capped; here at
300 s, client-go's at 1,000 s), ``BucketLimiter`` (every retry of every key takes a
token: client-go's 10/s, burst 100, so a mass failure cannot hammer the apiservers; a
cancelled retry gives its token back) and ``MaxOf`` (the longest of several).
``default_retry_limiter()`` is client-go's ``DefaultControllerRateLimiter`` with the
300 s cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Protocol

BACKOFF_BASE_SECONDS = 0.005
BACKOFF_CAP_SECONDS = 300.0
RETRY_RATE = 10.0  # retries per second, all keys together
RETRY_BURST = 100


class TokenBucket:
    def __init__(self, rate: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self.clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def try_take(self) -> float:
        """Take a token if there is one: 0.0; else the seconds until there will be one."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def reserve(self) -> float:
        """Take a token now, whether or not there is one: the seconds until it is due
        (0.0 when there was one). The tokens reserved ahead are owed: each reservation
        waits behind the ones before it (``rate.Limiter.Reserve`` in Go)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def refund(self) -> None:
        """Give back a token taken by a reservation that is no longer needed (the one
        whose due time is furthest ahead, in effect: later reservations are not moved)."""
        if self.rate <= 0:
            return
        self._refill()
        self._tokens = min(self.burst, self._tokens + 1.0)

    async def take(self) -> None:
        """Wait for a token (first come, first served)."""
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)


class RetryLimiter(Protocol):
    """How long until a key is retried: ``when`` counts a retry (a failure) of ``key``
    and returns its delay in seconds; ``cancel`` says the retry last counted for ``key``
    will not happen (the key ran for another reason first, or succeeded): what it holds
    of a budget shared by all keys is given back, the failure still counts; ``forget``
    clears what is kept for ``key`` (after a success); ``num_requeues`` is the number of
    retries counted since."""

    def when(self, key: Hashable) -> float: ...

    def cancel(self, key: Hashable) -> None: ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ExponentialBackoff:
    """Per key: ``base`` seconds after its first failure, doubling with each further one,
    at most ``cap`` (client-go's ``ItemExponentialFailureRateLimiter``)."""

    def __init__(self, base: float = BACKOFF_BASE_SECONDS,
                 cap: float = BACKOFF_CAP_SECONDS) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"ExponentialBackoff: base ({base}) must be > 0 and cap ({cap}) "
                             ">= base")
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        if n >= 64:  # 2**64 times any base is past any cap (and keeps the float finite)
            return self.cap
        return min(self.base * 2.0**n, self.cap)

    def cancel(self, key: Hashable) -> None:
        return None  # the failure happened: the next one still doubles

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    def __len__(self) -> int:
        """Keys with failures counted."""
        return len(self._failures)


class BucketLimiter:
    """Every retry, of any key, reserves a token of ``bucket``: up to its burst at once,
    then its rate (client-go's ``BucketRateLimiter``). Unlike client-go, a key holds at
    most one token not yet due (a retry counted again before its token is due waits for
    that token), and a cancelled retry gives its token back if it is not yet due, so
    what is owed ahead never exceeds the retries actually pending. (In client-go every
    failure takes a token for good: 10,000 keys failing on every 300 s resync owe 33
    tokens/s against 10/s repaid, and any key's retry waits hours after an hour of it.)"""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self._due: dict[Hashable, float] = {}  # key -> clock time its token is due

    def when(self, key: Hashable) -> float:
        now = self.bucket.clock()
        due = self._due.get(key)
        if due is not None and due > now:
            return due - now
        delay = self.bucket.reserve()
        if delay > 0:
            self._due[key] = now + delay
        else:
            self._due.pop(key, None)
        return delay

    def cancel(self, key: Hashable) -> None:
        due = self._due.pop(key, None)
        if due is not None and due > self.bucket.clock():
            self.bucket.refund()

    def forget(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOf:
    """The longest delay of ``limiters`` (every one counts the retry), client-go's
    ``MaxOfRateLimiter``."""

    def __init__(self, *limiters: RetryLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        return max([limiter.when(key) for limiter in self.limiters])

    def cancel(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.cancel(key)

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_retry_limiter(clock: Callable[[], float] = time.monotonic) -> MaxOf:
    """Per-key exponential backoff (5 ms doubling, at most 300 s) and an overall bucket of
    10 retries/s with a burst of 100, whichever is longer: client-go's
    ``DefaultControllerRateLimiter`` with a 300 s cap instead of 1,000 s."""
    return MaxOf(ExponentialBackoff(BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS),
                 BucketLimiter(TokenBucket(RETRY_RATE, RETRY_BURST, clock=clock)))
