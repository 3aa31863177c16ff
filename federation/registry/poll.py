"""``RegistryPoller``: resolve (model, channel) pairs on an interval and report changes.

Webhooks are best effort, so the hub also polls: a missed webhook delays a version by at
most one interval, never loses it. While the registry is unreachable (``RegistryUnavailable``)
the poller backs off exponentially (tenacity) and says so through ``on_status``; once it
answers again ``on_status(True, "")`` is called and polling goes on at the interval.
A pair the registry rejects (unknown model or alias: ``RegistryError``) is reported through
``on_error`` and keeps its last known version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from federation.registry.ports import (
    ModelRegistry,
    ModelVersionInfo,
    RegistryError,
    RegistryUnavailable,
)

log = logging.getLogger(__name__)

Target = tuple[str, str]  # (model, channel)
OnChange = Callable[[str, str, ModelVersionInfo], Awaitable[None]]
OnStatus = Callable[[bool, str], Awaitable[None]]
OnError = Callable[[str, str, RegistryError], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class RegistryPoller:
    def __init__(self, registry: ModelRegistry, targets: Iterable[Target], *,
                 interval: float, on_change: OnChange, on_status: OnStatus | None = None,
                 on_error: OnError | None = None, backoff_initial: float = 1.0,
                 backoff_max: float = 60.0, sleep: Sleep = asyncio.sleep) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.registry = registry
        self.interval = interval
        self._targets: tuple[Target, ...] = tuple(dict.fromkeys(targets))
        self._on_change = on_change
        self._on_status = on_status
        self._on_error = on_error
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._known: dict[Target, ModelVersionInfo] = {}
        self.reachable: bool | None = None  # None until the first poll

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace what is polled; versions of pairs no longer polled are forgotten."""
        self._targets = tuple(dict.fromkeys(targets))
        self._known = {t: v for t, v in self._known.items() if t in self._targets}

    def known(self, model: str, channel: str) -> ModelVersionInfo | None:
        return self._known.get((model, channel))

    async def poll_once(self) -> list[tuple[Target, ModelVersionInfo]]:
        """Resolve every pair once; report and return those whose version changed (a pair
        seen for the first time counts as changed). ``RegistryUnavailable`` propagates."""
        changed = []
        for model, channel in self._targets:
            try:
                info = await self.registry.resolve(model, channel)
            except RegistryUnavailable:
                raise
            except RegistryError as exc:
                log.info("registry: %s@%s: %s", model, channel, exc)
                if self._on_error is not None:
                    await self._on_error(model, channel, exc)
                continue
            before = self._known.get((model, channel))
            self._known[(model, channel)] = info
            if before is None or (before.version, before.source_uri) != (info.version,
                                                                          info.source_uri):
                changed.append(((model, channel), info))
                await self._on_change(model, channel, info)
        return changed

    async def poll(self) -> list[tuple[Target, ModelVersionInfo]]:
        """``poll_once`` retried with exponential backoff while the registry is down."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RegistryUnavailable),
            wait=wait_exponential(multiplier=self._backoff_initial, max=self._backoff_max),
            sleep=self._sleep, reraise=True)
        result: list[tuple[Target, ModelVersionInfo]] = []
        async for attempt in retrying:
            with attempt:
                try:
                    result = await self.poll_once()
                except RegistryUnavailable as exc:
                    await self._down(exc, attempt.retry_state.attempt_number)
                    raise
        if self.reachable is not True:
            self.reachable = True
            if self._on_status is not None:
                await self._on_status(True, "")
        return result

    async def _down(self, exc: RegistryUnavailable, attempt: int) -> None:
        message = f"{exc} (attempt {attempt}; retrying with backoff)"
        log.warning("registry %r unavailable: %s", self.registry, message)
        self.reachable = False
        if self._on_status is not None:
            await self._on_status(False, message)

    async def run(self) -> None:
        """Poll forever (until cancelled): one round, then ``interval`` seconds."""
        while True:
            await self.poll()
            await self._sleep(self.interval)
