"""The poller: changes reported once, backoff while the registry is down, status calls."""

from __future__ import annotations

import asyncio

import pytest

from federation.registry.poll import RegistryPoller
from federation.registry.ports import ModelRegistry, ModelVersionInfo, RegistryError

from .fakes import FakeRegistry


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str, str]] = []
        self.status: list[tuple[bool, str]] = []
        self.errors: list[tuple[str, str, str]] = []
        self.sleeps: list[float] = []

    async def on_change(self, model: str, channel: str, info: ModelVersionInfo) -> None:
        self.changes.append((model, channel, info.version))

    async def on_status(self, ok: bool, message: str) -> None:
        self.status.append((ok, message))

    async def on_error(self, model: str, channel: str, exc: RegistryError) -> None:
        self.errors.append((model, channel, str(exc)))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def poller(reg: ModelRegistry, rec: Recorder, targets: list[tuple[str, str]]) -> RegistryPoller:
    return RegistryPoller(reg, targets, interval=30, on_change=rec.on_change,
                          on_status=rec.on_status, on_error=rec.on_error,
                          backoff_initial=1, backoff_max=8, sleep=rec.sleep)


async def test_reports_first_sight_and_each_move_once() -> None:
    reg, rec = FakeRegistry(), Recorder()
    reg.add("fraud", "1")
    reg.aliases[("fraud", "production")] = "1"
    p = poller(reg, rec, [("fraud", "production"), ("fraud", "latest")])
    await p.poll()
    assert rec.changes == [("fraud", "production", "1"), ("fraud", "latest", "1")]
    assert rec.status == [(True, "")]
    await p.poll()
    assert len(rec.changes) == 2  # nothing moved
    reg.add("fraud", "2")
    await p.poll()
    assert rec.changes[2:] == [("fraud", "latest", "2")]
    reg.aliases[("fraud", "production")] = "2"
    changed = await p.poll()
    assert [(t, i.version) for t, i in changed] == [(("fraud", "production"), "2")]
    known = p.known("fraud", "production")
    assert known is not None and known.version == "2"
    assert rec.status == [(True, "")]  # reachable all along: said once


async def test_backs_off_while_down_and_says_so() -> None:
    reg, rec = FakeRegistry(), Recorder()
    reg.add("m", "1")
    reg.down = 5
    p = poller(reg, rec, [("m", "latest")])
    await p.poll()
    assert rec.sleeps == [1, 2, 4, 8, 8]  # exponential, capped at backoff_max
    assert [ok for ok, _ in rec.status] == [False] * 5 + [True]
    assert "registry is down" in rec.status[0][1]
    assert rec.changes == [("m", "latest", "1")]
    assert p.reachable is True


async def test_unknown_model_or_alias_is_an_error_not_an_outage() -> None:
    reg, rec = FakeRegistry(), Recorder()
    reg.add("m", "1")
    p = poller(reg, rec, [("m", "staging"), ("nope", "latest"), ("m", "latest")])
    await p.poll()
    assert [(m, c) for m, c, _ in rec.errors] == [("m", "staging"), ("nope", "latest")]
    assert rec.changes == [("m", "latest", "1")]
    assert rec.status == [(True, "")]


async def test_set_targets_forgets_dropped_pairs() -> None:
    reg, rec = FakeRegistry(), Recorder()
    reg.add("a", "1")
    reg.add("b", "1")
    p = poller(reg, rec, [("a", "latest"), ("a", "latest")])
    await p.poll()
    assert reg.calls == 1  # duplicates polled once
    p.set_targets([("b", "latest")])
    assert p.known("a", "latest") is None
    await p.poll()
    assert rec.changes == [("a", "latest", "1"), ("b", "latest", "1")]


async def test_run_polls_on_the_interval_until_cancelled() -> None:
    reg, rec = FakeRegistry(), Recorder()
    reg.add("m", "1")
    rounds = asyncio.Event()

    async def sleep(seconds: float) -> None:
        rec.sleeps.append(seconds)
        if len(rec.sleeps) == 3:
            rounds.set()
        await asyncio.sleep(0)

    p = RegistryPoller(reg, [("m", "latest")], interval=30, on_change=rec.on_change,
                       sleep=sleep)
    task = asyncio.create_task(p.run())
    await asyncio.wait_for(rounds.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.sleeps[:3] == [30, 30, 30]
    assert reg.calls >= 3
    with pytest.raises(ValueError):
        RegistryPoller(reg, [], interval=0, on_change=rec.on_change)
