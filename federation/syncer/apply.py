"""Apply rendered objects to one member with server-side apply, and prune them.

* Server-side apply with field manager ``fedctl`` (forcing conflicts on the fields we
  manage), so a member edit of a field we set (drift) is put back on the next apply.
* An object that already exists on the member and is not labelled as ours is left alone
  (result ``conflict``) unless the caller adopts it explicitly.
* Namespaces are created on demand, labelled as ours.
* Errors are classified: retryable (conflict, throttling, 5xx, timeouts, connection) or
  not (forbidden, schema rejection, kind not installed), with a ``reason``
  (``error_reason``) so the caller can surface a condition instead of retrying forever.

Kinds are resolved with kubernetes_asyncio's dynamic client (API discovery, cached per
member in a file under ``cache_dir``, refreshed once when a kind is not found).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.dynamic import DynamicClient
from kubernetes_asyncio.dynamic.exceptions import ResourceNotFoundError

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.model.labels import (
    BINDING_LABEL,
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGED_BY_LABEL,
)

RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
# a 500 that is really the object's fault: retrying the same object fails the same way
SCHEMA_MARKERS = ("field not declared in schema", "strict decoding error", "unknown field")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    cluster: str
    key: str  # apiVersion/Kind namespace/name
    action: str  # created | updated | unchanged | conflict | error | deleted | absent
    message: str = ""
    retryable: bool = False
    object: dict[str, Any] | None = None  # the object as the member returned it (apply)
    # why it failed, for a condition: Forbidden, SchemaRejected, KindNotInstalled,
    # Conflict (someone else's object), Unreachable, ApplyFailed
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.action in ("created", "updated", "unchanged", "deleted", "absent")


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name")
    where = f"{ns}/{name}" if ns else str(name)
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {where}"


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return meta


def is_ours(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGED_BY)


def raw_dict(_client: Any, data: Any) -> Any:
    """Keep responses as plain dicts, raising on a failure ``Status``.

    The dynamic client reads responses unchecked (``_preload_content=False``), so an error
    arrives as a ``Status`` document rather than an exception.
    """
    if isinstance(data, dict) and data.get("kind") == "Status" and (
            data.get("status") == "Failure"):
        exc = ApiException(status=int(data.get("code") or 0), reason=data.get("reason"))
        exc.body = json.dumps(data).encode()
        raise exc
    return data


def _api_message(exc: ApiException) -> str:
    raw: Any = exc.body
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    if isinstance(text, str):
        try:
            return str(json.loads(text).get("message") or text)[:500]
        except (ValueError, AttributeError):
            return text[:500]
    return f"HTTP {exc.status} {exc.reason}"


def error_reason(status: int, message: str) -> tuple[str, bool]:
    """(reason, retryable) of an API error answering a write of one object: a 403 or a
    schema rejection (422 Invalid, 400 strict decoding, a 500 naming an undeclared
    field) fails the same way until the object or the member's set-up changes; conflicts,
    throttling and other 5xx are worth retrying."""
    lowered = message.lower()
    if status == 403:
        return "Forbidden", False
    if status in (400, 422) or (status == 500 and any(m in lowered for m in SCHEMA_MARKERS)):
        return "SchemaRejected", False
    if status in RETRYABLE_STATUS:
        return "ApplyFailed", True
    return "ApplyFailed", False


def _changed(before: dict[str, Any], after: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Did our apply change the object? Status churn from controllers does not count, nor
    do labels or annotations others write meanwhile (a Deployment's revision annotation
    lands right after it is created): only the keys we sent."""
    bm, am = before.get("metadata") or {}, after.get("metadata") or {}
    if bm.get("generation") is not None and am.get("generation") is not None:
        sm = sent.get("metadata") or {}
        return bool(bm.get("generation") != am.get("generation") or any(
            (bm.get(field) or {}).get(k) != (am.get(field) or {}).get(k)
            for field in ("labels", "annotations") for k in sm.get(field) or {}))
    return bool(bm.get("resourceVersion") != am.get("resourceVersion"))


