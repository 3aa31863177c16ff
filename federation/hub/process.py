"""One hub process: HTTP endpoints, leader election, and the controller while leading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT, api_client
from federation.clusters.join import SYSTEM_NAMESPACE
from federation.hub.controller import Hub, HubConfig
from federation.hub.http import HubMetrics, make_app, serve
from federation.hub.leader import LeaderElector, LeaseConfig, new_identity
from federation.registry.webhook import RegistryEvent, make_webhook_route

log = logging.getLogger(__name__)

# MLflow model-registry webhooks of the ModelSource NAMESPACE/SOURCE
WEBHOOK_PATH = "/webhooks/mlflow/{namespace}/{source}"


@dataclass
class ProcessConfig:
    hub: HubConfig
    http_host: str = "127.0.0.1"
    http_port: int | None = 8080
    leader_elect: bool = True
    lease: LeaseConfig | None = None
    identity: str | None = None


class HubProcess:
    def __init__(self, config: ProcessConfig) -> None:
        self.config = config
        self.metrics = HubMetrics()
        self.identity = config.identity or new_identity()
        self.hub: Hub | None = None
        self.elector: LeaderElector | None = None

    def ready(self) -> bool:
        if self.elector is not None and not self.elector.is_leader:
            return True  # a standby is ready to take over
        return self.hub is not None and self.hub.ready.is_set()

    def _refresh(self) -> None:
        leading = self.elector.is_leader if self.elector else self.hub is not None
        self.metrics.leader.set(1 if leading else 0)
        if self.hub is not None:
            self.hub.refresh_metrics()

    def _webhook_secret(self, source_key: str) -> bytes | None:
        # only the leading hub knows the sources (a standby answers 404; MLflow does not
        # retry that, and the leader's poll picks the version up)
        models = self.hub.models if self.hub is not None else None
        return models.webhook_secret(source_key) if models is not None else None

    async def _registry_event(self, source_key: str, event: RegistryEvent) -> bool:
        """False (the route answers 404) when no subscription follows the model."""
        models = self.hub.models if self.hub is not None else None
        if models is None:
            return False
        woke = models.registry_event(source_key, event.model)
        log.info("registry webhook %s %s.%s for %s: %s", source_key, event.entity,
                 event.action, event.model, "following" if woke else "not subscribed")
        return woke

    async def _lead(self) -> None:
        self.hub = Hub(self.config.hub, self.metrics)
        try:
            await self.hub.run()
        finally:
            self.hub = None

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        runner = None
        if cfg.http_port is not None:
            app = make_app(self.metrics, alive=lambda: True, ready=self.ready,
                           refresh=self._refresh)
            make_webhook_route(app, WEBHOOK_PATH, self._webhook_secret, self._registry_event)
            runner = await serve(app, cfg.http_host, cfg.http_port)
        api = await api_client(cfg.hub.kubeconfig, cfg.hub.context)
        try:
            if cfg.leader_elect:
                await _ensure_namespace(api, (cfg.lease or LeaseConfig()).namespace)
                self.elector = LeaderElector(api, self.identity, cfg.lease)
                work = asyncio.create_task(self.elector.run(self._lead))
            else:
                work = asyncio.create_task(self._lead())
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in (work, stopper):
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            if work in done and not work.cancelled() and work.exception():
                raise cast(BaseException, work.exception())
        finally:
            await api.close()
            if runner is not None:
                await runner.cleanup()


async def _ensure_namespace(api: k8s.ApiClient, name: str = SYSTEM_NAMESPACE) -> None:
    try:
        await k8s.CoreV1Api(api).create_namespace(cast(Any, {"metadata": {"name": name}}),
                                                  _request_timeout=DEFAULT_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:
            raise
