"""Helpers for hub integration tests: a running in-process hub, policies, templates."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.dev.localfleet import FleetState
from federation.hub.controller import Hub, HubConfig

G, V = "fedctl.dev", "v1alpha1"
# the hub waits up to 30 s for its members to settle (MEMBER_SETTLE_SECONDS) before it
# is ready; a loaded machine needs more than that to list everything
READY_SECONDS = 90.0


@contextlib.asynccontextmanager
async def running_hub(state: FleetState, tmp_path: Path) -> AsyncIterator[Hub]:
    hub = Hub(HubConfig(kubeconfig=Path(state.kubeconfig), context="hub",
                        cache_dir=tmp_path / "cache"))
    task = asyncio.create_task(hub.run())
    try:
        ready = asyncio.create_task(hub.ready.wait())
        await asyncio.wait({task, ready}, timeout=READY_SECONDS,
                           return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()  # the hub stopped: raise what stopped it
            raise RuntimeError("the hub stopped before it was ready")
        if not hub.ready.is_set():
            raise TimeoutError(f"the hub was not ready after {READY_SECONDS:.0f} s")
        yield hub
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def namespace(api: Any) -> str:
    ns = f"t-{uuid.uuid4().hex[:6]}"
    await k8s.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    return ns


def policy(ns: str, app: str, placement: dict[str, Any],
           kinds: tuple[tuple[str, str], ...] = (("apps/v1", "Deployment"),)) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "PropagationPolicy",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"resourceSelectors": [
                {"apiVersion": a, "kind": k, "labelSelector": {"matchLabels": {"app": app}}}
                for a, k in kinds], "placement": placement,
                "failover": {"clusterNotReadySeconds": 4}}}


def deployment(ns: str, app: str, replicas: int, gpus: int = 0,
               product: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"requests": {"cpu": "100m"}}
    if gpus:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "registry.example/app:1",
                                            "resources": res}]}
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}}, "spec": spec}}}


def pytorchjob(ns: str, name: str, app: str, gpus: int) -> dict[str, Any]:
    """A Master + Worker PyTorchJob, ``gpus`` GPUs per replica."""
    template = {"spec": {"containers": [{"name": "pytorch", "image": "train:1",
                                         "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
            "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template},
                "Worker": {"replicas": 1, "template": template}}}}


async def binding(api: Any, ns: str, name: str) -> dict[str, Any] | None:
    try:
        got: dict[str, Any] = await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            G, V, ns, "resourcebindings", name)
        return got
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def member_replicas(api: Any, ns: str, name: str) -> int | None:
    try:
        d = await k8s.AppsV1Api(api).read_namespaced_deployment(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return int(d.spec.replicas)


async def create_policy(api: Any, body: dict[str, Any]) -> None:
    """Create a PropagationPolicy on the hub (as `kubectl create -f` would)."""
    await k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        G, V, body["metadata"]["namespace"], "propagationpolicies", body)


async def read_core(api: Any, kind: str, ns: str, name: str) -> Any:
    """A core-group object on a cluster, or None when it does not exist."""
    core = k8s.CoreV1Api(api)
    read = {"ConfigMap": core.read_namespaced_config_map,
            "Secret": core.read_namespaced_secret,
            "Service": core.read_namespaced_service,
            "ServiceAccount": core.read_namespaced_service_account}[kind]
    try:
        return await read(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
