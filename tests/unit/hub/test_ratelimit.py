"""The eviction token bucket: rate, burst, unlimited."""

from __future__ import annotations

import time

import pytest

from federation.hub.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    b = TokenBucket(10.0, burst=3, clock=clock)
    assert [b.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.try_take() == pytest.approx(0.1)
    clock.now += 0.25  # 2.5 tokens back
    assert b.try_take() == 0.0 and b.try_take() == 0.0
    assert b.try_take() == pytest.approx(0.05)
    clock.now += 100  # never more than the burst
    assert sum(b.try_take() == 0.0 for _ in range(10)) == 3


def test_unlimited() -> None:
    b = TokenBucket(0)
    assert all(b.try_take() == 0.0 for _ in range(1000))


async def test_take_waits_for_the_rate() -> None:
    b = TokenBucket(50.0, burst=1)
    start = time.monotonic()
    for _ in range(6):
        await b.take()
    assert time.monotonic() - start >= 5 / 50 * 0.9  # five waits of ~20 ms
