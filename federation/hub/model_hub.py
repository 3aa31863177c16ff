"""The Kubernetes side of model distribution: ModelSync's seams backed by the hub.

Status writes of ModelSubscriptions and ModelSources (merge patches of the status
subresource, the hub's field manager), Events, credential Secrets, the members' view
(labels, region, GPU products, object stores) and a PropagationPolicy's cluster affinity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.hub import events
from federation.hub.members import Members
from federation.hub.model_stores import StoreResolver, decode_secret
from federation.hub.model_sync import ModelSource, StagingMember
from federation.model.labels import FIELD_MANAGER
from federation.registry.mlflow import MlflowRegistry
from federation.registry.objectstore import StoreRegistry
from federation.registry.ports import ModelRegistry, RegistryError
from policies.models import GROUP, VERSION, PropagationPolicy

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "modelsubscriptions"
SOURCES = "modelsources"
_MERGE = {"_content_type": "application/merge-patch+json", "field_manager": FIELD_MANAGER}


class KubeWrites:
    def __init__(self, hub: k8s.ApiClient) -> None:
        self.hub = hub
        self._custom = cast(Any, k8s.CustomObjectsApi(hub))

    async def subscription_status(self, namespace: str, name: str,
                                  status: dict[str, Any]) -> None:
        await self._custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, SUBSCRIPTIONS, name, {"status": status}, **_MERGE,
            _request_timeout=DEFAULT_TIMEOUT)

    async def source_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, SOURCES, name, {"status": status}, **_MERGE,
            _request_timeout=DEFAULT_TIMEOUT)

    async def event(self, obj: Mapping[str, Any], reason: str, message: str,
                    warning: bool = False) -> None:
        await events.emit(self.hub, dict(obj), reason=reason, message=message,
                          warning=warning)


def secret_getter(hub: k8s.ApiClient) -> Callable[[str, str], Any]:
    core = k8s.CoreV1Api(hub)

    async def get(namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = await core.read_namespaced_secret(name, namespace,
                                                       _request_timeout=DEFAULT_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return decode_secret(secret.data)

    return get


def member_views(members: Members) -> list[StagingMember]:
    out = []
    for name in members.names():
        rec = members.get(name)
        if rec is None:
            continue
        spec = rec.spec
        gpus = frozenset(g["product"] for g in members.status(name).get("gpus") or []
                         if g.get("total"))
        out.append(StagingMember(
            name=name, labels=dict(rec.labels), region=str(spec.get("region") or ""),
            provider=str(spec.get("provider") or ""),
            zone=str(spec.get("zone") or spec.get("region") or ""),
            edge=bool(spec.get("edge")), gpu_products=gpus,
            stores=tuple(spec.get("objectStores") or ())))
    return out


def policy_affinity(policies: Callable[[], Sequence[PropagationPolicy]]
                    ) -> Callable[[str, str], Callable[[StagingMember], bool] | None]:
    """A subscription's ``clusters.propagationPolicy``: the members its cluster affinity
    (or any of its ordered affinities) admits; None when unnamed or not found."""

    def affinity(namespace: str, name: str) -> Callable[[StagingMember], bool] | None:
        if not name:
            return None
        policy = next((p for p in policies() if p.metadata.name == name
                       and p.metadata.namespace == namespace and not p.cluster_scoped), None)
        if policy is None:
            return lambda _m: False
        place = policy.spec.placement
        terms = [place.cluster_affinity] if place.cluster_affinity is not None \
            else list(place.cluster_affinities)
        if not terms:
            return lambda _m: True
        return lambda m: any(t.matches(m.name, m.labels, m.region, m.provider, m.zone)
                             for t in terms)

    return affinity


def _store_uri(ref: Mapping[str, Any]) -> str | None:
    """``s3://bucket/prefix`` (``gs://``, ``file://``) of a store reference."""
    provider = ref.get("provider")
    prefix = str(ref.get("prefix") or "").strip("/")
    if provider == "file":
        root = str(ref.get("root") or "").rstrip("/")
        return f"file://{root}/{prefix}".rstrip("/") if root else None
    scheme = {"s3": "s3", "gcs": "gs"}.get(str(provider))
    if scheme is None or not ref.get("bucket"):
        return None
    return f"{scheme}://{ref['bucket']}/{prefix}".rstrip("/")


class HubRegistries:
    """A registry client per ModelSource (rebuilt when its spec changes), and the webhook
    secrets of every source (read from their Secrets)."""

    def __init__(self, stores: StoreResolver) -> None:
        self._stores = stores
        self._clients: dict[str, tuple[str, ModelRegistry]] = {}
        self._webhook: dict[str, bytes] = {}

    async def registry(self, source: ModelSource) -> ModelRegistry:
        fingerprint = repr(sorted(source.spec.items()))
        hit = self._clients.get(source.key)
        if hit is not None and hit[0] == fingerprint:
            return hit[1]
        if hit is not None:
            await hit[1].close()
        client: ModelRegistry
        mlflow = source.spec.get("mlflow")
        if mlflow:
            creds: Mapping[str, str] = {}
            ref = mlflow.get("credentialsSecretRef")
            if ref:
                ns = str(ref.get("namespace") or source.namespace)
                found = await self._stores.secret(ns, str(ref["name"]))
                if found is None:
                    raise RegistryError(
                        f"ModelSource {source.key}: credentials Secret {ns}/{ref['name']} "
                        "not found (spec.mlflow.credentialsSecretRef)",
                        hint="create it with keys username and password, or token")
                creds = found
            artifacts = mlflow.get("artifactStore")
            client = MlflowRegistry(
                str(mlflow["trackingUri"]),
                artifacts_destination=_store_uri(artifacts) if artifacts else None,
                token=creds.get("token"), username=creds.get("username"),
                password=creds.get("password"))
        else:
            ref = (source.spec.get("objectStore") or {}).get("store") or {}
            client = StoreRegistry(await self._stores.config(ref, source.namespace))
        self._clients[source.key] = (fingerprint, client)
        return client

    async def refresh(self, sources: Sequence[ModelSource]) -> None:
        """Load the webhook secret of every source (a missing one: no webhook)."""
        found: dict[str, bytes] = {}
        for src in sources:
            ref = (src.spec.get("mlflow") or {}).get("webhookSecretRef")
            if not ref:
                continue
            ns = str(ref.get("namespace") or src.namespace)
            try:
                data = await self._stores.secret(ns, str(ref["name"]))
            except Exception as exc:  # the next refresh tries again
                log.warning("webhook secret of ModelSource %s not read: %s", src.key, exc)
                continue
            value = (data or {}).get(str(ref.get("key") or "secret"))
            if value:
                found[src.key] = value.encode()
        self._webhook = found
        for key in [k for k in self._clients if k not in {s.key for s in sources}]:
            await self._clients.pop(key)[1].close()

    def webhook_secret(self, source_key: str) -> bytes | None:
        return self._webhook.get(source_key)

    async def close(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()
