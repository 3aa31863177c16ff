"""Register member clusters with the hub (``fedctl clusters join``) and read them back.

For each cluster of a fleet file the hub gets:
* a Secret ``<name>-kubeconfig`` in ``fedctl-system`` holding a self-contained kubeconfig
  (one context; certificate files inlined as data) — credentials live only there;
* a ``MemberCluster`` object (endpoint, secretRef, provider, region, zone, edge, taints,
  pricing, object stores);
* for each store the fleet file gives no endpoint that the running local fleet
  (``fedctl dev up``) serves (the caller passes them in): its endpoint (or root, for file
  stores) in the MemberCluster's ``objectStores[]`` entry, and its credentials in a Secret
  ``fedctl-store-<store>`` in ``fedctl-system`` (keys ``accessKey``, ``secretKey``) that the
  entry's ``secretRef`` names.
The fedctl CRDs are installed first, generated from the policy models.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.clusters.crds import ensure_crds
from federation.errors import InputError
from federation.fleet import ClusterSpec, Fleet, ObjectStoreSpec
from federation.model.labels import FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL
from policies.crdgen import crd
from policies.models import GROUP, KINDS, VERSION

SYSTEM_NAMESPACE = "fedctl-system"
_FILE_KEYS = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


@dataclass(frozen=True, slots=True)
class JoinResult:
    name: str
    endpoint: str
    secret: str
    action: str  # created | updated


def flatten_kubeconfig(data: dict[str, Any], context: str | None, *,
                       source: str, base_dir: Path) -> dict[str, Any]:
    """One-context kubeconfig with certificate files inlined (as `kubectl --flatten`)."""
    ctx_name = context or data.get("current-context")
    contexts = {c["name"]: c["context"] for c in data.get("contexts") or []}
    if ctx_name not in contexts:
        raise InputError(f"context {ctx_name!r} not found", file=source,
                         hint="known contexts: " + ", ".join(sorted(contexts)))
    ctx = contexts[ctx_name]
    cluster = next((c["cluster"] for c in data.get("clusters") or []
                    if c["name"] == ctx["cluster"]), None)
    user = next((u["user"] for u in data.get("users") or [] if u["name"] == ctx["user"]), None)
    if cluster is None or user is None:
        raise InputError(f"context {ctx_name!r} names a missing cluster or user", file=source)

    def inline(section: dict[str, Any]) -> dict[str, Any]:
        out = dict(section)
        for key, data_key in _FILE_KEYS.items():
            if key in out:
                p = Path(out.pop(key))
                p = p if p.is_absolute() else base_dir / p
                try:
                    out[data_key] = base64.b64encode(p.read_bytes()).decode()
                except OSError as exc:
                    raise InputError(f"cannot read {key} {p}: {exc.strerror}",
                                     file=source) from None
        return out

    name = str(ctx_name)
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": inline(cluster)}],
        "users": [{"name": name, "user": inline(user)}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }


def member_kubeconfig(spec: ClusterSpec, dev_state_dir: Path | None) -> dict[str, Any]:
    """The kubeconfig to store for a cluster: its fleet-file reference or the dev fleet's."""
    if spec.kubeconfig is not None and spec.kubeconfig.path:
        path = Path(spec.kubeconfig.path).expanduser()
        context = spec.kubeconfig.context
    elif dev_state_dir is not None:
        path = dev_state_dir / "clusters" / spec.name / "admin.kubeconfig"
        context = spec.name
    else:
        raise InputError(f"cluster {spec.name!r} has no kubeconfig",
                         hint="add kubeconfig: {path, context} to the fleet file, or join a "
                              "running dev fleet (--state-dir)")
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("kubeconfig file not found", file=str(path),
                         hint=f"needed for cluster {spec.name}") from None
    return flatten_kubeconfig(data, context, source=str(path), base_dir=path.parent)


