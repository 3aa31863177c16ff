"""The simulator's writes to a member (children, custom-resource status) and discovery.

Every request carries a timeout. Conflicts and not-found answers that mean "already done"
are success; answers that retrying cannot fix (invalid object, forbidden, namespace gone)
raise ``Rejected``; anything else propagates for a retry with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.catalog.kinds import OTHER_VERSIONS, WORKLOAD_KINDS, WorkloadKind
from federation.dev.opsim.common import (
    DEPLOYMENT,
    JOB,
    POD,
    SERVICE,
    kind_key,
    name_of,
    namespace_of,
)

MERGE_PATCH = "application/merge-patch+json"


class Rejected(Exception):
    """The API server refused a write that retrying will not fix."""


def _rejected(exc: ApiException, what: str) -> Rejected:
    reason = str(exc.reason or "")
    body = str(exc.body or "")[:300]
    return Rejected(f"{what}: HTTP {exc.status} {reason} {body}".strip())


def workload_kinds() -> dict[str, WorkloadKind]:
    return {f"{k.group}/{k.kind}": k for k in WORKLOAD_KINDS}


async def served_kinds(api: k8s.ApiClient, timeout: float) -> dict[str, WorkloadKind]:
    """The AI workload kinds this member serves, by kind key, each at the version served
    (the hub's version when a cluster serves several, e.g. MPIJob v2beta1 and v1)."""
    custom = k8s.CustomObjectsApi(api)
    candidates = (*WORKLOAD_KINDS, *OTHER_VERSIONS)
    out: dict[str, WorkloadKind] = {}
    served: set[tuple[str, str, str]] = set()
    for group, version in sorted({(k.group, k.version) for k in candidates}):
        try:
            found = await custom.get_api_resources(group, version, _request_timeout=timeout)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        served |= {(group, version, str(res.kind)) for res in found.resources or []
                   if "/" not in res.name}
    for k in candidates:  # the hub's versions first
        if (k.group, k.version, k.kind) in served:
            out.setdefault(f"{k.group}/{k.kind}", k)
    return out


class Writer:
    def __init__(self, api: k8s.ApiClient, timeout: float) -> None:
        self.timeout = timeout
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.batch = k8s.BatchV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.kinds = workload_kinds()

    def _custom_kind(self, obj: Mapping[str, Any]) -> WorkloadKind:
        found = self.kinds.get(kind_key(obj))
        if found is None:
            raise Rejected(f"no API for {kind_key(obj)}")
        return found

    async def create(self, body: dict[str, Any]) -> bool:
        """Create a child; False when it already exists."""
        kind, ns, t = kind_key(body), namespace_of(body), self.timeout
        raw = cast(Any, body)  # the typed APIs serialise plain dicts as they are
        try:
            if kind == POD:
                await self.core.create_namespaced_pod(ns, raw, _request_timeout=t)
            elif kind == SERVICE:
                await self.core.create_namespaced_service(ns, raw, _request_timeout=t)
            elif kind == DEPLOYMENT:
                await self.apps.create_namespaced_deployment(ns, raw, _request_timeout=t)
            elif kind == JOB:
                await self.batch.create_namespaced_job(ns, raw, _request_timeout=t)
            else:
                wk = self._custom_kind(body)
                await self.custom.create_namespaced_custom_object(
                    wk.group, wk.version, ns, wk.plural, body, _request_timeout=t)
        except ApiException as exc:
            if exc.status == 409:
                return False
            if exc.status in (400, 403, 404, 422):
                raise _rejected(exc, f"create {kind} {ns}/{name_of(body)}") from None
            raise
        return True

    async def delete(self, obj: Mapping[str, Any]) -> None:
        kind, ns, name, t = kind_key(obj), namespace_of(obj), name_of(obj), self.timeout
        background = k8s.V1DeleteOptions(propagation_policy="Background")
        try:
            if kind == POD:
                await self.core.delete_namespaced_pod(name, ns, _request_timeout=t)
            elif kind == SERVICE:
                await self.core.delete_namespaced_service(name, ns, _request_timeout=t)
            elif kind == DEPLOYMENT:
                await self.apps.delete_namespaced_deployment(name, ns, body=background,
                                                             _request_timeout=t)
            elif kind == JOB:
                await self.batch.delete_namespaced_job(name, ns, body=background,
                                                       _request_timeout=t)
            else:
                wk = self._custom_kind(obj)
                await self.custom.delete_namespaced_custom_object(
                    wk.group, wk.version, ns, wk.plural, name, body=background,
                    _request_timeout=t)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def patch(self, obj: Mapping[str, Any], patch: dict[str, Any]) -> None:
        kind, ns, name = kind_key(obj), namespace_of(obj), name_of(obj)
        if kind != DEPLOYMENT:
            raise Rejected(f"patching {kind} is not simulated")
        apps = cast(Any, self.apps)
        try:
            await apps.patch_namespaced_deployment(name, ns, patch, _content_type=MERGE_PATCH,
                                                   _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                return
            if exc.status in (400, 403, 422):
                raise _rejected(exc, f"patch {kind} {ns}/{name}") from None
            raise

    async def patch_status(self, wk: WorkloadKind, namespace: str, name: str,
                           status: dict[str, Any]) -> str | None:
        """Merge-patch the status subresource (None values delete fields); return the new
        resourceVersion."""
        custom = cast(Any, self.custom)
        try:
            got = await custom.patch_namespaced_custom_object_status(
                wk.group, wk.version, namespace, wk.plural, name, {"status": status},
                _content_type=MERGE_PATCH, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None  # deleted meanwhile
            if exc.status in (400, 403, 422):
                raise _rejected(exc, f"status of {wk.kind} {namespace}/{name}") from None
            raise
        rv = ((got or {}).get("metadata") or {}).get("resourceVersion") if isinstance(
            got, dict) else None
        return str(rv) if rv is not None else None
