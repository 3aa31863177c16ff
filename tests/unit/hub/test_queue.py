"""The hub's work queue: dedup, one worker per key, re-queue while active, priority."""

from __future__ import annotations

from federation.hub.queue import RESYNC, STATUS, WorkQueue


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
        q.add(k, band=RESYNC)  # a resync pass
    q.add("new")
    q.add("r3")  # r3's template changed while its resync entry waits: it moves up
    q.add("r2", band=RESYNC)  # another resync add changes nothing
    assert len(q) == 4
    got = [await q.get() for _ in range(4)]
    assert got == ["new", "r3", "r1", "r2"]  # and r3 runs once, not twice
    assert len(q) == 0
    for k in got:
        q.done(k)
    q.add("r3", band=RESYNC)
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


async def test_changes_before_status_before_resync_whatever_the_policy_priority() -> None:
    prio = {"status-hi": 100, "move-lo": 0, "resync-hi": 100, "move-hi": 5}
    q: WorkQueue[str] = WorkQueue(prio.__getitem__)
    q.add("resync-hi", band=RESYNC)
    q.add("status-hi", band=STATUS)
    q.add("move-lo")
    q.add("move-hi")
    assert [await q.get() for _ in range(4)] == ["move-hi", "move-lo", "status-hi",
                                                  "resync-hi"]


async def test_status_add_does_not_demote_a_queued_change_and_a_change_promotes() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a", band=STATUS)  # already queued higher: nothing changes
    q.add("b", band=STATUS)
    q.add("c", band=STATUS)
    q.add("c")  # c's desired state changed: it overtakes b
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "c", "b"]


async def test_rank_kept_for_a_key_added_while_active() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a", band=STATUS)
    q.add("a")  # the best rank asked for while active is the one it comes back with
    q.add("z", band=STATUS)
    q.done("a")
    assert [await q.get(), await q.get()] == ["a", "z"]


async def test_delayed_change_not_swallowed_by_an_earlier_status_timer() -> None:
    import asyncio

    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.01, band=STATUS)
    q.add_after("a", 0.05)  # later, but a change: timed on its own
    q.add_after("b", 0.2, band=STATUS)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.add("y", band=STATUS)
    await asyncio.sleep(0.1)
    assert await q.get() == "a"  # the change came in at CHANGE: before y
    q.done("a")
    assert await q.get() == "y"
    q.close()
