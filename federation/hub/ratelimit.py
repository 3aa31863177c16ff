"""A token bucket for failover evictions (how fast the hub moves workloads off a failed
cluster). ``rate`` tokens per second, bursts up to ``burst``; ``rate <= 0`` is unlimited.

Karmada's taint manager defaults to 0.5 evictions/s per cluster (about 33 minutes for
1,000 workloads); fedctl's default is much higher, configurable with
``fedctl hub run --eviction-rate``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
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

    async def take(self) -> None:
        """Wait for a token (first come, first served)."""
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)
