"""Kubernetes Events on hub objects, so `kubectl describe` tells what fedctl did."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT

log = logging.getLogger(__name__)
COMPONENT = "fedctl-hub"


async def emit(api: k8s.ApiClient, obj: dict[str, Any], *, reason: str, message: str,
               warning: bool = False) -> None:
    """Record one Event about ``obj`` (best effort: failures are logged, never raised)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "metadata": {"name": f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:12]}",
                     "namespace": namespace},
        "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason, "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }
    try:
        await k8s.CoreV1Api(api).create_namespaced_event(namespace, cast(Any, body),
                                                        _request_timeout=DEFAULT_TIMEOUT)
    except (ApiException, OSError) as exc:
        log.debug("event %s on %s/%s not recorded: %s", reason, namespace, meta.get("name"),
                  exc)
