"""Waiting for CustomResourceDefinitions to be served."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from kubernetes_asyncio import client as k8s

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
