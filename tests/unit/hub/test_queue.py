"""The hub's work queue: dedup, one worker per key, re-queue while active, priority."""

from __future__ import annotations

from federation.hub.queue import WorkQueue


async def test_dedup_and_requeue_while_active() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    first = await q.get()
    assert first == "a"
    q.add("a")  # changed while a worker holds it: runs again after done()
    assert len(q) == 1
    q.done("a")
    assert [await q.get(), await q.get()] == ["b", "a"]


async def test_higher_priority_first_fifo_within_one() -> None:
    prio = {"low1": 0, "high": 10, "low2": 0, "mid": 5}
    q: WorkQueue[str] = WorkQueue(prio.__getitem__)
    for k in ("low1", "high", "low2", "mid"):
        q.add(k)
    assert [await q.get() for _ in range(4)] == ["high", "mid", "low1", "low2"]


async def test_a_real_change_overtakes_its_own_resync_entry() -> None:
    q: WorkQueue[str] = WorkQueue(lambda _k: 0)
    for k in ("r1", "r2", "r3"):
        q.add(k, priority=-(2**31))  # a resync pass
    q.add("new")
    q.add("r3")  # r3's template changed while its resync entry waits: it moves up
    q.add("r2", priority=-(2**31))  # another resync add changes nothing
    assert len(q) == 4
    got = [await q.get() for _ in range(4)]
    assert got == ["new", "r3", "r1", "r2"]  # and r3 runs once, not twice
    assert len(q) == 0
    for k in got:
        q.done(k)
    q.add("r3", priority=-(2**31))
    assert await q.get() == "r3"


async def test_delayed_adds_of_one_key_fire_once() -> None:
    import asyncio

    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):  # a burst of status events for one copy
        q.add_after("a", 0.05)
    q.add_after("a", 0.5)  # later than the one pending: covered by it
    q.add_after("b", 0.2)
    q.add_after("b", 0.01)  # earlier than the one pending: timed on its own
    assert await asyncio.wait_for(q.get(), 1) == "b"
    q.done("b")
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    await asyncio.sleep(0.6)  # b's first timer fires too (harmless); a's never again
    assert len(q) == 1 and await q.get() == "b"
    q.done("b")
    q.add_after("a", 0.01)  # after firing, the key can be timed again
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.close()
