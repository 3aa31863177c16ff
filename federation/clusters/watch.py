"""List-then-watch one resource into a local cache (a small reflector).

* lists first, then watches from the list's resourceVersion;
* resumes from the last seen resourceVersion (bookmarks included) when a watch ends;
* relists when the server answers 410 Gone (our version was compacted away);
* each watch asks the server to end after ``timeout_seconds`` — by default a random 5-10
  minutes, as client-go's reflector does, so a hub's hundred watches do not all restart
  in the same second (with a fixed 60 s they did, and every reconcile in that second
  waited: the p99 of create-to-member latency at 4 creates/s was those seconds) — and the
  client gives up ``silence_grace`` seconds later if the request is still open;
* backs off (with jitter) on connection errors, so an unreachable cluster costs little.

Objects are kept as plain dicts (raw API JSON), keyed by ``namespace/name``, or as what a
``transform`` keeps of them (client-go's transform: the hub's caches hold only what it
reads).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, TypeVar, cast, overload

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)

ListCall = Callable[..., Awaitable[Any]]
MIN_WATCH_SECONDS = 300  # client-go's minWatchTimeout; each watch lasts 1-2x this
T = TypeVar("T")


def parse_event(line: bytes | str) -> dict[str, Any]:
    """One line of a watch stream, ``{"type": ..., "object": {...}}``, kept as plain JSON.

    The library's ``Watch`` turns every event into model objects (``V1Pod``…, dates
    parsed) that a reflector never reads, and builds an ApiClient per watch to do it (a
    new SSL context loading the CA bundle each time). Measured on the hub at 1,000
    workloads, that conversion was a third of the event loop's time; so the stream is read
    here, through the public client API only. An ERROR event (410 Gone: our
    resourceVersion was compacted away) is raised as the ``ApiException`` it stands for;
    a line that is not an event is a ``ValueError``.
    """
    try:
        event = json.loads(line)
    except ValueError:
        raise ValueError(f"malformed watch event: {line[:200]!r}") from None
    if not isinstance(event, dict) or "type" not in event or "object" not in event:
        if isinstance(event, dict) and "code" in event:  # a Status instead of an event
            raise ApiException(status=event["code"],
                               reason=f"{event.get('reason')}: {event.get('message')}")
        raise ValueError(f"malformed watch event: {line[:200]!r}")
    if event["type"] == "ERROR":
        obj = event["object"] or {}
        raise ApiException(status=obj.get("code"),
                           reason=f"{obj.get('reason')}: {obj.get('message')}")
    return event


async def watch_events(list_call: ListCall, **kwargs: Any) -> AsyncGenerator[dict[str, Any], None]:
    """The events of one watch request (``list_call(**kwargs, watch=True)``) until the
    server ends it (``timeout_seconds``). ``_preload_content=False`` makes the generated
    client return the HTTP response unread; its body is one JSON event per line."""
    resp = await list_call(**kwargs, watch=True, _preload_content=False)
    try:
        while line := await resp.content.readline():
            if line.strip():
                yield parse_event(line)
    finally:
        resp.release()


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class Reflector(Generic[T]):
    """A cache of one resource. ``store`` maps ``namespace/name`` (``name`` for
    cluster-scoped objects) to what ``transform`` keeps of each object — the raw dict
    when there is no transform, a record (e.g. ``PodUsage``) when there is one."""

    @overload
    def __init__(self: Reflector[dict[str, Any]], name: str, list_call: ListCall, *,
                 on_change: Callable[[str, dict[str, Any]], None] | None = None,
                 timeout_seconds: int | None = None, silence_grace: float = 15.0,
                 request_timeout: float = 15.0, list_kwargs: dict[str, Any] | None = None,
                 transform: None = None) -> None: ...

    @overload
    def __init__(self: Reflector[T], name: str, list_call: ListCall, *,
                 on_change: Callable[[str, T], None] | None = None,
                 timeout_seconds: int | None = None, silence_grace: float = 15.0,
                 request_timeout: float = 15.0, list_kwargs: dict[str, Any] | None = None,
                 transform: Callable[[dict[str, Any]], T]) -> None: ...

    def __init__(
        self,
        name: str,
        list_call: ListCall,
        *,
        on_change: Callable[[str, Any], None] | None = None,
        timeout_seconds: int | None = None,
        silence_grace: float = 15.0,
        request_timeout: float = 15.0,
        list_kwargs: dict[str, Any] | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.name = name
        self._list = list_call
        self._on_change = on_change
        self._timeout_seconds = timeout_seconds
        self._silence_grace = silence_grace
        self._request_timeout = request_timeout
        self._kwargs = dict(list_kwargs or {})
        # what to keep of each object (client-go's transform): caches hold only that
        self._transform = transform
        self.store: dict[str, T] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.relists = 0
        self.version = 0  # bumped on every change to ``store`` (caches key on it)
        self.errors = 0
        self.last_error: str | None = None

    async def list_once(self) -> None:
        resp = await self._list(**self._kwargs, _preload_content=False,
                                _request_timeout=self._request_timeout)
        try:
            body = await resp.json()
        finally:
            resp.release()
        raw_items = body.get("items") or []
        items = ([self._transform(o) for o in raw_items] if self._transform is not None
                 else raw_items)
        fresh = {object_key(o): t for o, t in zip(raw_items, items, strict=True)}
        old = self.store
        removed = set(old) - set(fresh)
        self.store = fresh
        self.version += 1
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion")
        self.relists += 1
        if self._on_change:
            for key in removed:
                self._on_change("DELETED", old[key])  # its last known state
            for obj in items:
                self._on_change("SYNC", obj)
        self.synced.set()

    async def _watch_once(self) -> None:
        timeout = self._timeout_seconds or random.randint(MIN_WATCH_SECONDS,
                                                          2 * MIN_WATCH_SECONDS)
        events = watch_events(self._list, **self._kwargs,
                              resource_version=self.resource_version,
                              timeout_seconds=timeout, allow_watch_bookmarks=True,
                              _request_timeout=timeout + self._silence_grace)
        try:
            async for event in events:
                kind = event["type"]
                raw = event.get("object") or {}
                rv = (raw.get("metadata") or {}).get("resourceVersion")
                if rv:
                    self.resource_version = rv
                if kind == "BOOKMARK":
                    continue
                key = object_key(raw)
                kept: T = self._transform(raw) if self._transform is not None else cast(T, raw)
                if kind == "DELETED":
                    self.store.pop(key, None)
                else:
                    self.store[key] = kept
                self.version += 1
                if self._on_change:
                    self._on_change(kind, kept)
        finally:
            await events.aclose()

    async def run(self) -> None:
        """Run until cancelled."""
        backoff = 0.5
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list_once()
                    need_list = False
                await self._watch_once()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                if exc.status == 410:
                    log.info("%s: resourceVersion too old, relisting", self.name)
                    need_list = True
                    continue
                await self._failed(exc)
                need_list = need_list or exc.status in (401, 403)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 10.0)
            # ValueError: a malformed event, or one longer than the read buffer
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                await self._failed(exc)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 10.0)

    async def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        log.debug("%s: watch error: %s", self.name, self.last_error)


# a cache of whole objects (raw JSON dicts, or ``cached_form`` of them)
ObjectCache = Reflector[dict[str, Any]]