class LocalStore(Protocol):
    """What join reads of a running local fleet's store
    (``federation.dev.objectstores.StoreEndpoint``)."""

    @property
    def endpoint(self) -> str | None: ...
    @property
    def root(self) -> str | None: ...
    @property
    def access_key(self) -> str | None: ...
    @property
    def secret_key(self) -> str | None: ...


def store_secret_name(store: str) -> str:
    """The hub Secret holding a store's credentials (keys accessKey, secretKey)."""
    return f"fedctl-store-{store}"


def store_ref(s: ObjectStoreSpec, local: LocalStore | None) -> dict[str, Any]:
    """The MemberCluster ``objectStores[]`` entry of a fleet-file store; ``local``: the
    running local fleet's store of that name, whose endpoint, root and credentials (the
    Secret ``fedctl-store-<name>``) fill what the file leaves out."""
    ref: dict[str, Any] = {"name": s.name, "provider": s.provider, "region": s.region,
                           "bucket": s.bucket, "pathStyle": s.path_style,
                           "checksumMode": s.checksum_mode, "edge": s.edge}
    endpoint = s.endpoint
    root = s.root
    if local is not None and endpoint is None and not (s.provider == "file" and root):
        endpoint = local.endpoint
        root = root or local.root
        if local.access_key and local.secret_key:
            ref["secretRef"] = {"name": store_secret_name(s.name),
                                "namespace": SYSTEM_NAMESPACE}
    if endpoint:
        ref["endpoint"] = endpoint
    if root and s.provider == "file":
        ref["root"] = str(Path(root).resolve())
    return ref


def store_secrets(fleet: Fleet, local: Mapping[str, LocalStore]) -> dict[str, dict[str, str]]:
    """Secret name -> stringData for the local-fleet stores the members reference."""
    out: dict[str, dict[str, str]] = {}
    for name in sorted({n for c in fleet.clusters for n in c.object_stores}):
        s = fleet.store(name)
        ep = local.get(name)
        if (s.endpoint is None and ep is not None and ep.access_key and ep.secret_key
                and not (s.provider == "file" and s.root)):
            out[store_secret_name(name)] = {"accessKey": ep.access_key,
                                            "secretKey": ep.secret_key}
    return out


def member_cluster_manifest(spec: ClusterSpec, fleet: Fleet, endpoint: str, secret: str,
                            local: Mapping[str, LocalStore] | None = None) -> dict[str, Any]:
    stores = [store_ref(fleet.store(name), (local or {}).get(name))
              for name in spec.object_stores]
    labels = dict(spec.labels)
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "MemberCluster",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {
            "endpoint": endpoint,
            "secretRef": {"name": secret, "namespace": SYSTEM_NAMESPACE},
            "provider": spec.provider, "region": spec.region, "zone": spec.zone,
            "edge": spec.edge,
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect}
                       for t in spec.taints],
            "pricing": {"gpuHourly": dict(spec.pricing.on_demand),
                        "spotGpuHourly": dict(spec.pricing.spot),
                        "spotAvailable": spec.pricing.spot_available},
            "objectStores": stores,
        },
    }


async def install_crds(hub: k8s.ApiClient) -> None:
    """Create or update the fedctl CRDs on the hub."""
    await ensure_crds(hub, [crd(info) for info in KINDS])


