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
