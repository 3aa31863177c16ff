"""Retries of the hub's work queue: the per-key exponential backoff, the overall token
bucket, and how rate-limited adds interact with changes, bands and ``forget``."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from federation.hub.queue import RESYNC, STATUS, WorkQueue
from federation.hub.ratelimit import (
    BucketLimiter,
    ExponentialBackoff,
    MaxOf,
    TokenBucket,
    default_retry_limiter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """A retry limiter whose delays are given in advance (the last one repeats)."""

    def __init__(self, *delays: float) -> None:
        self.delays = list(delays)
        self.calls: list[Hashable] = []
        self.forgotten: list[Hashable] = []
        self.cancelled: list[Hashable] = []

    def when(self, key: Hashable) -> float:
        self.calls.append(key)
        return self.delays.pop(0) if len(self.delays) > 1 else self.delays[0]

    def cancel(self, key: Hashable) -> None:
        self.cancelled.append(key)

    def forget(self, key: Hashable) -> None:
        self.forgotten.append(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.calls.count(key)


# ---- the limiters (pure: no timers, a clock passed in) -------------------------------------


def test_backoff_doubles_from_5ms_and_is_capped_at_300s() -> None:
    b = ExponentialBackoff()
    delays = [b.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    assert delays[15] == pytest.approx(0.005 * 2**15)  # 163.84 s
    assert delays[16:] == [300.0] * 4  # 327.68 s would be next: capped
    assert b.num_requeues("a") == 20
    assert b.when("b") == pytest.approx(0.005)  # per key
    for _ in range(1000):  # no overflow however long a key keeps failing
        b.when("a")
    assert b.when("a") == 300.0


def test_forget_starts_the_backoff_afresh() -> None:
    b = ExponentialBackoff()
    for _ in range(5):
        b.when("a")
    b.when("b")
    b.forget("a")
    b.forget("never-failed")  # harmless
    assert b.num_requeues("a") == 0 and b.num_requeues("b") == 1
    assert b.when("a") == pytest.approx(0.005)
    assert len(b) == 2


def test_backoff_rejects_a_base_or_cap_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="base"):
        ExponentialBackoff(base=0)
    with pytest.raises(ValueError, match="cap"):
        ExponentialBackoff(base=1.0, cap=0.5)
    with pytest.raises(ValueError, match="at least one"):
        MaxOf()


def test_bucket_reservations_queue_up_after_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, burst=100, clock=clock)
    limiter = BucketLimiter(bucket)
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100
    assert [limiter.when(i) for i in range(100, 103)] == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 1.0  # 10 tokens back, 3 of them owed already
    assert limiter.when("x") == pytest.approx(0.0)
    assert [limiter.when(i) for i in range(6)] == [0.0] * 6
    assert limiter.when("y") == pytest.approx(0.1)
    assert limiter.num_requeues("y") == 0


def test_a_key_holds_one_token_and_a_cancelled_retry_gives_it_back() -> None:
    clock = Clock()
    limiter = BucketLimiter(TokenBucket(10.0, burst=2, clock=clock))
    assert [limiter.when("a"), limiter.when("b")] == [0.0, 0.0]
    assert limiter.when("c") == pytest.approx(0.1)
    assert limiter.when("c") == pytest.approx(0.1)  # counted again: the same token
    assert limiter.when("d") == pytest.approx(0.2)
    limiter.cancel("d")  # d ran for another reason: its token is back
    assert limiter.when("e") == pytest.approx(0.2)
    limiter.cancel("a")  # a's token was taken at once (nothing owed): nothing back
    assert limiter.when("f") == pytest.approx(0.3)
    clock.now += 0.25  # c's token and e's are due now: cancelling them gives nothing
    limiter.cancel("c")
    limiter.cancel("e")
    assert limiter.when("g") == pytest.approx(0.15)


def test_persistent_failures_owe_no_more_than_the_retries_pending() -> None:
    # 10,000 keys fail on every resync (each run drops the key's pending retry): the
    # bucket's debt stays at the retries pending instead of growing without end
    clock = Clock()
    limiter = default_retry_limiter(clock)
    for _pass in range(12):  # an hour of 300 s resyncs
        for k in range(10_000):
            limiter.cancel(k)  # the resync ran it before its retry
            limiter.when(k)
        clock.now += 300.0
    assert limiter.when("new") < 1000.0  # client-go's bucket: ~8,700 s here


def test_default_limiter_is_the_longer_of_backoff_and_bucket() -> None:
    clock = Clock()
    limiter = default_retry_limiter(clock)
    # a mass failure: 1,000 keys fail at once; the first 100 are retried after 5 ms, the
    # rest at 10/s (the bucket, not the 5 ms backoff, decides)
    delays = [limiter.when(f"k{i}") for i in range(1000)]
    assert delays[:100] == pytest.approx([0.005] * 100)
    assert delays[100] == pytest.approx(0.1)
    assert delays[999] == pytest.approx(90.0)
    # one key failing alone, later: its backoff decides
    clock.now += 1000.0
    assert [limiter.when("solo") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    assert limiter.num_requeues("solo") == 3
    limiter.forget("solo")
    assert limiter.num_requeues("solo") == 0
    assert limiter.when("solo") == pytest.approx(0.005)


# ---- the queue ---------------------------------------------------------------------------


async def test_a_change_runs_at_once_and_drops_the_pending_retry() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(300.0))
    delay = q.add_rate_limited("a")
    assert delay == pytest.approx(300.0, abs=0.01)
    assert len(q) == 0 and q.retry_due("a") is not None
    q.add("a")  # the template changed: it must not wait behind its backoff
    assert await asyncio.wait_for(q.get(), 0.5) == "a"
    assert q.retry_due("a") is None
    q.done("a")
    q.close()


async def test_rate_limited_adds_keep_the_earlier_due_time() -> None:
    limiter = Scripted(10.0, 50.0, 1.0)
    q: WorkQueue[str] = WorkQueue(limiter=limiter)
    q.add_rate_limited("a")
    first = q.retry_due("a")
    assert first is not None
    assert q.add_rate_limited("a") == pytest.approx(10.0, abs=0.05)  # 50 s: later, ignored
    assert q.retry_due("a") == first
    q.add_rate_limited("a")  # 1 s: earlier, it replaces the 10 s one
    due = q.retry_due("a")
    assert due is not None and due < first - 8
    assert q.num_requeues("a") == 3  # every rate-limited add counts a failure
    q.close()
    assert q.retry_due("a") is None


async def test_the_bucket_counts_only_rate_limited_adds() -> None:
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(limiter=default_retry_limiter(clock))
    for i in range(300):  # changes and timed adds take no token
        q.add(f"c{i}")
        q.add_after(f"t{i}", 60.0)
    assert q.add_rate_limited("r0") == pytest.approx(0.005, abs=1e-3)
    for i in range(1, 100):
        q.add_rate_limited(f"r{i}")
    assert q.add_rate_limited("r100") == pytest.approx(0.1, abs=1e-3)  # the burst is spent
    q.close()


async def test_forget_resets_the_backoff_and_drops_a_pending_retry() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=MaxOf(ExponentialBackoff()))
    delays = [q.add_rate_limited("a") for _ in range(4)]
    assert delays[0] == pytest.approx(0.005, abs=1e-3)
    assert q.num_requeues("a") == 4
    assert q.retry_due("a") is not None
    q.forget("a")  # a success
    assert q.num_requeues("a") == 0 and q.retry_due("a") is None
    assert q.add_rate_limited("a") == pytest.approx(0.005, abs=1e-3)
    q.close()


async def test_a_retry_fires_into_its_band() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(0.001))
    q.add("status-hi", 100, band=STATUS)
    q.add_rate_limited("failed")  # CHANGE by default
    q.add_rate_limited("resync", band=RESYNC)
    await asyncio.sleep(0.05)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["failed", "status-hi", "resync"]


async def test_a_run_from_any_band_drops_the_retry() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(300.0))
    q.add_rate_limited("a")
    q.add("a", band=RESYNC)  # a resync pass queues it (low)
    assert q.retry_due("a") is not None  # until it runs, the retry may still promote it
    assert await q.get() == "a"
    assert q.retry_due("a") is None  # this run decides; no second run 300 s later
    q.done("a")
    q.close()


async def test_a_retry_due_first_promotes_a_key_queued_low() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(0.001))
    q.add("a", band=RESYNC)
    q.add("s", band=STATUS)
    q.add_rate_limited("a")  # CHANGE: fires before a's resync entry comes out
    await asyncio.sleep(0.05)
    assert len(q) == 2
    assert [await q.get() for _ in range(2)] == ["a", "s"]  # and a runs once
    assert len(q) == 0


async def test_merged_retry_keeps_the_earlier_time_and_the_higher_band() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(0.001, 300.0))
    q.add_rate_limited("a", band=RESYNC)  # soon, low
    q.add_rate_limited("a")  # later but a CHANGE: one timer, soon, at CHANGE
    q.add("y", band=STATUS)
    await asyncio.sleep(0.05)
    assert q.retry_due("a") is None  # fired, and nothing left behind
    assert [await q.get() for _ in range(2)] == ["a", "y"]
    q.close()


async def test_a_retry_due_while_a_worker_holds_the_key_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(0.001))
    q.add("a")
    assert await q.get() == "a"
    q.add_rate_limited("a")  # the reconcile failed: retry (before done, as the worker does)
    await asyncio.sleep(0.05)
    assert len(q) == 0  # never two workers on one key
    q.done("a")
    assert len(q) == 1 and await q.get() == "a"
    q.done("a")
    q.close()


async def test_a_change_during_a_failed_run_runs_it_again_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(limiter=Scripted(300.0))
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # changed while the worker holds it
    q.add_rate_limited("a")  # and this run failed
    q.done("a")  # the change is due now: the backoff does not hold it back
    assert await asyncio.wait_for(q.get(), 0.5) == "a"
    assert q.retry_due("a") is None
    q.close()


async def test_a_zero_delay_is_an_add() -> None:
    limiter = Scripted(0.0)
    q: WorkQueue[str] = WorkQueue(limiter=limiter)
    assert q.add_rate_limited("a", band=STATUS) == 0.0
    assert len(q) == 1 and q.retry_due("a") is None
    assert await q.get() == "a"
    assert q.num_requeues("a") == 1
    q.forget("a")  # reaches the limiter
    q.done("a")
    assert limiter.forgotten == ["a"]
    assert limiter.cancelled == []  # no retry was pending


async def test_dropped_retries_give_their_bucket_token_back() -> None:
    clock = Clock()  # the bucket's clock stands still: only refunds free tokens
    q: WorkQueue[str] = WorkQueue(limiter=default_retry_limiter(clock))
    for i in range(100):
        q.add_rate_limited(f"k{i}")
    assert q.add_rate_limited("k100") == pytest.approx(0.1, abs=1e-3)
    assert q.add_rate_limited("k101") == pytest.approx(0.2, abs=1e-3)
    q.forget("k101")  # succeeded meanwhile: its retry and its token are gone
    q.add("k100")  # a change: it runs, its retry is dropped
    assert await q.get() == "k100"
    q.done("k100")
    # both tokens back: x waits only because k0..k99 spent the burst (else 0.3 s)
    assert q.add_rate_limited("x") == pytest.approx(0.1, abs=1e-3)
    q.close()