class MemberApplier:
    """Applies, reads and prunes objects on one member cluster."""

    def __init__(self, cluster: str, api: k8s.ApiClient, cache_dir: Path,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.cluster = cluster
        self.api = api
        self.timeout = timeout
        self._cache_file = cache_dir / f"discovery-{cluster}.json"
        self._dyn: DynamicClient | None = None
        self._lock = asyncio.Lock()
        self._namespaces: set[str] = set()

    async def _dynamic(self) -> DynamicClient:
        async with self._lock:
            if self._dyn is None:
                self._cache_file.parent.mkdir(parents=True, exist_ok=True)
                self._dyn = await DynamicClient(self.api, cache_file=str(self._cache_file))
            return self._dyn

    async def resource(self, api_version: str, kind: str) -> Any:
        dyn = await self._dynamic()
        try:
            return await dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            await dyn.resources.invalidate_cache()  # a CRD may have been installed since
            return await dyn.resources.get(api_version=api_version, kind=kind)

    async def get(self, api_version: str, kind: str, name: str,
                  namespace: str | None, *, watch_cache: bool = False
                  ) -> dict[str, Any] | None:
        """The object, or None. ``watch_cache``: served from the apiserver's watch cache
        (resourceVersion=0: no etcd read; may trail a write by a few milliseconds)."""
        dyn = await self._dynamic()
        res = await self.resource(api_version, kind)
        extra: dict[str, Any] = {"resource_version": "0"} if watch_cache else {}
        try:
            got: dict[str, Any] = await dyn.get(res, name=name, namespace=namespace,
                                                serializer=raw_dict, _request_timeout=self.timeout,
                                                **extra)
            return got
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def ensure_namespace(self, namespace: str) -> None:
        if namespace in self._namespaces:
            return
        core = k8s.CoreV1Api(self.api)
        try:
            body: Any = {"metadata": {"name": namespace,
                                      "labels": {MANAGED_BY_LABEL: MANAGED_BY}}}
            await core.create_namespace(body, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._namespaces.add(namespace)

    async def apply(self, obj: dict[str, Any], *, adopt: bool = False,
                    existing: dict[str, Any] | None = None) -> ApplyResult:
        """Apply ``obj``. ``existing``: the member's current copy when the caller already
        has it (a watch cache), which saves the read before the apply."""
        key = object_key(obj)
        try:
            return await self._apply(obj, key, adopt, existing)
        except ResourceNotFoundError:
            return ApplyResult(self.cluster, key, "error",
                               f"kind {obj.get('kind')} ({obj.get('apiVersion')}) is not "
                               f"installed on cluster {self.cluster}", retryable=False,
                               reason="KindNotInstalled")
        except ApiException as exc:
            message = _api_message(exc)
            if exc.status == 404:
                # the namespace we created was deleted meanwhile: create it again
                self._namespaces.discard(str(meta_of(obj).get("namespace")))
                return ApplyResult(self.cluster, key, "error",
                                   f"cluster {self.cluster} answered HTTP 404: {message}",
                                   retryable=True, reason="ApplyFailed")
            reason, retryable = error_reason(int(exc.status or 0), message)
            return ApplyResult(self.cluster, key, "error",
                               f"cluster {self.cluster} answered HTTP {exc.status}: "
                               f"{message}", retryable=retryable, reason=reason)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return ApplyResult(self.cluster, key, "error",
                               f"cluster {self.cluster} unreachable: {type(exc).__name__}",
                               retryable=True, reason="Unreachable")

    async def _apply(self, obj: dict[str, Any], key: str, adopt: bool,
                     existing: dict[str, Any] | None) -> ApplyResult:
        meta = obj.get("metadata") or {}
        name, namespace = meta["name"], meta.get("namespace")
        res = await self.resource(obj["apiVersion"], obj["kind"])
        if res.namespaced and namespace:
            await self.ensure_namespace(namespace)
        if existing is None:
            # only to see whether someone else's object is in the way (the apply that
            # follows is checked by the server): the watch cache answers that without
            # a quorum read of etcd
            existing = await self.get(obj["apiVersion"], obj["kind"], name,
                                      namespace if res.namespaced else None, watch_cache=True)
        if existing is not None and not is_ours(existing) and not adopt:
            return ApplyResult(self.cluster, key, "conflict",
                               f"{key} already exists on {self.cluster} and is not managed "
                               "by fedctl; it was left unchanged (set the policy's "
                               "conflictResolution: Overwrite to adopt it)",
                               retryable=True, reason="Conflict")
        dyn = await self._dynamic()
        applied: dict[str, Any] = await dyn.server_side_apply(
            res, body=obj, name=name, namespace=namespace if res.namespaced else None,
            field_manager=FIELD_MANAGER, force_conflicts=True, serializer=raw_dict,
            _request_timeout=self.timeout)
        if existing is None:
            return ApplyResult(self.cluster, key, "created", object=applied)
        changed = _changed(existing, applied, obj)
        return ApplyResult(self.cluster, key, "updated" if changed else "unchanged",
                           object=applied)

    async def delete(self, api_version: str, kind: str, name: str,
                     namespace: str | None, *, foreground: bool = False) -> ApplyResult:
        """Delete one object. ``foreground``: the object stays (terminating) until the
        garbage collector has deleted what it owns (a job's pods), so its disappearance
        means they are gone too."""
        key = f"{api_version}/{kind} {namespace + '/' if namespace else ''}{name}"
        try:
            dyn = await self._dynamic()
            res = await self.resource(api_version, kind)
            await dyn.delete(res, name=name, namespace=namespace if res.namespaced else None,
                             propagation_policy="Foreground" if foreground else "Background",
                             serializer=raw_dict,
                             _request_timeout=self.timeout)
            return ApplyResult(self.cluster, key, "deleted")
        except ResourceNotFoundError:
            return ApplyResult(self.cluster, key, "absent")
        except ApiException as exc:
            if exc.status == 404:
                return ApplyResult(self.cluster, key, "absent")
            return ApplyResult(self.cluster, key, "error", f"HTTP {exc.status}: "
                               f"{_api_message(exc)}", retryable=exc.status in RETRYABLE_STATUS)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return ApplyResult(self.cluster, key, "error",
                               f"cluster {self.cluster} unreachable: {type(exc).__name__}",
                               retryable=True)

    async def list_bound(self, api_version: str, kind: str,
                         binding: str) -> list[dict[str, Any]]:
        """Objects of a kind on this member that carry our binding label."""
        dyn = await self._dynamic()
        res = await self.resource(api_version, kind)
        got = await dyn.get(res, label_selector=f"{BINDING_LABEL}={binding}",
                            serializer=raw_dict, _request_timeout=self.timeout)
        items: list[dict[str, Any]] = got.get("items") or []
        return items

    async def prune(self, api_version: str, kind: str, binding: str,
                    keep: Iterable[tuple[str | None, str]]) -> list[ApplyResult]:
        """Delete objects of ``binding`` not in ``keep`` ((namespace, name) pairs)."""
        wanted = set(keep)
        out = []
        for obj in await self.list_bound(api_version, kind, binding):
            meta = obj.get("metadata") or {}
            ref = (meta.get("namespace"), meta.get("name"))
            if ref in wanted or not is_ours(obj):
                continue
            out.append(await self.delete(api_version, kind, str(ref[1]), ref[0]))
        return out
