"""Installing CustomResourceDefinitions and waiting until they are served."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import DEFAULT_TIMEOUT


async def wait_established(api: k8s.ApiClient, names: Iterable[str],
                           timeout: float = 60.0) -> None:
    """Return once every named CRD has condition Established=True."""
    ext = k8s.ApiextensionsV1Api(api)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = set(names)
    while pending and loop.time() < deadline:
        for name in sorted(pending):
            crd = await ext.read_custom_resource_definition(name,
                                                            _request_timeout=DEFAULT_TIMEOUT)
            conds = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                pending.discard(name)
        if pending:
            await asyncio.sleep(0.2)
    if pending:
        raise TimeoutError(f"CRDs not established after {timeout:.0f}s: {sorted(pending)}")


async def ensure_crds(api: k8s.ApiClient, bodies: Iterable[dict[str, Any]],
                      timeout: float = 60.0) -> None:
    """Create each CRD, or replace it when it exists; then wait until all are served."""
    ext = k8s.ApiextensionsV1Api(api)
    names = []
    for body in bodies:
        name = body["metadata"]["name"]
        names.append(name)
        try:
            await ext.create_custom_resource_definition(cast(Any, body),
                                                        _request_timeout=DEFAULT_TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = await ext.read_custom_resource_definition(
                name, _request_timeout=DEFAULT_TIMEOUT)
            updated = {**body, "metadata": {**body["metadata"],
                                            "resourceVersion": current.metadata.resource_version}}
            await ext.replace_custom_resource_definition(name, cast(Any, updated),
                                                         _request_timeout=DEFAULT_TIMEOUT)
    await wait_established(api, names, timeout)
