"""Lease-based leader election on the hub (coordination.k8s.io/v1 Lease).

Several hub processes may run; one holds the Lease and reconciles, the others wait. The
holder renews every ``retry_period``; a candidate takes the Lease once it has not been
renewed for ``lease_duration`` seconds. Updates use the Lease's resourceVersion, so two
candidates can never both win. A leader that cannot renew within ``renew_deadline`` steps
down (its work is cancelled) before anyone else can take over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    namespace: str = "fedctl-system"
    name: str = "fedctl-hub"
    lease_duration: float = 10.0
    renew_deadline: float = 7.0
    retry_period: float = 2.0


def new_identity() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _micro(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, api: k8s.ApiClient, identity: str,
                 config: LeaseConfig | None = None) -> None:
        self.api = api
        self.identity = identity
        self.config = config or LeaseConfig()
        self.is_leader = False
        self.transitions = 0
        self._coord = k8s.CoordinationV1Api(api)

    async def _get(self) -> Any | None:
        try:
            return await self._coord.read_namespaced_lease(
                self.config.name, self.config.namespace, _request_timeout=5)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the Lease afterwards."""
        cfg = self.config
        now = _now()
        lease = await self._get()
        spec = {"holderIdentity": self.identity,
                "leaseDurationSeconds": int(cfg.lease_duration),
                "renewTime": _micro(now)}
        if lease is None:
            body = {"metadata": {"name": cfg.name, "namespace": cfg.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0}}
            try:
                await self._coord.create_namespaced_lease(cfg.namespace, cast(Any, body),
                                                          _request_timeout=5)
                return True
            except ApiException as exc:
                if exc.status == 409:
                    return False
                raise
        holder = lease.spec.holder_identity
        renewed = lease.spec.renew_time or lease.spec.acquire_time
        duration = lease.spec.lease_duration_seconds or cfg.lease_duration
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if holder != self.identity and not expired:
            return False
        transitions = lease.spec.lease_transitions or 0
        body = {"metadata": {"name": cfg.name, "namespace": cfg.namespace,
                             "resourceVersion": lease.metadata.resource_version},
                "spec": {**spec,
                         "acquireTime": _micro(now) if holder != self.identity
                         else _micro(lease.spec.acquire_time or now),
                         "leaseTransitions": transitions + (holder != self.identity)}}
        try:
            await self._coord.replace_namespaced_lease(cfg.name, cfg.namespace,
                                                       cast(Any, body), _request_timeout=5)
        except ApiException as exc:
            if exc.status == 409:  # someone else updated it first
                return False
            raise
        return True

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Campaign forever; run ``lead()`` while leader, cancel it on losing the Lease."""
        cfg = self.config
        while True:
            try:
                won = await self.try_acquire_or_renew()
            except (TimeoutError, ApiException, aiohttp.ClientError, OSError) as exc:
                log.debug("lease attempt failed: %s", exc)
                won = False
            if not won:
                await asyncio.sleep(cfg.retry_period)
                continue
            self.is_leader = True
            self.transitions += 1
            log.warning("%s is the leader", self.identity)
            work: asyncio.Task[None] = asyncio.create_task(lead(), name="leader-work")
            try:
                await self._hold(work)
            finally:
                self.is_leader = False
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            log.warning("%s lost the leadership", self.identity)

    async def _hold(self, work: asyncio.Task[None]) -> None:
        """Renew until renewal fails for ``renew_deadline`` or the work ends."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while not work.done():
            done, _ = await asyncio.wait({work}, timeout=cfg.retry_period)
            if done:
                exc = work.exception()
                if exc is not None:
                    raise exc
                return
            try:
                if await self.try_acquire_or_renew():
                    last_ok = loop.time()
                    continue
                return  # someone else holds it now
            except (TimeoutError, ApiException, aiohttp.ClientError, OSError) as exc:
                log.debug("lease renew failed: %s", exc)
            if loop.time() - last_ok > cfg.renew_deadline:
                return
