"""The main job on the embedded default: fleet up, members joined, hub running, the example
policies and workloads applied, and where each landed and why.

``fedctl dev demo`` starts the local fleet if none is running, registers its members,
runs the hub controller in-process, applies ``policies/examples`` (policies first, then
workloads, namespaces created as needed), waits until every workload is scheduled and
applied, prints a table; then registers a model in the fleet's MLflow and follows it to
every subscribed cluster (``federation.dev.demo_model``: two versions, the alias moved
between them), and stops the hub. The fleet keeps running for exploration.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.dynamic import DynamicClient

from federation.clusters.client import api_client
from federation.clusters.join import join
from federation.dev import procs
from federation.dev.demo_model import ModelStep, run_model_demo
from federation.dev.localfleet import LocalFleet
from federation.fleet import Fleet
from federation.hub.bindings import TemplateKey
from federation.hub.controller import Hub, HubConfig
from federation.syncer.apply import raw_dict
from policies.match import select_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"
# `clusters join` registers the real members; the model part applies the model example
# once a version is registered, pointed at the fleet's registry
SKIP = {"membercluster.yaml", "model-subscription.yaml"}


@dataclass(frozen=True, slots=True)
class Landing:
    workload: str
    clusters: str
    phase: str
    why: str


@dataclass(frozen=True, slots=True)
class DemoResult:
    landings: list[Landing]
    models: list[ModelStep]


def example_documents(root: Path = EXAMPLES) -> tuple[list[dict[str, Any]],
                                                      list[dict[str, Any]]]:
    """(policies, workloads) from the examples directory."""
    policies, workloads = [], []
    for f in sorted(root.glob("*.yaml")):
        if f.name not in SKIP:
            policies += [d for d in yaml.safe_load_all(f.read_text()) if d]
    for f in sorted((root / "workloads").glob("*.yaml")):
        workloads += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return policies, workloads


async def _apply(dyn: DynamicClient, core: k8s.CoreV1Api, obj: dict[str, Any]) -> None:
    ns = (obj.get("metadata") or {}).get("namespace")
    if ns:
        with contextlib.suppress(ApiException):
            await core.create_namespace(cast(Any, {"metadata": {"name": ns}}))
    res = await dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    await dyn.server_side_apply(res, body=obj, name=obj["metadata"]["name"],
                                namespace=ns if res.namespaced else None,
                                field_manager="fedctl-demo", force_conflicts=True,
                                serializer=raw_dict)


def _priority(hub: Hub, obj: dict[str, Any]) -> int:
    m = obj.get("metadata") or {}
    policy = select_policy(hub.policies(), obj["apiVersion"], obj["kind"], m["name"],
                           m.get("namespace", ""), m.get("labels") or {})
    return policy.spec.priority if policy is not None else 0


def _decided(binding: dict[str, Any] | None) -> bool:
    conds = ((binding or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Scheduled" for c in conds)


def _workload(key: TemplateKey) -> str:
    """``Kind namespace/name``, as the table shows a workload."""
    return f"{key.kind} {key.namespace}/{key.name}"


def _landing(key: TemplateKey, binding: dict[str, Any] | None) -> Landing:
    if binding is None:
        return Landing(_workload(key), "-", "-", "no binding yet")
    spec, status = binding.get("spec") or {}, binding.get("status") or {}
    clusters = ", ".join(f"{c['name']}x{sum((c.get('replicas') or {}).values())}"
                         for c in spec.get("clusters") or []) or "-"
    conds = {c["type"]: c for c in status.get("conditions") or []}
    sched = conds.get("Scheduled", {})
    why = sched.get("message", "")
    applied = conds.get("Applied", {})
    if applied.get("status") == "False":
        why += f" | apply: {applied.get('message', '')}"
    return Landing(_workload(key), clusters, status.get("phase", "-"), why)


async def run_demo(fleet: Fleet, state_dir: Path | None, timeout: float = 90.0,
                   model_timeout: float = 120.0) -> DemoResult:
    lf = LocalFleet(state_dir)
    if not lf.exists() or not any(procs.alive(p) for p in lf.load().all_procs()):
        await lf.up(fleet)
    state = lf.load()
    hub_api = await api_client(state.kubeconfig, "hub")
    try:
        await join(hub_api, fleet, lf.state_dir,
                   {s.endpoint.name: s.endpoint for s in state.stores})
        hub = Hub(HubConfig(kubeconfig=Path(state.kubeconfig), context="hub",
                            cache_dir=lf.state_dir / "hub-cache"))
        task = asyncio.create_task(hub.run())
        try:
            await asyncio.wait_for(hub.ready.wait(), 60)
            dyn = await DynamicClient(hub_api, cache_file=str(lf.state_dir / "demo-disc.json"))
            await dyn.resources.invalidate_cache()
            core = k8s.CoreV1Api(hub_api)
            policies, workloads = example_documents()
            for obj in policies:
                await _apply(dyn, core, obj)
            want = sum(1 for p in policies if p.get("kind") in (
                "PropagationPolicy", "ClusterPropagationPolicy"))
            deadline = time.monotonic() + timeout
            while len(hub.policies()) < want and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # the hub has seen every policy
            # Higher-priority workloads first, each scheduled before the next is applied,
            # so the capacity each one holds is decided in priority order.
            keys = []
            for obj in sorted(workloads, key=lambda o: -_priority(hub, o)):
                await _apply(dyn, core, obj)
                m = obj["metadata"]
                key = TemplateKey(obj["apiVersion"], obj["kind"], m.get("namespace", ""),
                                  m["name"])
                keys.append(key)
                while time.monotonic() < deadline and not _decided(hub.binding(key)):
                    await asyncio.sleep(0.2)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                settled = [hub.binding(k) for k in keys]
                if all(b and any(c["type"] == "Applied" for c in
                                 (b.get("status") or {}).get("conditions") or [])
                       for b in settled):
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(3)  # let readiness propagate into the bindings
            landings = [_landing(k, hub.binding(k)) for k in keys]
            models = await run_model_demo(hub_api, state, lambda o: _apply(dyn, core, o),
                                          model_timeout)
            return DemoResult(landings, models)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await hub_api.close()
