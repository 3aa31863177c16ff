"""One API client per member cluster, owned by a pool and closed on shutdown.

The pool also runs each member's health probe loop and reports Ready/NotReady
transitions through a callback. Credentials come from a kubeconfig file and context or
from a kubeconfig document (e.g. read from a hub Secret); they are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import kube_config

from federation.clusters.client import ClusterConnectionError, api_client, client_for
from federation.clusters.health import Health, HealthPolicy, observe, probe

log = logging.getLogger(__name__)

Transition = Callable[[str, Health, Health], None]


@dataclass
class Member:
    name: str
    api: k8s.ApiClient
    health: Health = field(default_factory=Health)
    policy: HealthPolicy | None = None  # None: the pool's default


async def api_client_from_dict(kubeconfig: dict[str, Any],
                               context: str | None = None) -> k8s.ApiClient:
    cfg = k8s.Configuration()
    try:
        await kube_config.load_kube_config_from_dict(
            config_dict=kubeconfig, context=context, client_configuration=cfg)
    except Exception as exc:
        raise ClusterConnectionError(
            f"invalid kubeconfig (context {context or '<current>'}): "
            f"{type(exc).__name__}", hint="check the credentials Secret of the cluster"
        ) from None
    return client_for(cfg)


class ClientPool:
    def __init__(self, policy: HealthPolicy | None = None,
                 on_transition: Transition | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self._members: dict[str, Member] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._on_transition = on_transition

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def names(self) -> list[str]:
        return sorted(self._members)

    def get(self, name: str) -> Member:
        return self._members[name]

    async def add_kubeconfig(self, name: str, path: str | Path,
                             context: str | None = None,
                             policy: HealthPolicy | None = None) -> Member:
        return self._add(name, await api_client(path, context), policy)

    async def add_kubeconfig_dict(self, name: str, kubeconfig: dict[str, Any],
                                  context: str | None = None,
                                  policy: HealthPolicy | None = None) -> Member:
        return self._add(name, await api_client_from_dict(kubeconfig, context), policy)

    def policy_of(self, name: str) -> HealthPolicy:
        return self._members[name].policy or self.policy

    def set_policy(self, name: str, policy: HealthPolicy | None) -> None:
        """Change how one member is probed (from its next probe on)."""
        self._members[name].policy = policy

    def _add(self, name: str, api: k8s.ApiClient, policy: HealthPolicy | None) -> Member:
        if name in self._members:
            raise ValueError(f"cluster {name!r} is already in the pool")
        member = Member(name, api, policy=policy)
        self._members[name] = member
        self._probes[name] = asyncio.create_task(self._probe_loop(member),
                                                 name=f"health/{name}")
        return member

    async def remove(self, name: str) -> None:
        task = self._probes.pop(name, None)
        if task:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        member = self._members.pop(name, None)
        if member:
            await member.api.close()

    async def close(self) -> None:
        for name in list(self._members):
            await self.remove(name)

    async def probe_now(self, name: str) -> Health:
        member = self._members[name]
        policy = member.policy or self.policy
        result = await probe(member.api, policy.timeout)
        self._record(member, observe(member.health, result, time.monotonic(), policy))
        return member.health

    def _record(self, member: Member, new: Health) -> None:
        old = member.health
        member.health = new
        if old.ready != new.ready:
            log.info("cluster %s is now %s (%s)", member.name,
                     "Ready" if new.ready else "NotReady", new.detail)
            if self._on_transition:
                self._on_transition(member.name, old, new)

    async def _probe_loop(self, member: Member) -> None:
        while True:
            started = time.monotonic()
            policy = member.policy or self.policy
            result = await probe(member.api, policy.timeout)
            self._record(member, observe(member.health, result, time.monotonic(), policy))
            await asyncio.sleep(max(0.0, policy.interval - (time.monotonic() - started)))