async def join(hub: k8s.ApiClient, fleet: Fleet, dev_state_dir: Path | None,
               local: Mapping[str, LocalStore] | None = None) -> list[JoinResult]:
    """Install CRDs, then store each member's credentials and MemberCluster on the hub.

    ``local``: the running dev fleet's stores by name (the caller reads them: product code
    never imports ``federation.dev``); they fill in the stores the fleet file gives no
    endpoint, and their credentials become ``fedctl-store-<store>`` Secrets."""
    configs = {c.name: member_kubeconfig(c, dev_state_dir) for c in fleet.clusters}
    await install_crds(hub)
    core = k8s.CoreV1Api(hub)
    try:
        await core.create_namespace(cast(Any, {"metadata": {"name": SYSTEM_NAMESPACE}}),
                                    _request_timeout=DEFAULT_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:
            raise
    custom = k8s.CustomObjectsApi(hub)
    local = local or {}
    for name, data in store_secrets(fleet, local).items():
        await _apply_secret(core, name, data)
    out = []
    for spec in fleet.clusters:
        cfg = configs[spec.name]
        endpoint = str(cfg["clusters"][0]["cluster"]["server"])
        secret = f"{spec.name}-kubeconfig"
        await _apply_secret(core, secret, {"kubeconfig": yaml.safe_dump(cfg)})
        manifest = member_cluster_manifest(spec, fleet, endpoint, secret, local)
        try:
            await custom.get_cluster_custom_object(GROUP, VERSION, "memberclusters", spec.name,
                                                   _request_timeout=DEFAULT_TIMEOUT)
            action = "updated"
        except ApiException as exc:
            if exc.status != 404:
                raise
            action = "created"
        await cast(Any, custom).patch_cluster_custom_object(
            GROUP, VERSION, "memberclusters", spec.name, manifest,
            field_manager=FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml", _request_timeout=DEFAULT_TIMEOUT)
        out.append(JoinResult(spec.name, endpoint, secret, action))
    return out


async def _apply_secret(core: k8s.CoreV1Api, name: str, data: Mapping[str, str]) -> None:
    """Create or replace an Opaque Secret in fedctl-system (server-side apply)."""
    body = {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE,
                         "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
            "type": "Opaque",
            "stringData": dict(data)}
    # _content_type selects server-side apply (the typed signature does not list it).
    await cast(Any, core).patch_namespaced_secret(
        name, SYSTEM_NAMESPACE, cast(Any, body), field_manager=FIELD_MANAGER,
        force=True, _content_type="application/apply-patch+yaml",
        _request_timeout=DEFAULT_TIMEOUT)


async def list_members(hub: k8s.ApiClient) -> list[dict[str, Any]]:
    """The MemberClusters by name; none when the hub does not serve the CRD yet (404)."""
    try:
        got = await k8s.CustomObjectsApi(hub).list_cluster_custom_object(
            GROUP, VERSION, "memberclusters", _request_timeout=DEFAULT_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:  # no `fedctl clusters join` has installed the CRDs
            return []
        raise
    items: list[dict[str, Any]] = got.get("items") or []
    return sorted(items, key=lambda o: o["metadata"]["name"])


async def get_member(hub: k8s.ApiClient, name: str) -> dict[str, Any] | None:
    """One MemberCluster, or None when there is no such object (or no CRD)."""
    try:
        got: dict[str, Any] = await k8s.CustomObjectsApi(hub).get_cluster_custom_object(
            GROUP, VERSION, "memberclusters", name, _request_timeout=DEFAULT_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return got


async def merge_patch_member(hub: k8s.ApiClient, name: str, patch: dict[str, Any], *,
                             field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """Apply a JSON merge patch (RFC 7386) to a MemberCluster; returns the new object."""
    got: dict[str, Any] = await cast(Any, k8s.CustomObjectsApi(hub)).patch_cluster_custom_object(
        GROUP, VERSION, "memberclusters", name, patch, field_manager=field_manager,
        _content_type="application/merge-patch+json", _request_timeout=DEFAULT_TIMEOUT)
    return got


async def read_member_kubeconfig(hub: k8s.ApiClient, member: dict[str, Any]) -> dict[str, Any]:
    ref = member["spec"]["secretRef"]
    secret = await k8s.CoreV1Api(hub).read_namespaced_secret(
        ref["name"], ref.get("namespace", SYSTEM_NAMESPACE), _request_timeout=DEFAULT_TIMEOUT)
    raw = (secret.data or {}).get("kubeconfig")
    if not raw:
        raise InputError(f"Secret {ref['name']} has no 'kubeconfig' key",
                         hint=f"re-run `fedctl clusters join` for {member['metadata']['name']}")
    data: dict[str, Any] = yaml.safe_load(base64.b64decode(raw))
    return data
