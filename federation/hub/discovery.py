"""API discovery of one cluster: every kind it serves, at every served version.

``/api/v1`` for the core group, ``/apis`` for the groups, then ``/apis/<group>/<version>``
for each served version (not only the preferred one: a member may serve MPIJob only as
``kubeflow.org/v1`` and another only as ``v2beta1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.hub.kinds import ServedKind, parse_resources

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Discovery:
    served: tuple[ServedKind, ...]
    preferred: dict[str, str]  # group -> preferred version


async def _get(api: k8s.ApiClient, path: str) -> dict[str, Any]:
    resp: dict[str, Any] = await api.call_api(
        path, "GET", auth_settings=["BearerToken"], response_types_map={200: "object"},
        _return_http_data_only=True, _request_timeout=DEFAULT_TIMEOUT)
    return resp


async def discover(api: k8s.ApiClient) -> Discovery:
    served = parse_resources("", "v1", await _get(api, "/api/v1"))
    preferred: dict[str, str] = {}
    groups = await _get(api, "/apis")
    for g in groups.get("groups") or []:
        name = str(g.get("name") or "")
        pref = (g.get("preferredVersion") or {}).get("version")
        if pref:
            preferred[name] = str(pref)
        for v in g.get("versions") or []:
            version = str(v.get("version") or "")
            try:
                doc = await _get(api, f"/apis/{name}/{version}")
            except ApiException as exc:  # an aggregated API that is down: not served now
                log.debug("discovery of %s/%s failed: HTTP %s", name, version, exc.status)
                continue
            served += parse_resources(name, version, doc)
    return Discovery(tuple(served), preferred)
