"""Hub at scale: the hub's memory and reconcile cost at 100 and 1,000 members, no apiservers.

    python bench/hub_scale.py [--clusters 100,1000] [--workloads 10000] [--objects hub|full]
        [--modes rebuild,inventory-cache,hub] [--sample 2000]
        [--mode-budget 90] [--breakdown 10] [--phases 50]
        [--system-pods-per-node 4] [--node-images 8] [--timeout 3600] [--seed 7]
        [--profile] [--queue-idle [--idle-sample 500] [--idle-factor 10000000]
        [--idle-minutes 60] [--fleet-changes-per-hour 6]] [--queue-idle-ms MS]

Builds, in one process, the state a hub holds for a fleet and runs the hub's real
``Reconciler`` against it. No apiserver runs: the objects the hub's reflectors would have
received are generated as raw API JSON and decoded one object at a time (as watch events
are), then put into the stores of the real ``Hub``, ``Members`` and ``Reflector`` objects:

* per member: nodes (kwok-style manifests from ``federation.dev.nodes``, plus conditions,
  addresses, GFD/NFD labels, a few images and managedFields) in node pools of mixed GPU
  products sized so the fleet holds the workloads; DaemonSet and add-on pods; the pods of
  the placed replicas (``fedctl.dev/binding`` label, ``nodeName``, requests, full status);
  the member copies of the placed workloads (``render()`` output plus the fields the
  member's apiserver and operators add, ``_member_copy``), indexed through the callback
  the copy watches call; a ``MemberCluster`` (``member_cluster_manifest``) and its
  kubeconfig Secret on the hub;
* on the hub: W templates (~70% Deployments of 1-4 replicas with 0-1 GPUs, ~20%
  PyTorchJobs of 2-8 replicas x 1-8 GPUs, ~10% InferenceServices), W ResourceBindings
  (``clusters_spec`` with the holds from ``holds_for``), propagation and override policies;
  the capacity ``Ledger`` is seeded from the bindings by ``Hub._seed_ledger``.

The initial placement is a greedy first fit done by this program (it stands for "the hub
placed these earlier"); the reconciles then run the real scheduler with that placement as
the previous one, as a resync does.

The reconcile measured is ``Reconciler.reconcile`` itself, built as ``Hub.run`` builds it
(the real ``Members``, ``Scheduler``, ``DependencySync``, policies, templates and bindings
from the hub's stores), awaited on one event loop. Only what talks to apiservers is
replaced, by the in-memory implementations of the ``federation.hub.ports`` Protocols in
``bench/inmemory.py``: the hub apiserver (``HubApi``: patches, server-side applies,
status patches and deletes change the hub's reflector stores, as the watch event would,
and answer with server metadata) and each member's ``Applier`` (an apply returns the copy
as the member's watch returns it, ``_member_copy``, and updates the member's copy cache);
Events are counted, not sent. No sleeps, no sockets. The fakes time themselves: their
CPU per reconcile (``fakes_cpu_ms_mean``, ``fakes_share_pct``) is reported and is inside
the reconcile's numbers, as is the event loop's (``event_loop_overhead_us_per_reconcile``).
Earlier versions of this program timed a copy of the reconcile's steps instead, which
drifted from the reconciler (no gang gate, GPU pin, adopted binding labels, events,
dependency sync, finalizer task).

Before the timed modes, ``first_pass`` reconciles each sampled template until a
reconcile writes nothing: the first reconcile of a hub started on this state (its
applied-digest memory starts empty: every copy is applied again) and the reconciles its
writes cause; its writes are reported. The timed reconciles are then resyncs of templates
whose inputs did not change (their writes, normally none, are reported per mode). Measured:
(1) VmRSS/VmHWM of this process after building everything (after ``gc.collect()``), with
RSS checkpoints per stage and per-object deep sizes; (2) the CPU (thread time) and wall
time of one ``Reconciler.reconcile`` for a random sample of placed workloads, per mode:

* ``rebuild``: every member's inventory and snapshot rebuilt from its node and pod
  caches on every reconcile (the hub before commit c373082; caches cleared, untimed);
* ``inventory-cache``: each member's ``Inventory`` cached, its snapshot (prices, taints,
  every other binding's holds packed in by ``reserve()``) rebuilt per reconcile (the hub
  from c373082 until the snapshot cache; that cache cleared);
* ``hub``: the code as it is: each member's snapshot and reserved snapshot cached on its
  reflectors' versions, its spec revision, health and the ledger's version for it.

Every mode compares its snapshots with ones built with all caches dropped (20 reconciles).
Where the time goes: ``--phases N`` reconciles per mode run again under cProfile
(untimed) and the cumulative time of the reconciler's main functions (``Members.snapshots``,
``Scheduler.schedule``, ``render``, ``_apply``, ``_prune``, the binding and status writes,
...) is reported as a share of the profiled time (shares overlap); the per-step timers of
the old copy are gone. ``--breakdown N``: ``Members.snapshot`` timed member by member with
each cache state (the real method).

``--objects hub`` (the default) stores what the hub's reflectors keep (their transforms:
``NodeInfo``/``PodUsage`` records for member nodes and pods, ``cached_form`` for every
other object); ``--objects full`` stores objects as the apiserver sends them (the hub
before those transforms). The in-memory servers store what they write the same way.

``--queue-idle`` (``idle_unschedulable``): the idle hub with ``--workloads`` templates
that stay unschedulable, the queue alone. The CPU of one ``Reconciler.reconcile`` of an
unschedulable template (a new template asking for ``--idle-factor`` times the replicas
of a sampled one, never placed, reconciled until its binding and status say so, then
timed once) times the reconciles per minute the real ``WorkQueue`` runs, on a
virtual-time event loop, when each run re-adds the key in 10 s (the old policy), calls
``add_rate_limited`` (backoff), or nothing (re-added on a fleet change), with and without
the 300 s resync -> a fraction of a core. ``--queue-idle-ms`` runs the queue part alone
with a given CPU per reconcile.

Several cluster counts or object modes run one subprocess each (so every RSS is clean).
Prints one JSON document; asserts nothing. Applies the hub's GC thresholds
(``federation.tuning``) as ``fedctl hub run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import json
import math
import os
import platform
import pstats
import random
import selectors
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.inmemory import (
    DEPLOYMENT_STATUS,
    Directory,
    EventLog,
    FakeCost,
    InMemoryApplier,
    InMemoryHub,
    Keep,
    plain,
)
from federation.catalog.egress import load_egress_matrix
from federation.catalog.gpus import GpuProduct, lookup
from federation.catalog.prices import load_price_catalog
from federation.clusters.compact import cached_form
from federation.clusters.health import Health
from federation.clusters.inventory import compute_inventory, node_info, pod_usage
from federation.clusters.join import member_cluster_manifest
from federation.clusters.watch import Reflector, object_key
from federation.dev.nodes import node_manifests
from federation.fleet import (
    ClusterSpec,
    Fleet,
    NodePool,
    ObjectStoreSpec,
    Pricing,
    Simulation,
)
from federation.hub.bindings import PLURAL as BINDINGS
from federation.hub.bindings import (
    TemplateKey,
    cluster_names,
    clusters_spec,
    condition,
    placement_of,
)
from federation.hub.controller import Hub, HubConfig
from federation.hub.deps import DependencySync
from federation.hub.members import MemberRecord, Members, WatchedKind
from federation.hub.queue import CHANGE, RESYNC, WorkQueue
from federation.hub.ratelimit import TokenBucket, default_retry_limiter
from federation.hub.reconcile import Outcome, Reconciler
from federation.interpreters.demand import extract_demand
from federation.interpreters.interpreter import PHASE_ORDER, Interpreters
from federation.interpreters.paths import get_at
from federation.model.cluster import ClusterSnapshot
from federation.model.labels import BINDING_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from federation.model.placement import Placement
from federation.scheduling.reservations import Hold, Ledger, holds_for
from federation.scheduling.runtime import Scheduler
from federation.syncer.apply import MemberApplier
from federation.syncer.render import MemberTarget, render
from federation.tuning import tune_process_gc
from policies.match import select_overrides, select_policy
from policies.models import GROUP, VERSION, PropagationPolicy

Obj = dict[str, Any]
KiB, MiB, GiB = 1024, 1024**2, 1024**3
SITES = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-west-1"),
         ("aws", "ap-northeast-1"), ("gcp", "us-central1"), ("gcp", "europe-west4"),
         ("gcp", "asia-northeast1"), ("azure", "eastus"), ("azure", "westeurope"),
         ("onprem", "dc1"), ("onprem", "dc2")]
# in the order the policies' preference and then price pick them
TRAIN_GPUS = ("H100-80GB", "H200-141GB", "A100-80GB")
SERVE_GPUS = ("L4-24GB", "A10G-24GB", "T4-16GB", "L40S-48GB")
NAMESPACES = [f"team-{i:02d}" for i in range(40)]
FRONTEND_NAMESPACES = NAMESPACES[:16]  # each has a namespaced policy for tier=frontend
# typical request sizes (people copy sizes; the ledger aggregates holds by shape)
CPU_SIZES = [("250m", "512Mi"), ("500m", "1Gi"), ("1", "2Gi"), ("2", "4Gi"), ("4", "8Gi")]
GPU_WEB_SIZES = [("4", "16Gi"), ("8", "32Gi"), ("6", "24Gi")]
TRAIN_GPU_COUNTS = (1, 2, 4, 8)
DAEMONSETS = [  # (namespace, name, GPU nodes only, cpu, memory)
    ("kube-system", "kube-proxy", False, "100m", "128Mi"),
    ("kube-system", "cilium", False, "100m", "256Mi"),
    ("monitoring", "node-exporter", False, "50m", "64Mi"),
    ("gpu-operator", "nvidia-device-plugin-daemonset", True, "50m", "128Mi"),
    ("gpu-operator", "gpu-feature-discovery", True, "50m", "64Mi"),
    ("gpu-operator", "nvidia-dcgm-exporter", True, "100m", "512Mi"),
    ("logging", "fluent-bit", False, "100m", "128Mi"),
]
ADDONS = [("kube-system", "coredns", 2), ("kube-system", "metrics-server", 1),
          ("monitoring", "kube-state-metrics", 1), ("gpu-operator", "gpu-operator", 1)]
KINDS_CORE = ["Binding", "ComponentStatus", "ConfigMap", "Endpoints", "Event", "LimitRange",
              "Namespace", "Node", "PersistentVolume", "PersistentVolumeClaim", "Pod",
              "PodTemplate", "ReplicationController", "ResourceQuota", "Secret",
              "Service", "ServiceAccount"]
KINDS_GROUPS = ["apps/ControllerRevision", "apps/DaemonSet", "apps/Deployment",
                "apps/ReplicaSet", "apps/StatefulSet", "batch/CronJob", "batch/Job",
                "autoscaling/HorizontalPodAutoscaler", "policy/PodDisruptionBudget",
                "networking.k8s.io/Ingress", "networking.k8s.io/NetworkPolicy",
                "networking.k8s.io/IngressClass", "rbac.authorization.k8s.io/Role",
                "rbac.authorization.k8s.io/RoleBinding", "rbac.authorization.k8s.io/ClusterRole",
                "rbac.authorization.k8s.io/ClusterRoleBinding", "storage.k8s.io/StorageClass",
                "storage.k8s.io/CSIDriver", "storage.k8s.io/CSINode",
                "storage.k8s.io/VolumeAttachment", "coordination.k8s.io/Lease",
                "discovery.k8s.io/EndpointSlice", "scheduling.k8s.io/PriorityClass",
                "node.k8s.io/RuntimeClass", "apiextensions.k8s.io/CustomResourceDefinition",
                "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
                "admissionregistration.k8s.io/MutatingWebhookConfiguration",
                "certificates.k8s.io/CertificateSigningRequest",
                "flowcontrol.apiserver.k8s.io/FlowSchema",
                "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration",
                "nvidia.com/ClusterPolicy", "monitoring.coreos.com/ServiceMonitor",
                "monitoring.coreos.com/PodMonitor", "monitoring.coreos.com/PrometheusRule"]
KINDS_TRAINING = ["kubeflow.org/PyTorchJob", "kubeflow.org/TFJob", "kubeflow.org/MPIJob",
                  "kubeflow.org/XGBoostJob", "kubeflow.org/PaddleJob", "kubeflow.org/JAXJob"]
KINDS_SERVING = ["serving.kserve.io/InferenceService", "serving.kserve.io/ServingRuntime",
                 "serving.kserve.io/ClusterServingRuntime", "serving.kserve.io/TrainedModel",
                 "serving.kserve.io/InferenceGraph"]
TEMPLATE_KINDS = {
    "Deployment": WatchedKind("apps/v1", "Deployment", "deployments"),
    "PyTorchJob": WatchedKind("kubeflow.org/v1", "PyTorchJob", "pytorchjobs"),
    "InferenceService": WatchedKind("serving.kserve.io/v1beta1", "InferenceService",
                                    "inferenceservices"),
}
MODES = ("rebuild", "inventory-cache", "hub")
TS = "2026-11-23T08:00:00Z"


class Deadline(Exception):
    """The run's --timeout passed."""


# ---- machine -------------------------------------------------------------------------------


def _utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine()}


def proc_mem() -> dict[str, float]:
    """VmRSS (current) and VmHWM (peak) of this process, MiB."""
    out: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
    return out


# ---- raw API objects -------------------------------------------------------------------------


class Ids:
    """Seeded uids, resourceVersions and name suffixes."""

    ALNUM = "bcdfghjklmnpqrstvwxz2456789"

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.rv = 1000

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def version(self) -> str:
        self.rv += 1
        return str(self.rv)

    def suffix(self, n: int = 5) -> str:
        return "".join(self.rnd.choices(self.ALNUM, k=n))


def fields_v1(value: Any) -> Any:
    """A managedFields ``fieldsV1`` set for ``value`` (keys as ``f:``, named list items as
    ``k:``), the shape the apiserver records for the fields a manager wrote."""
    if isinstance(value, dict):
        return {f"f:{k}": fields_v1(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(
            isinstance(x, dict) and "name" in x for x in value):
        return {"k:" + json.dumps({"name": x["name"]}, separators=(",", ":")):
                {".": {}, **fields_v1(x)} for x in value}
    return {}


def managed(manager: str, operation: str, api_version: str, part: Obj,
            subresource: str | None = None) -> Obj:
    entry: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version,
                  "time": TS, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(part)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def server_meta(meta: Obj, ids: Ids, generation: bool = True) -> Obj:
    """What the apiserver adds to an object's metadata."""
    meta["uid"] = ids.uid()
    meta["resourceVersion"] = ids.version()
    if generation:
        meta["generation"] = 1
    meta["creationTimestamp"] = TS
    return meta


def decode(obj: Obj) -> Obj:
    """The object as a reflector holds it: decoded from its own JSON document (a watch
    event), so no string is shared with any other object."""
    out: Obj = json.loads(json.dumps(obj, separators=(",", ":")))
    return out


def hub_form(obj: Obj, what: str) -> Any:
    """``--objects hub``: what the hub's reflectors keep of an object (their transforms):
    a ``NodeInfo``/``PodUsage`` record for member nodes and pods, ``cached_form`` (no
    managedFields or last-applied annotation, strings interned) for everything else;
    member copies also lose their containers first (``without_pod_specs``)."""
    if what == "pod":
        return pod_usage(obj)
    if what == "node":
        return node_info(obj)
    return cached_form(obj)


# ---- the fleet ----------------------------------------------------------------------------


@dataclass
class BenchNode:
    name: str
    product: str | None
    gpus: int
    cpu: int
    mem: int


@dataclass
class BenchCluster:
    spec: ClusterSpec
    ready: bool
    nodes: dict[str | None, list[BenchNode]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


def _pool(name: str, count: int, product: str | None, per_node: int, cpu: int,
          mem: int) -> NodePool:
    gpu: GpuProduct | None = lookup(product) if product else None
    return NodePool(name=name, count=count, gpu=gpu, gpus_per_node=per_node if gpu else 0,
                    cpu_millis=cpu, memory_bytes=mem)


def _gpu_pools(rnd: random.Random, prefix: str, share: float, choices: Sequence[str],
               second: float, per_node: int, cpu: int, mem: int) -> list[NodePool]:
    """Pools of one GPU product (a second one with probability ``second``) holding
    ``share`` GPUs between them."""
    products = [rnd.choice(choices)]
    if rnd.random() < second:
        products.append(rnd.choice([p for p in choices if p != products[0]]))
    return [_pool(f"{prefix}{j}", max(1, round(share / per_node / len(products))), p,
                  per_node, cpu, mem) for j, p in enumerate(products)]


def build_fleet(n: int, rnd: random.Random, train_gpus: int, serve_gpus: int,
                cpu_millis: int) -> tuple[Fleet, list[BenchCluster]]:
    """Clusters at the SITES, node pools sized so the fleet holds the workloads with
    ~35% headroom: 60% of non-edge clusters train (8-GPU H100/A100/H200 nodes), every
    non-edge cluster serves (4-GPU L4/T4/A10G/L40S nodes) and has CPU nodes; every 20th
    is a small edge site; every 50th (index 17 mod 50) is NotReady and holds nothing."""
    edge = [i % 20 == 19 for i in range(n)]
    trains = [not edge[i] and rnd.random() < 0.6 for i in range(n)]
    t_weight = [rnd.uniform(0.5, 1.5) if trains[i] else 0.0 for i in range(n)]
    s_weight = [0.0 if edge[i] else rnd.uniform(0.5, 1.5) for i in range(n)]
    t_sum, s_sum = sum(t_weight) or 1.0, sum(s_weight) or 1.0
    stores, clusters, bench = [], [], []
    for (provider, region) in SITES:
        stores.append(ObjectStoreSpec(name=f"{provider}-{region}-models", provider="s3",
                                      region=region, bucket="models",
                                      endpoint=f"https://s3.{region}.example.com"))
    stores.append(ObjectStoreSpec(name="edge-models", provider="s3", region="edge",
                                  bucket="models", endpoint="https://edge.example.com",
                                  edge=True))
    for i in range(n):
        provider, region = SITES[i % len(SITES)]
        if edge[i]:
            provider, region = "onprem", "edge"
        name = f"{provider}-{region}-{i:04d}"
        pools = []
        if trains[i]:
            share = train_gpus * 1.35 * t_weight[i] / t_sum
            pools += _gpu_pools(rnd, "train", share, TRAIN_GPUS, 0.2, 8, 192_000, 2048 * GiB)
        if edge[i]:
            pools.append(_pool("t4", 2, "T4-16GB", 1, 16_000, 64 * GiB))
            pools.append(_pool("cpu", 1, None, 0, 16_000, 64 * GiB))
        else:
            share = serve_gpus * 1.35 * s_weight[i] / s_sum
            pools += _gpu_pools(rnd, "serve", share, SERVE_GPUS, 0.3, 4, 48_000, 192 * GiB)
            cpu_nodes = max(2, round(cpu_millis * 1.5 * s_weight[i] / s_sum / 64_000))
            pools.append(_pool("cpu", cpu_nodes, None, 0, 64_000, 256 * GiB))
        pricing = Pricing(on_demand=(("H100-80GB", 1.85), ("A100-80GB", 1.2),
                                     ("H200-141GB", 2.4), ("L40S-48GB", 0.9),
                                     ("L4-24GB", 0.45), ("T4-16GB", 0.2),
                                     ("A10G-24GB", 0.6)) if provider == "onprem" else (),
                          spot_available=provider != "onprem" and rnd.random() < 0.5)
        tier = "edge" if edge[i] else ("onprem" if provider == "onprem" else "cloud")
        spec = ClusterSpec(
            name=name, provider=provider, region=region, zone=f"{region}-{'abc'[i % 3]}",
            labels=(("fedctl.dev/tier", tier), ("env", "prod")), edge=edge[i],
            pricing=pricing,
            object_stores=("edge-models",) if edge[i] else (f"{provider}-{region}-models",),
            simulate=Simulation(node_pools=tuple(pools)))
        clusters.append(spec)
        bench.append(BenchCluster(spec, ready=i % 50 != 17))
    return Fleet(name="hub-scale", clusters=tuple(clusters), object_stores=tuple(stores)), bench


def node_object(manifest: Obj, ids: Ids, images: int, rnd: random.Random) -> Obj:
    """A kwok node from ``node_manifests`` with what the kubelet (kwok) and the usual
    node agents add: conditions, addresses, GFD/NFD labels, images, managedFields."""
    meta = manifest["metadata"]
    server_meta(meta, ids, generation=False)
    labels = meta["labels"]
    labels["node.kubernetes.io/instance-type"] = rnd.choice(
        ["p5.48xlarge", "a3-highgpu-8g", "g6.12xlarge", "m7i.16xlarge", "custom"])
    labels["beta.kubernetes.io/os"] = "linux"
    labels["beta.kubernetes.io/arch"] = "amd64"
    if "nvidia.com/gpu.product" in labels:
        labels.update({"nvidia.com/cuda.driver.major": "550", "nvidia.com/cuda.driver.minor": "90",
                       "nvidia.com/cuda.runtime.major": "12", "nvidia.com/cuda.runtime.minor": "4",
                       "nvidia.com/gpu.compute.major": "9", "nvidia.com/gpu.machine": "custom",
                       "nvidia.com/mig.capable": "false", "nvidia.com/gpu.deploy.driver": "true",
                       "feature.node.kubernetes.io/pci-10de.present": "true",
                       "feature.node.kubernetes.io/kernel-version.full": "6.8.0-1015-aws"})
    meta["annotations"]["node.alpha.kubernetes.io/ttl"] = "0"
    manifest["spec"]["podCIDR"] = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.0/24"
    manifest["spec"]["podCIDRs"] = [manifest["spec"]["podCIDR"]]
    status = manifest["status"]
    status["conditions"] = [
        {"type": t, "status": s, "lastHeartbeatTime": TS, "lastTransitionTime": TS,
         "reason": r, "message": m}
        for t, s, r, m in (("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                           ("MemoryPressure", "False", "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available"),
                           ("DiskPressure", "False", "KubeletHasNoDiskPressure",
                            "kubelet has no disk pressure"),
                           ("PIDPressure", "False", "KubeletHasSufficientPID",
                            "kubelet has sufficient PID available"),
                           ("NetworkUnavailable", "False", "RouteCreated",
                            "RouteController created a route"))]
    status["addresses"] = [{"type": "InternalIP",
                            "address": f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}"},
                           {"type": "Hostname", "address": meta["name"]}]
    status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": 10250}}
    status["nodeInfo"].update({"machineID": ids.suffix(32), "systemUUID": ids.uid(),
                               "bootID": ids.uid(), "kernelVersion": "6.8.0-1015-aws",
                               "osImage": "Ubuntu 22.04.4 LTS"})
    status["images"] = [{"names": [f"registry.example.com/img{k}@sha256:{ids.suffix(64)}",
                                   f"registry.example.com/img{k}:v1.{k}"],
                         "sizeBytes": rnd.randrange(10**7, 5 * 10**9)} for k in range(images)]
    meta["managedFields"] = [
        managed("kubelet", "Update", "v1", {"metadata": {"labels": labels,
                                                          "annotations": meta["annotations"]}}),
        managed("kubelet", "Update", "v1", {"status": status}, "status"),
    ]
    return manifest


def pod_object(ids: Ids, rnd: random.Random, *, name: str, namespace: str,
               labels: Mapping[str, str], owner: tuple[str, str, str], node: str,
               containers: list[Obj], init: list[Obj] | None = None,
               manager: str = "kube-controller-manager",
               extra_spec: Obj | None = None) -> Obj:
    """A Running pod as the member's apiserver returns it (defaults, token volume,
    conditions, container statuses, managedFields)."""
    vol = f"kube-api-access-{ids.suffix()}"
    mount = {"name": vol, "readOnly": True,
             "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    full = []
    for c in containers:
        c = dict(c)
        c.setdefault("resources", {})
        c["volumeMounts"] = [*(c.get("volumeMounts") or []), mount]
        c.update({"terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"})
        full.append(c)
    spec: Obj = {
        "volumes": [{"name": vol, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt",
                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
        "containers": full,
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
        "serviceAccount": "default", "nodeName": node, "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
    }
    if init:
        spec["initContainers"] = [dict(c, terminationMessagePath="/dev/termination-log",
                                       terminationMessagePolicy="File",
                                       imagePullPolicy="IfNotPresent") for c in init]
    spec.update(extra_spec or {})
    ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    host = f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}"
    status: Obj = {
        "phase": "Running",
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": TS}
                       for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                 "ContainersReady", "PodScheduled")],
        "hostIP": host, "hostIPs": [{"ip": host}], "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": TS, "qosClass": "Burstable",
        "containerStatuses": [{
            "name": c["name"], "state": {"running": {"startedAt": TS}}, "lastState": {},
            "ready": True, "restartCount": 0, "image": c.get("image", ""),
            "imageID": f"{c.get('image', '')}@sha256:{ids.suffix(64)}",
            "containerID": f"containerd://{ids.suffix(64)}", "started": True}
            for c in full],
    }
    meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels),
                 "ownerReferences": [{"apiVersion": owner[0], "kind": owner[1],
                                      "name": owner[2], "uid": ids.uid(), "controller": True,
                                      "blockOwnerDeletion": True}]}
    server_meta(meta, ids, generation=False)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    meta["managedFields"] = [
        managed(manager, "Update", "v1", {"metadata": {"labels": meta["labels"],
                                                        "ownerReferences": {}},
                                          "spec": {k: v for k, v in spec.items()
                                                   if k != "nodeName"}}),
        managed("kubelet", "Update", "v1", {"status": status}, "status"),
    ]
    return pod


# ---- workloads ---------------------------------------------------------------------------


@dataclass
class Work:
    cls: str  # web | frontend | gpu-web | training | inference
    kind: str
    namespace: str
    name: str
    template: Obj  # as the user wrote it
    comps: list[tuple[str, int, int, int, int]]  # (component, replicas, gpus, cpu m, mem b)
    allowed: tuple[str, ...]  # GPU products (empty: CPU only)
    providers: tuple[str, ...] = ()  # clusterAffinity providers (empty: any)

    @property
    def api_version(self) -> str:
        return TEMPLATE_KINDS[self.kind].api_version


def _cpu(q: str) -> int:
    return int(float(q[:-1]) if q.endswith("m") else float(q) * 1000)


def _mem(q: str) -> int:
    return int(q[:-2]) * (GiB if q.endswith("Gi") else MiB)


def make_work(i: int, rnd: random.Random) -> Work:
    ns = rnd.choice(NAMESPACES)
    r = rnd.random()
    if r < 0.7:
        replicas = rnd.randint(1, 4)
        gpu = rnd.random() < 0.4
        name = f"{'svc' if gpu else 'web'}-{i:05d}"
        cpu, mem = rnd.choice(GPU_WEB_SIZES if gpu else CPU_SIZES)
        frontend = not gpu and ns in FRONTEND_NAMESPACES and rnd.random() < 0.3
        labels = {"app": name, "team": ns,
                  "fedctl.dev/class": "gpu-web" if gpu else "web"}
        if frontend:
            labels["tier"] = "frontend"
        res: Obj = {"requests": {"cpu": cpu, "memory": mem},
                    "limits": {"memory": mem}}
        if gpu:
            res["limits"]["nvidia.com/gpu"] = "1"
        container = {"name": "app", "image": f"ghcr.io/example/{name.split('-')[0]}:1.{i % 7}",
                     "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                     "env": [{"name": "LOG_LEVEL", "value": "info"},
                             {"name": "APP_NAME", "value": name}],
                     "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                        "periodSeconds": 10},
                     "resources": res}
        tmpl: Obj = {"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": name, "namespace": ns, "labels": labels},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                              "template": {"metadata": {"labels": {"app": name}},
                                           "spec": {"containers": [container]}}}}
        cls = "gpu-web" if gpu else ("frontend" if frontend else "web")
        return Work(cls, "Deployment", ns, name, tmpl,
                    [("Deployment", replicas, 1 if gpu else 0, _cpu(cpu), _mem(mem))],
                    SERVE_GPUS if gpu else (), ("aws", "gcp") if frontend else ())
    if r < 0.9:
        replicas = rnd.randint(2, 8)
        gpus = rnd.choice(TRAIN_GPU_COUNTS)
        cpu, mem = str(12 * gpus), f"{100 * gpus}Gi"
        name = f"train-{i:05d}"
        pin = rnd.choice(TRAIN_GPUS) if rnd.random() < 0.3 else None

        def replica_spec(n: int) -> Obj:
            spec: Obj = {"containers": [{
                "name": "pytorch", "image": f"ghcr.io/example/llm-train:2.{i % 5}",
                "command": ["torchrun"], "args": ["--nproc-per-node", str(gpus), "train.py",
                                                  "--config", f"configs/run-{i}.yaml"],
                "env": [{"name": "NCCL_DEBUG", "value": "WARN"},
                        {"name": "CHECKPOINT_DIR", "value": f"s3://ckpt/{name}/"}],
                "resources": {"limits": {"nvidia.com/gpu": str(gpus), "cpu": cpu,
                                         "memory": mem}},
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}],
                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]}
            if pin is not None:
                product = lookup(pin)
                assert product is not None
                spec["nodeSelector"] = {"nvidia.com/gpu.product": product.gfd_product}
            return {"replicas": n, "restartPolicy": "OnFailure",
                    "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}

        tmpl = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                "metadata": {"name": name, "namespace": ns,
                             "labels": {"team": ns, "fedctl.dev/class": "training"}},
                "spec": {"runPolicy": {"cleanPodPolicy": "None"},
                         "pytorchReplicaSpecs": {"Master": replica_spec(1),
                                                 "Worker": replica_spec(replicas - 1)}}}
        comps = [("Master", 1, gpus, _cpu(cpu), _mem(mem)),
                 ("Worker", replicas - 1, gpus, _cpu(cpu), _mem(mem))]
        return Work("training", "PyTorchJob", ns, name, tmpl, comps,
                    (pin,) if pin else TRAIN_GPUS)
    replicas = rnd.randint(2, 6)
    name = f"chat-{i:05d}"
    model = rnd.choice(["llama-3.1-8b-instruct", "mistral-7b", "qwen2.5-7b", "gemma-2-9b"])
    tmpl = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app": name, "team": ns, "fedctl.dev/class": "inference"},
                         "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
            "spec": {"predictor": {"minReplicas": replicas, "maxReplicas": replicas * 2,
                                   "model": {"modelFormat": {"name": "huggingface"},
                                             "storageUri": f"s3://models/{model}/",
                                             "args": ["--max-model-len", "8192"],
                                             "resources": {
                                                 "requests": {"cpu": "4", "memory": "24Gi"},
                                                 "limits": {"nvidia.com/gpu": "1", "cpu": "8",
                                                            "memory": "32Gi"}}}}}}
    return Work("inference", "InferenceService", ns, name, tmpl,
                [("predictor", replicas, 1, 4000, 24 * GiB)], SERVE_GPUS)


def policy_objects(ids: Ids) -> list[Obj]:
    """PropagationPolicies and OverridePolicies as the hub's reflectors hold them."""
    api = f"{GROUP}/{VERSION}"

    def obj(kind: str, name: str, spec: Obj, namespace: str | None = None) -> Obj:
        meta: Obj = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        out = {"apiVersion": api, "kind": kind, "metadata": server_meta(meta, ids),
               "spec": spec}
        meta["managedFields"] = [managed("kubectl-client-side-apply", "Update", api,
                                         {"spec": spec})]
        return out

    def sel(kind: str, **labels: str) -> Obj:
        wk = TEMPLATE_KINDS[kind]
        out: Obj = {"apiVersion": wk.api_version, "kind": kind}
        if labels:
            out["labelSelector"] = {"matchLabels": labels}
        return out

    serve = {"products": ["L4", "T4", "A10G", "L40S"], "preference": ["L4", "A10G"]}
    out = [
        obj("ClusterPropagationPolicy", "web", {
            "resourceSelectors": [sel("Deployment", **{"fedctl.dev/class": "web"})],
            "placement": {"clusterAffinity": {"providers": ["aws", "gcp", "azure", "onprem"]},
                          "replicaScheduling": {"type": "Divided", "division": "Aggregated"},
                          "scoreWeights": {"cost": 1, "balanced": 1}}}),
        obj("ClusterPropagationPolicy", "gpu-web", {
            "resourceSelectors": [sel("Deployment", **{"fedctl.dev/class": "gpu-web"})],
            "placement": {"clusterAffinity": {"providers": ["aws", "gcp", "azure", "onprem"]},
                          "replicaScheduling": {"type": "Divided", "division": "Aggregated"},
                          "gpu": serve, "scoreWeights": {"cost": 1, "gpuPreference": 1}}}),
        obj("ClusterPropagationPolicy", "training", {
            "resourceSelectors": [sel("PyTorchJob")],
            "placement": {
                "clusterAffinity": {"labelSelector": {"matchExpressions": [
                    {"key": "fedctl.dev/tier", "operator": "In", "values": ["onprem", "cloud"]}]}},
                "gpu": {"products": ["H100", "A100*", "H200"], "preference": ["H100", "H200"]},
                "cost": {"budgetPerHour": 1000, "spotAllowed": False},
                "data": {"datasets": [{"name": "corpus", "uri": "s3://data/corpus/",
                                       "size": "20Ti", "region": "us-east-1",
                                       "provider": "aws"}]},
                "gang": {"mode": "SingleCluster"},
                "scoreWeights": {"cost": 2, "dataLocality": 1, "gpuPreference": 1}},
            "failover": {"clusterNotReadySeconds": 120}}),
        obj("ClusterPropagationPolicy", "inference", {
            "resourceSelectors": [sel("InferenceService")],
            "placement": {"replicaScheduling": {"type": "Divided", "division": "FreeCapacity"},
                          "gpu": serve, "scoreWeights": {"artifactCached": 2, "cost": 1}}}),
    ]
    for ns in FRONTEND_NAMESPACES:
        out.append(obj("PropagationPolicy", "frontend", {
            "resourceSelectors": [sel("Deployment", tier="frontend")], "priority": 5,
            "placement": {"clusterAffinity": {"providers": ["aws", "gcp"]},
                          "replicaScheduling": {"type": "Divided", "division": "Aggregated"}}},
            namespace=ns))
    selectors = [sel(k) for k in TEMPLATE_KINDS]
    out.append(obj("ClusterOverridePolicy", "registry-mirrors", {
        "resourceSelectors": selectors,
        "overrideRules": [
            {"targetCluster": {"providers": ["aws"]}, "overriders": {"imageRegistry": {
                "operator": "Replace", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}}},
            {"targetCluster": {"providers": ["gcp"]}, "overriders": {"imageRegistry": {
                "operator": "Replace", "value": "europe-docker.pkg.dev/example/mirror"}}},
            {"targetCluster": {"providers": ["azure"]}, "overriders": {"imageRegistry": {
                "operator": "Replace", "value": "example.azurecr.io"}}},
            {"overriders": {"env": [{"name": "FEDCTL_FLEET", "value": "prod"}],
                            "labels": {"fedctl.dev/fleet": "prod"}}}]}))
    out.append(obj("ClusterOverridePolicy", "model-mirror", {
        "resourceSelectors": [sel("InferenceService")],
        "overrideRules": [{"targetCluster": {"providers": ["gcp"]}, "overriders": {
            "storageUri": {"from": "s3://models/", "to": "gs://models-mirror/"}}}]}))
    return out


# ---- placement (the state "the hub placed earlier") ------------------------------------------


def eligible(work: Work, c: BenchCluster) -> bool:
    spec = c.spec
    if not c.ready or spec.edge:
        return False
    if work.providers and spec.provider not in work.providers:
        return False
    if work.cls == "web" and spec.provider not in ("aws", "gcp", "azure", "onprem"):
        return False
    return not work.allowed or any(p in c.nodes for p in work.allowed)


def fit(c: BenchCluster, product: str | None, asks: list[tuple[str, int, int, int, int]]
        ) -> list[tuple[str, BenchNode]] | None:
    """First fit of every (component, n, gpus, cpu, mem) replica on nodes of ``product``
    (CPU nodes first for CPU-only replicas); all or nothing, committed on success."""
    pools = c.nodes.get(product, []) if product else [*c.nodes.get(None, []),
                                                      *(n for p, ns in c.nodes.items()
                                                        if p for n in ns)]
    taken: list[tuple[str, BenchNode, int, int, int]] = []
    ok = True
    for comp, n, g, cpu, mem in asks:
        for _ in range(n):
            node = next((x for x in pools if x.gpus >= g and x.cpu >= cpu and x.mem >= mem),
                        None)
            if node is None:
                ok = False
                break
            node.gpus -= g
            node.cpu -= cpu
            node.mem -= mem
            taken.append((comp, node, g, cpu, mem))
        if not ok:
            break
    if not ok:
        for _, node, g, cpu, mem in taken:
            node.gpus += g
            node.cpu += cpu
            node.mem += mem
        return None
    return [(comp, node) for comp, node, *_ in taken]


def place(work: Work, clusters: list[BenchCluster], rnd: random.Random
          ) -> dict[str, tuple[str | None, list[tuple[str, BenchNode]]]]:
    """cluster -> (GPU product, [(component, node)]): a gang on one cluster, a Divided
    workload on one cluster (or two: 15% of services, every inference service of 2+)."""
    cands = [c for c in clusters if eligible(work, c)]
    if not cands:
        return {}
    split = len(work.comps) == 1 and work.comps[0][1] >= 2 and (
        work.cls == "inference" or rnd.random() < 0.15)
    parts: list[list[tuple[str, int, int, int, int]]] = [list(work.comps)]
    if split:
        comp, n, g, cpu, mem = work.comps[0]
        parts = [[(comp, n - n // 2, g, cpu, mem)], [(comp, n // 2, g, cpu, mem)]]
    out: dict[str, tuple[str | None, list[tuple[str, BenchNode]]]] = {}
    for part in parts:
        order = [rnd.choice(cands) for _ in range(48)] + cands  # random probes, then a scan
        done = False
        for c in order:
            if c.name in out:
                continue
            # preferred products first, as the scheduler's fit picks them
            products = [p for p in work.allowed if p in c.nodes] if work.allowed else [None]
            for p in products:
                got = fit(c, p, part)
                if got is not None:
                    out[c.name] = (p, got)
                    done = True
                    break
            if done:
                break
        if not done:  # all or nothing: give the capacity back
            for _, got in out.values():
                for (comp, node) in got:
                    spec = next(x for x in work.comps if x[0] == comp)
                    node.gpus += spec[2]
                    node.cpu += spec[3]
                    node.mem += spec[4]
            return {}
    return out


# ---- the hub's state -----------------------------------------------------------------------


async def _no_apiserver(*_: Any, **__: Any) -> Any:
    raise RuntimeError("hub_scale has no apiserver: reflector stores are filled directly")


def reflector(name: str, objects: Iterable[Obj] | Mapping[str, Any] = ()) -> Reflector[Any]:
    """A reflector whose store holds ``objects`` (keyed by name, or by the mapping's keys
    for records such as ``PodUsage`` that carry no metadata)."""
    refl: Reflector[Any] = Reflector(name, _no_apiserver)
    items = objects.items() if isinstance(objects, Mapping) else (
        (object_key(o), o) for o in objects)
    for k, o in items:
        refl.store[k] = o
    refl.version += 1  # as a list does
    refl.synced.set()
    return refl


class OfflineMembers(Members):
    """``Members`` with records added from generated objects: no client, no probe, no
    reflector task. Health is set, not probed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._health: dict[str, Health] = {}

    def add_offline(self, obj: Obj, nodes: Reflector[Any], pods: Reflector[Any], ready: bool,
                    installed: frozenset[str],
                    copies: dict[tuple[str, str], Reflector[Any]]) -> None:
        name = obj["metadata"]["name"]
        labels = {k: v for k, v in (obj["metadata"].get("labels") or {}).items()
                  if k != "app.kubernetes.io/managed-by"}
        rec = MemberRecord(name=name, spec=obj["spec"], labels=labels,
                           generation=int(obj["metadata"].get("generation") or 0),
                           nodes=nodes, pods=pods,
                           applier=MemberApplier(name, cast(Any, None), self.cache_dir),
                           installed_kinds=installed, copies=copies)
        if not ready:
            rec.not_ready_since = time.monotonic() - 3600
        self._members[name] = rec
        self._health[name] = Health(ready=ready, reachable=ready,
                                    detail="ok" if ready else "connection refused")

    def health(self, name: str) -> Health:
        return self._health[name]


@dataclass
class State:
    hub: Hub
    members: OfflineMembers
    ledger: Ledger
    scheduler: Scheduler
    keys: list[TemplateKey]
    ids: Ids  # uids and resourceVersions of objects created later (the in-memory servers)
    objects: str  # --objects
    counts: dict[str, Any]
    stages: list[dict[str, Any]]
    sizes: dict[str, Any]


def deep_size(obj: Any) -> int:
    """Bytes of every object reachable from ``obj`` (each counted once; small ints,
    bools and None, which CPython shares, not counted)."""
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if o is None or isinstance(o, bool) or (isinstance(o, int) and -5 <= o <= 256):
            continue
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple):
            stack.extend(o)
        elif hasattr(o, "__slots__") and not isinstance(o, str):  # records (PodUsage...)
            stack.extend(getattr(o, a) for a in o.__slots__)
    return total


def _estimate(objs: Sequence[Any], rnd: random.Random, total: int) -> dict[str, Any]:
    if not objs:
        return {"count": total}
    sample = rnd.sample(list(objs), min(200, len(objs)))
    # the sample as one structure: a string shared by its objects (interned) counts once
    per = (deep_size(sample) - sys.getsizeof(sample)) / len(sample)
    out: dict[str, Any] = {"count": total, "bytes_per_object": round(per),
                           "estimate_mib": round(per * total / MiB, 1)}
    if all(isinstance(o, dict) for o in sample):
        out["json_bytes_per_object"] = round(statistics.fmean(
            len(json.dumps(o, separators=(",", ":"))) for o in sample))
    return out


def build_state(args: argparse.Namespace, deadline: float) -> State:
    rnd = random.Random(args.seed)
    ids = Ids(random.Random(args.seed + 1))
    objects = args.objects
    stages: list[dict[str, Any]] = []

    def stage(name: str) -> None:
        gc.collect()
        mem = proc_mem()
        prev = stages[-1]["vmrss_mib"] if stages else mem["vmrss_mib"]
        stages.append({"stage": name, **mem,
                       "delta_mib": round(mem["vmrss_mib"] - prev, 1)})
        if time.monotonic() > deadline:
            raise Deadline(f"timeout while building ({name})")

    def ingest(obj: Obj, what: str) -> Any:
        out = decode(obj)
        if objects != "hub":
            return out
        if what == "copy":  # the member copy caches' view (Members._keep_copy)
            out = hub.interpreters.without_pod_specs(out)
        return hub_form(out, what)

    stage("imports (interpreter, kubernetes_asyncio, fedctl)")
    catalog = load_price_catalog()
    hub = Hub(HubConfig(kubeconfig=Path("/nonexistent/kubeconfig"),
                        cache_dir=Path("/nonexistent/cache")))
    ledger = Ledger()
    hub.ledger = ledger
    interp = hub.interpreters
    members = OfflineMembers(catalog, Path("/nonexistent/cache"), lambda _n: None,
                             watched=tuple(TEMPLATE_KINDS.values()))
    hub.members = members

    # workloads first: the fleet is sized to hold them
    # (generated twice from the same seed, so no bench-only list of them stays in memory)
    train = serve = cpu = 0
    wrnd = random.Random(args.seed + 10)
    for i in range(args.workloads):
        w = make_work(i, wrnd)
        for _, n, g, c, _ in w.comps:
            train += n * g if w.cls == "training" else 0
            serve += n * g if w.cls != "training" else 0
            cpu += n * c if not w.allowed else 0
    fleet, bench = build_fleet(args.clusters, rnd, train, serve, cpu)

    # members: nodes, DaemonSet/add-on pods, MemberCluster, kubeconfig Secret
    node_refl: dict[str, Reflector[Any]] = {}
    pod_store: dict[str, dict[str, Any]] = {}
    mc_objs: list[Obj] = []
    secrets: list[Obj] = []
    samples: dict[str, list[Any]] = {"node": [], "system pod": [], "workload pod": [],
                                     "template": [], "binding": [], "member copy": [],
                                     "membercluster": [], "secret": []}
    n_nodes = n_sys = 0
    for bc in bench:
        spec = bc.spec
        nodes: dict[str, Any] = {}
        pods: dict[str, Any] = {}
        for m in node_manifests(spec):
            obj = node_object(m, ids, args.node_images, rnd)
            product = None
            if "nvidia.com/gpu.product" in obj["metadata"]["labels"]:
                found = lookup(obj["metadata"]["labels"]["nvidia.com/gpu.product"])
                product = found.name if found else None
            alloc = obj["status"]["allocatable"]
            bn = BenchNode(obj["metadata"]["name"], product, int(alloc.get("nvidia.com/gpu", 0)),
                           _cpu(alloc["cpu"]), int(alloc["memory"]))
            on_node = [d for d in DAEMONSETS if product or not d[2]]
            for ns, ds, _gpu_only, dcpu, dmem in on_node[:args.system_pods_per_node]:
                pname = f"{ds}-{ids.suffix()}"
                pod = pod_object(ids, rnd, name=pname, namespace=ns,
                                 labels={"app.kubernetes.io/name": ds,
                                         "controller-revision-hash": ids.suffix(10),
                                         "pod-template-generation": "1"},
                                 owner=("apps/v1", "DaemonSet", ds), node=bn.name,
                                 containers=[{"name": ds, "image": f"registry.k8s.io/{ds}:v1.3",
                                              "resources": {"requests": {"cpu": dcpu,
                                                                         "memory": dmem}}}],
                                 manager="kube-controller-manager")
                bn.cpu -= _cpu(dcpu)
                bn.mem -= _mem(dmem)
                pods[f"{ns}/{pname}"] = ingest(pod, "pod")
                n_sys += 1
            bc.nodes.setdefault(product, []).append(bn)
            nodes[obj["metadata"]["name"]] = ingest(obj, "node")
        cpu_nodes = bc.nodes.get(None) or next(iter(bc.nodes.values()))
        for ns, addon, count in ADDONS:
            for _ in range(count):
                pname = f"{addon}-{ids.suffix(10)}-{ids.suffix()}"
                node = cpu_nodes[rnd.randrange(len(cpu_nodes))]
                pod = pod_object(ids, rnd, name=pname, namespace=ns,
                                 labels={"app.kubernetes.io/name": addon,
                                         "pod-template-hash": ids.suffix(10)},
                                 owner=("apps/v1", "ReplicaSet", f"{addon}-{ids.suffix(10)}"),
                                 node=node.name,
                                 containers=[{"name": addon, "image": f"registry.k8s.io/{addon}:v1",
                                              "resources": {"requests": {"cpu": "100m",
                                                                         "memory": "128Mi"}}}])
                node.cpu -= 100
                node.mem -= 128 * MiB
                pods[f"{ns}/{pname}"] = ingest(pod, "pod")
                n_sys += 1
        n_nodes += len(nodes)
        samples["node"].extend(list(nodes.values())[:2])
        samples["system pod"].extend(list(pods.values())[:2])
        node_refl[spec.name] = reflector(f"{spec.name}/nodes", nodes)
        pod_store[spec.name] = pods
        mc = member_cluster_manifest(spec, fleet, f"https://{spec.name}.k8s.example.com:6443",
                                     f"{spec.name}-kubeconfig")
        server_meta(mc["metadata"], ids)
        installed = [*KINDS_CORE, *KINDS_GROUPS]
        if bc.nodes.keys() & set(TRAIN_GPUS):
            installed += KINDS_TRAINING
        if not spec.edge:
            installed += KINDS_SERVING
        gpus_status = [{"product": p, "total": 8 * len(ns_), "allocatable": 8 * len(ns_),
                        "requested": 0, "largestFreePerNode": 8}
                       for p, ns_ in bc.nodes.items() if p]
        mc["status"] = {"conditions": [{"type": "Ready", "status": "True" if bc.ready else "False",
                                        "reason": "Healthy" if bc.ready else "Unreachable",
                                        "message": "ok"}],
                        "gpus": gpus_status, "installedKinds": sorted(installed)}
        mc["metadata"]["managedFields"] = [
            managed("fedctl", "Apply", f"{GROUP}/{VERSION}", {"spec": mc["spec"]}),
            managed("fedctl", "Update", f"{GROUP}/{VERSION}", {"status": mc["status"]}, "status")]
        mc = ingest(mc, "membercluster")
        mc_objs.append(mc)
        samples["membercluster"].append(mc)
        raw_kubeconfig = rnd.randbytes(5200)  # CA + client cert + key + YAML, ~5 KB
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": server_meta({"name": f"{spec.name}-kubeconfig",
                                           "namespace": "fedctl-system",
                                           "labels": {MANAGED_BY_LABEL: MANAGED_BY}}, ids,
                                          generation=False),
                  "data": {"kubeconfig": base64.b64encode(raw_kubeconfig).decode()}}
        secret = ingest(secret, "secret")
        secrets.append(secret)
        samples["secret"].append(secret)
        members.add_offline(mc, node_refl[spec.name], reflector(f"{spec.name}/pods"), bc.ready,
                            frozenset(installed), {})
        if time.monotonic() > deadline:
            raise Deadline("timeout while building members")
    stage(f"members: {n_nodes} nodes, {n_sys} DaemonSet/add-on pods, MemberClusters, Secrets")

    # policies on the hub (parsed by the real Hub._parsed, cached by generation)
    pol = policy_objects(ids)
    by_plural: dict[str, list[Obj]] = {"propagationpolicies": [], "clusterpropagationpolicies": [],
                                       "overridepolicies": [], "clusteroverridepolicies": []}
    for p in pol:  # PropagationPolicy -> propagationpolicies, ...
        by_plural[p["kind"][:-1].lower() + "ies"].append(ingest(p, "policy"))
    hub._refl = {plural: reflector(f"hub/{plural}", objs) for plural, objs in by_plural.items()}
    hub._refl["memberclusters"] = reflector("hub/memberclusters", mc_objs)
    hub._refl["dep/Secret"] = reflector("hub/Secret", secrets)
    hub._refl["dep/ConfigMap"] = reflector("hub/ConfigMap", [
        ingest({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": server_meta({"name": "kube-root-ca.crt", "namespace": ns}, ids, False),
                "data": {"ca.crt": base64.b64encode(rnd.randbytes(1100)).decode()}}, "cm")
        for ns in NAMESPACES])
    hub._refl["dep/ServiceAccount"] = reflector("hub/ServiceAccount", [
        ingest({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": server_meta({"name": "default", "namespace": ns}, ids, False)}, "sa")
        for ns in NAMESPACES])
    policies = hub.policies()
    overrides = hub.overrides()

    # templates, placement, member copies, workload pods, bindings
    by_name = {bc.name: bc for bc in bench}
    templates: dict[str, list[Obj]] = {k: [] for k in TEMPLATE_KINDS}
    copies: dict[str, dict[tuple[str, str], list[Obj]]] = {bc.name: {} for bc in bench}
    bindings: list[Obj] = []
    keys: list[TemplateKey] = []
    outcomes: dict[TemplateKey, Outcome] = {}
    n_wpods = n_copies = placed = 0
    wrnd = random.Random(args.seed + 10)
    for idx in range(args.workloads):
        w = make_work(idx, wrnd)
        if idx % 500 == 0 and time.monotonic() > deadline:
            raise Deadline("timeout while building workloads")
        wk = TEMPLATE_KINDS[w.kind]
        key = TemplateKey(wk.api_version, w.kind, w.namespace, w.name)
        keys.append(key)
        tmpl = deepcopy(w.template)
        last_applied = json.dumps(w.template, separators=(",", ":"), sort_keys=True)
        meta = server_meta(tmpl["metadata"], ids)
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               "kubectl.kubernetes.io/last-applied-configuration": last_applied}
        meta["finalizers"] = ["fedctl.dev/cleanup"]
        _apiserver_defaults(tmpl)
        policy = select_policy(policies, key.api_version, key.kind, key.name, key.namespace,
                               meta.get("labels") or {})
        assert policy is not None, key
        demand = extract_demand(tmpl, interp)
        # the interpreter's component names (Deployment: "main"), in the same order
        w.comps = [(c.name, n, g, c_m, m_b) for c, (_, n, g, c_m, m_b)
                   in zip(demand.components, w.comps, strict=True)]
        rules = [r for p in select_overrides(overrides, key.api_version, key.kind, key.name,
                                             key.namespace, meta.get("labels") or {})
                 for r in p.spec.override_rules]
        where = place(w, bench, rnd)
        per: dict[str, dict[str, int]] = {}
        for cname, (_p, got) in where.items():
            for comp, _node in got:
                per.setdefault(comp, {}).setdefault(cname, 0)
                per[comp][cname] += 1
        placement = Placement.build(per, tuple(c.name for c in demand.components))
        holds = holds_for(placement, demand, {c: p for c, (p, _) in where.items()})
        cluster_copies: dict[str, Obj] = {}
        for a in placement.assignments:
            rec = members.get(a.cluster)
            assert rec is not None
            target = MemberTarget(a.cluster, rec.labels, rec.spec.get("region", ""),
                                  rec.spec.get("provider", ""), rec.spec.get("zone", ""))
            copy = render(tmpl, target, binding=key.label, interpreters=interp,
                          replicas=dict(a.replicas), rules=rules)
            member_copy = _member_copy(copy, ids)
            cluster_copies[a.cluster] = member_copy
            stored = ingest(member_copy, "copy")
            if w.kind == "Deployment" and objects == "full":
                # list items of built-in kinds carry no kind (the hub's copy caches add it)
                stored.pop("apiVersion", None)
                stored.pop("kind", None)
            copies[a.cluster].setdefault((wk.api_version, w.kind), []).append(stored)
            samples["member copy"].append(stored)
            n_copies += 1
            for pod in _workload_pods(copy, interp, ids, rnd, by_name[a.cluster],
                                      where[a.cluster][1]):
                meta_p = pod["metadata"]
                pod_store[a.cluster][f"{meta_p['namespace']}/{meta_p['name']}"] = ingest(
                    pod, "pod")
                n_wpods += 1
                if n_wpods % 97 == 0:
                    samples["workload pod"].append(pod_store[a.cluster][
                        f"{meta_p['namespace']}/{meta_p['name']}"])
        placed += bool(placement.assignments)
        if cluster_copies:
            tmpl["status"] = interp.aggregate(tmpl, cluster_copies)
        tmpl["metadata"]["managedFields"] = [
            managed("kubectl-client-side-apply", "Update", wk.api_version,
                    {"metadata": {"labels": meta.get("labels") or {}}, "spec": w.template["spec"]}),
            managed("fedctl", "Update", wk.api_version,
                    {"metadata": {"finalizers": {}}}),
            managed("fedctl", "Update", wk.api_version, {"status": tmpl.get("status") or {}},
                    "status")]
        stored_t = ingest(tmpl, "template")
        if w.kind == "Deployment":
            stored_t.pop("apiVersion", None)
            stored_t.pop("kind", None)
        templates[w.kind].append(stored_t)
        samples["template"].append(stored_t)
        binding = _binding(key, tmpl, policy, placement, holds, cluster_copies, interp, ids)
        stored_b = ingest(binding, "binding")
        bindings.append(stored_b)
        samples["binding"].append(stored_b)
        outcomes[key] = Outcome(bool(placement.assignments), placement.clusters,
                                f"placed on {', '.join(placement.clusters)}"
                                if placement.assignments else "0 clusters available")
    for bc in bench:
        rec = members.get(bc.name)
        assert rec is not None
        rec.pods.store = pod_store[bc.name]
        rec.pods.version += 1
        for wk in TEMPLATE_KINDS.values():
            if wk.ident in (rec.installed_kinds or ()):
                rec.copies[(wk.api_version, wk.kind)] = reflector(
                    f"{bc.name}/{wk.kind}", copies[bc.name].get((wk.api_version, wk.kind), []))
    del pod_store, copies, bench, by_name
    hub.templates = {(wk.api_version, wk.kind): reflector(f"hub/{wk.kind}", templates[k])
                     for k, wk in TEMPLATE_KINDS.items()}
    hub._refl[BINDINGS] = reflector(f"hub/{BINDINGS}", bindings)
    del templates, bindings
    hub.outcomes = outcomes
    stage(f"workloads: {len(keys)} templates + bindings, {n_copies} member copies, "
          f"{n_wpods} workload pods")
    hub._seed_ledger()  # the real code path: holds from the bindings' spec.clusters
    enqueue = time.thread_time()
    hub._enqueue_all()  # a resync's queue of every template (priority = select_policy)
    enqueue = time.thread_time() - enqueue
    stage("ledger seeded from bindings, resync queue of every template")
    scheduler = Scheduler(load_egress_matrix())
    held_shapes = [len(ledger.held(n)) for n in members.names()]
    counts = {
        "clusters": args.clusters, "clusters_ready": sum(members.health(n).ready
                                                         for n in members.names()),
        "nodes": n_nodes, "system_pods": n_sys, "workload_pods": n_wpods,
        "templates": len(keys), "placed": placed, "unplaced": len(keys) - placed,
        "member_copies": n_copies, "bindings_holding": len(ledger),
        "held_shapes_per_cluster_mean": round(statistics.fmean(held_shapes), 1),
        "held_shapes_per_cluster_max": max(held_shapes),
        "propagation_policies": len(policies), "override_policies": len(overrides),
        "queue": len(hub.queue), "resync_enqueue_all_cpu_s": round(enqueue, 3),
    }
    est_rnd = random.Random(args.seed + 2)
    totals = {"node": n_nodes, "system pod": n_sys, "workload pod": n_wpods,
              "template": len(keys), "binding": len(keys), "member copy": n_copies,
              "membercluster": args.clusters, "secret": args.clusters}
    sizes = {k: _estimate(v, est_rnd, totals[k]) for k, v in samples.items()}
    del samples
    return State(hub, members, ledger, scheduler, keys, ids, objects, counts, stages, sizes)


def _apiserver_defaults(tmpl: Obj) -> None:
    """Defaults the hub's apiserver fills in on a Deployment template."""
    if tmpl["kind"] != "Deployment":
        return
    spec = tmpl["spec"]
    spec.update({"strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600})
    pod = spec["template"]["spec"]
    pod.update({"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst", "securityContext": {},
                "schedulerName": "default-scheduler"})
    for c in pod["containers"]:
        c.update({"terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"})


def _member_copy(copy: Obj, ids: Ids) -> Obj:
    """``render()`` output as the member's watch returns it: server metadata, fedctl's
    server-side-apply managedFields, and the status its controllers write."""
    obj = deepcopy(copy)
    meta = server_meta(obj["metadata"], ids)
    kind = obj["kind"]
    if kind == "Deployment":
        n = obj["spec"]["replicas"]
        obj["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": n,
                         "readyReplicas": n, "availableReplicas": n, "conditions": [
                             {"type": "Available", "status": "True",
                              "reason": "MinimumReplicasAvailable",
                              "message": "Deployment has minimum availability.",
                              "lastUpdateTime": TS, "lastTransitionTime": TS},
                             {"type": "Progressing", "status": "True",
                              "reason": "NewReplicaSetAvailable",
                              "message": f"ReplicaSet \"{meta['name']}-{ids.suffix(10)}\" has "
                                         "successfully progressed.",
                              "lastUpdateTime": TS, "lastTransitionTime": TS}]}
        status_manager = "kube-controller-manager"
    elif kind == "PyTorchJob":
        specs = obj["spec"]["pytorchReplicaSpecs"]
        obj["status"] = {"startTime": TS, "conditions": [
            {"type": "Created", "status": "True", "reason": "PyTorchJobCreated",
             "message": f"PyTorchJob {meta['name']} is created.", "lastUpdateTime": TS,
             "lastTransitionTime": TS},
            {"type": "Running", "status": "True", "reason": "PyTorchJobRunning",
             "message": f"PyTorchJob {meta['namespace']}/{meta['name']} is running.",
             "lastUpdateTime": TS, "lastTransitionTime": TS}],
            "replicaStatuses": {t: {"active": s["replicas"], "selector": (
                f"training.kubeflow.org/job-name={meta['name']},"
                f"training.kubeflow.org/replica-type={t.lower()}")}
                for t, s in specs.items()}}
        status_manager = "training-operator"
    else:
        n = obj["spec"]["predictor"]["minReplicas"]
        url = f"http://{meta['name']}.{meta['namespace']}.svc.cluster.local"
        obj["status"] = {"observedGeneration": 1, "url": url, "address": {"url": url},
                         "components": {"predictor": {"latestCreatedRevision": "1"}},
                         "modelStatus": {"states": {"activeModelState": "Loaded",
                                                    "targetModelState": "Loaded"},
                                         "transitionStatus": "UpToDate",
                                         "copies": {"totalCopies": n}},
                         "conditions": [{"type": t, "status": "True",
                                         "lastTransitionTime": TS}
                                        for t in ("IngressReady", "PredictorReady", "Ready")]}
        status_manager = "kserve-controller"
    meta["managedFields"] = [
        managed("fedctl", "Apply", obj["apiVersion"], {"metadata": {
            "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}},
            "spec": obj["spec"]}),
        managed(status_manager, "Update", obj["apiVersion"], {"status": obj["status"]},
                "status")]
    return obj


def _workload_pods(copy: Obj, interp: Interpreters, ids: Ids, rnd: random.Random,
                   bc: BenchCluster, nodes: list[tuple[str, BenchNode]]) -> Iterator[Obj]:
    """The pods the member's controllers run for a copy, on the nodes chosen."""
    meta = copy["metadata"]
    name, ns, kind = meta["name"], meta["namespace"], copy["kind"]
    by_comp: dict[str, list[BenchNode]] = {}
    for comp, node in nodes:
        by_comp.setdefault(comp, []).append(node)
    rs_hash = ids.suffix(10)
    for view in interp.components(copy):
        assert view.pod_spec_path is not None
        pod_spec = get_at(copy, view.pod_spec_path) or {}
        if kind == "InferenceService":  # KServe copies spec.<component>.labels to its pods
            labels = dict(pod_spec.get("labels") or {})
        else:
            tmeta = get_at(copy, view.pod_spec_path[:-1]) or {}
            labels = dict((tmeta.get("metadata") or {}).get("labels") or {})
        labels[BINDING_LABEL] = meta["labels"][BINDING_LABEL]
        containers = []
        init: list[Obj] | None = None
        for cpath in view.container_paths:
            c = get_at(copy, cpath) or {}
            if "initContainers" in cpath:
                continue
            containers.append({k: v for k, v in c.items()
                               if k in ("name", "image", "command", "args", "env", "ports",
                                        "resources", "volumeMounts", "readinessProbe")})
        extra: Obj = {}
        if kind == "InferenceService":
            containers = [dict(containers[0], name="kserve-container",
                               image="kserve/huggingfaceserver:v0.14.1")]
            init = [{"name": "storage-initializer", "image": "kserve/storage-initializer:v0.14.1",
                     "args": [str(get_at(copy, ("spec", "predictor", "model", "storageUri"))),
                              "/mnt/models"],
                     "resources": {"requests": {"cpu": "100m", "memory": "100Mi"},
                                   "limits": {"cpu": "1", "memory": "1Gi"}}}]
            labels.update({"serving.kserve.io/inferenceservice": name,
                           "component": "predictor", "pod-template-hash": rs_hash})
            owner = ("apps/v1", "ReplicaSet", f"{name}-predictor-{rs_hash}")
            manager = "kube-controller-manager"
        elif kind == "PyTorchJob":
            labels.update({"training.kubeflow.org/operator-name": "pytorchjob-controller",
                           "training.kubeflow.org/job-name": name,
                           "training.kubeflow.org/replica-type": view.name.lower()})
            owner = ("kubeflow.org/v1", "PyTorchJob", name)
            manager = "training-operator"
            extra = {k: v for k, v in pod_spec.items() if k in ("volumes", "nodeSelector")}
            extra["restartPolicy"] = "OnFailure"
        else:
            labels["pod-template-hash"] = rs_hash
            owner = ("apps/v1", "ReplicaSet", f"{name}-{rs_hash}")
            manager = "kube-controller-manager"
        for i, node in enumerate(by_comp.get(view.name, [])):
            if kind == "PyTorchJob":
                labels["training.kubeflow.org/replica-index"] = str(i)
                pname = f"{name}-{view.name.lower()}-{i}"
            elif kind == "InferenceService":
                pname = f"{name}-predictor-{rs_hash}-{ids.suffix()}"
            else:
                pname = f"{name}-{rs_hash}-{ids.suffix()}"
            yield pod_object(ids, rnd, name=pname, namespace=ns, labels=labels, owner=owner,
                             node=node.name, containers=deepcopy(containers),
                             init=deepcopy(init) if init else None, manager=manager,
                             extra_spec=deepcopy(extra))


def _binding(key: TemplateKey, tmpl: Obj, policy: PropagationPolicy, placement: Placement,
             holds: Mapping[str, Hold], copies: Mapping[str, Obj], interp: Interpreters,
             ids: Ids) -> Obj:
    """A ResourceBinding as ``Reconciler._write_binding`` writes it."""
    api = f"{GROUP}/{VERSION}"
    spec = {"resource": {"apiVersion": key.api_version, "kind": key.kind,
                         "namespace": key.namespace, "name": key.name,
                         "uid": tmpl["metadata"].get("uid")},
            "policy": f"{policy.kind}/{policy.metadata.namespace or ''}/"
                      f"{policy.metadata.name}".replace("//", "/"),
            "clusters": clusters_spec(placement, holds) if placement.assignments else [],
            "clusterNames": cluster_names(placement),
            "dependencies": []}
    ok = bool(placement.assignments)
    msg = (f"placed on {', '.join(placement.clusters)}" if ok
           else "0/0 clusters available: no cluster holds the gang")
    conds = [condition("Scheduled", ok, "Scheduled" if ok else "Unschedulable", msg, TS),
             condition("Applied", True, "Applied",
                       f"applied to {len(placement.assignments)} cluster(s)", TS)]
    health = {c: interp.health(o) for c, o in copies.items()}
    status: Obj = {"conditions": conds,
                   "phase": max(health.values(), key=lambda h: PHASE_ORDER[h.phase]).phase
                   if health else "Pending",
                   "clusters": [{"name": c, "applied": "unchanged", "message": "",
                                 "phase": h.phase, "health": h.message}
                                for c, h in sorted(health.items())]}
    if ok:
        status["hourlyCost"] = round(random.Random(key.name).uniform(0.5, 300), 4)
    meta = server_meta({"name": key.binding_name, "namespace": key.namespace,
                        "labels": {BINDING_LABEL: key.label}}, ids)
    meta["managedFields"] = [managed("fedctl", "Apply", api, {"spec": spec}),
                             managed("fedctl", "Update", api, {"status": status}, "status")]
    return {"apiVersion": api, "kind": "ResourceBinding", "metadata": meta, "spec": spec,
            "status": status}


# ---- the real reconciler, driven in memory ---------------------------------------------------


@dataclass
class Driver:
    """The real ``Reconciler``, built as ``Hub.run`` builds it, with the hub apiserver and
    the members' clients replaced by in-memory ones (``bench/inmemory.py``)."""

    reconciler: Reconciler
    hub_api: InMemoryHub
    appliers: dict[str, InMemoryApplier]
    events: EventLog
    cost: FakeCost
    loop: asyncio.AbstractEventLoop
    hub_keep: Keep

    def reconcile(self, key: TemplateKey) -> Outcome:
        return self.loop.run_until_complete(self.reconciler.reconcile(key))

    def writes(self) -> Counter[str]:
        out: Counter[str] = Counter(self.hub_api.writes)
        for a in self.appliers.values():
            for action, n in a.writes.items():
                out[f"member copy {action}"] += n
        for reason, n in self.events.reasons.items():
            out[f"Event {reason}"] += n
        return out


def keep_for(objects: str, interp: Interpreters, what: str) -> Keep:
    """What a reflector keeps of an object it receives: decoded from its own JSON (a
    watch event), then with ``--objects hub`` the hub's transform (``hub_form``; member
    copies lose their pod specs first, as ``Members._keep_copy``)."""
    def keep(obj: Obj) -> Any:
        out = decode(obj)
        if objects != "hub":
            return out
        if what == "copy":
            out = interp.without_pod_specs(out)
        return hub_form(out, what)
    return keep


def make_driver(st: State) -> Driver:
    hub, members, interp = st.hub, st.members, st.hub.interpreters
    cost = FakeCost()
    kinds = {(wk.api_version, wk.kind): wk for wk in TEMPLATE_KINDS.values()}
    # the copy watches' index (``Members.copies_of``): as the watches' list events fill it
    for name in members.names():
        rec = members.get(name)
        assert rec is not None
        for ident, refl in rec.copies.items():
            changed = members._copy_changed(name, kinds[ident])
            for obj in refl.store.values():
                changed("ADDED", obj)

    def copy_event(event: str, cluster: str, api_version: str, kind: str, obj: Obj) -> None:
        members._copy_changed(cluster, kinds[(api_version, kind)])(event, obj)

    def serve(obj: Obj, before: Obj | None) -> Obj:
        """The applied object as the member returns it (``_member_copy``); an update
        keeps the uid and bumps the generation."""
        out = _member_copy(obj, st.ids)
        if before is not None:
            old = before.get("metadata") or {}
            out["metadata"]["uid"] = old.get("uid")
            out["metadata"]["creationTimestamp"] = old.get("creationTimestamp")
            out["metadata"]["generation"] = int(old.get("generation") or 0) + 1
        return out

    copy_keep = keep_for(st.objects, interp, "copy")
    appliers = {}
    for name in members.names():
        rec = members.get(name)
        assert rec is not None
        appliers[name] = InMemoryApplier(name, rec.copies, serve, copy_keep, copy_event, cost)
    binding_kind = (f"{GROUP}/{VERSION}", "ResourceBinding")
    stores = {k: hub.templates[k] for k in kinds}
    stores[binding_kind] = hub._refl[BINDINGS]
    plurals = {k: wk.plural for k, wk in kinds.items()}
    plurals[binding_kind] = BINDINGS
    hub_keep = keep_for(st.objects, interp, "template")
    hub_api = InMemoryHub(stores, plurals, hub_keep, partial(server_meta, ids=st.ids), cost,
                          status_fields={("apps/v1", "Deployment"): DEPLOYMENT_STATUS})
    directory = Directory(members, appliers)
    events = EventLog(cost)
    cfg = hub.config
    # as Hub.run builds it (record= sends Events there: counted here)
    reconciler = Reconciler(
        hub=hub_api, members=directory, interpreters=interp, scheduler=st.scheduler,
        policies=hub.policies, overrides=hub.overrides, template=hub.template,
        binding=hub.binding, ledger=hub.ledger,
        deps=DependencySync(directory, interp, hub.hub_object),
        evictions=TokenBucket(cfg.eviction_rate, burst=max(1, int(cfg.eviction_rate))),
        on_failover=lambda c: hub.metrics.failovers.labels(cluster=c).inc(),
        on_apply=lambda r: hub.metrics.applies.labels(result=r.action, reason=r.reason).inc(),
        record=events)
    return Driver(reconciler, hub_api, appliers, events, cost, asyncio.new_event_loop(),
                  hub_keep)


def loop_overhead_us(drv: Driver, n: int = 2000) -> float:
    """Thread CPU of one ``run_until_complete`` of a coroutine that does nothing (the
    harness's share of each measured reconcile), microseconds."""
    async def nothing() -> None:
        return None

    c0 = time.thread_time_ns()
    for _ in range(n):
        drv.loop.run_until_complete(nothing())
    return round((time.thread_time_ns() - c0) / n / 1e3, 1)


def settle_sample(drv: Driver, sample: list[TemplateKey], budget_cpu: float
                  ) -> dict[str, Any]:
    """Reconcile each sampled template until a reconcile writes nothing (at most 4
    times): the first reconcile is that of a hub started on this state (it re-applies
    every copy: its applied-digest memory starts empty; a new decision leaves the status
    writes to the next one, ``Outcome.status_due``), the next ones those the copies'
    watch events cause (the copy is "unchanged" now, a status field that says so). Then
    the state is the reconciler's own, so the timed modes measure resyncs."""
    before = drv.writes()
    c0 = time.thread_time()
    runs = settled = rewritten = unschedulable = 0
    for key in sample:
        if time.thread_time() - c0 > budget_cpu:
            break
        for i in range(4):
            w0 = drv.writes()
            out = drv.reconcile(key)
            runs += 1
            rewritten += i == 0 and out.status_due
            if not out.status_due and drv.writes() == w0:
                break
        settled += 1
        unschedulable += out.unschedulable
    return {"templates": settled, "reconciles": runs,
            "cpu_s": round(time.thread_time() - c0, 1),
            "binding_spec_rewritten": rewritten, "unschedulable": unschedulable,
            "writes": dict(sorted((drv.writes() - before).items()))}


@dataclass
class RunStats:
    cpu: list[int] = field(default_factory=list)
    wall: list[int] = field(default_factory=list)
    moved: int = 0
    unschedulable: int = 0
    snapshots_checked: int = 0
    snapshots_equal: bool = True


def fresh_snapshots(members: OfflineMembers, grace: float, holding: frozenset[str],
                    ledger: Ledger, binding: str) -> tuple[ClusterSnapshot, ...]:
    """``Members.snapshots`` with every cache dropped first."""
    for n in members.names():
        rec = members.get(n)
        assert rec is not None
        rec.snapshot_cache = rec.inventory_cache = None
    return members.snapshots(grace, holding, ledger, binding)


def check_snapshots(st: State, key: TemplateKey, stats: RunStats) -> None:
    """The (cached) snapshots a reconcile of ``key`` uses are those built afresh."""
    tmpl = st.hub.template(key)
    assert tmpl is not None
    policy = select_policy(st.hub.policies(), key.api_version, key.kind, key.name,
                           key.namespace, tmpl["metadata"].get("labels") or {})
    assert policy is not None
    previous = placement_of(st.hub.binding(key))
    holding = frozenset(previous.clusters) if previous else frozenset()
    grace = float(policy.spec.failover.cluster_not_ready_seconds)
    snaps = st.members.snapshots(grace, holding, st.ledger, key.label)
    stats.snapshots_checked += 1
    stats.snapshots_equal &= snaps == fresh_snapshots(st.members, grace, holding, st.ledger,
                                                      key.label)


def clear_caches(st: State, mode: str) -> None:
    """An older hub: no snapshot cache (``inventory-cache``), and before c373082 no
    inventory cache either (``rebuild``)."""
    if mode == "hub":
        return
    for n in st.members.names():
        rec = st.members.get(n)
        assert rec is not None
        rec.snapshot_cache = None
        if mode == "rebuild":
            rec.inventory_cache = None


# the real functions whose cumulative time the cProfile share reports (file, function)
PROFILED = {
    "Members.snapshots": ("federation/hub/members.py", "snapshots"),
    "Scheduler.schedule": ("federation/scheduling/runtime.py", "schedule"),
    "extract_demand": ("federation/interpreters/demand.py", "extract_demand"),
    "select_policy/overrides": ("policies/match.py", "select_policy|select_overrides"),
    "render": ("federation/syncer/render.py", "render"),
    "Reconciler._apply": ("federation/hub/reconcile.py", "_apply"),
    "Reconciler._prune": ("federation/hub/reconcile.py", "_prune"),
    "Reconciler._sync_deps": ("federation/hub/reconcile.py", "_sync_deps"),
    "Reconciler._write_binding": ("federation/hub/reconcile.py", "_write_binding"),
    "Reconciler._write_template_status": ("federation/hub/reconcile.py",
                                          "_write_template_status"),
    "in-memory fakes (bench/inmemory.py)": ("bench/inmemory.py", "*"),
}


def profile_shares(drv: Driver, st: State, mode: str, keys: list[TemplateKey]
                   ) -> dict[str, Any]:
    """cProfile of ``keys`` reconciled (untimed): each function of ``PROFILED``'s
    cumulative time as a share of all the profiled time (the shares overlap: ``_apply``
    contains ``render``). The fakes' row is their own time (``tottime``)."""
    prof = cProfile.Profile()
    for key in keys:
        clear_caches(st, mode)
        prof.enable()
        drv.reconcile(key)
        prof.disable()
    raw = cast(dict[tuple[str, int, str], tuple[int, int, float, float, Any]],
               pstats.Stats(prof).stats)  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values()) or 1.0
    out: dict[str, float] = {}
    for label, (path, names) in PROFILED.items():
        wanted = set(names.split("|"))
        ct = sum((tt if names == "*" else ct_)
                 for (fname, _, func), (_, _, tt, ct_, _) in raw.items()
                 if fname.endswith(path) and (names == "*" or func in wanted))
        out[label] = round(100 * ct / total, 1)
    return {"reconciles": len(keys), "cumulative_share_pct": out}


@contextlib.contextmanager
def gc_timer() -> Iterator[dict[str, Any]]:
    """Collections and seconds spent in the cyclic GC meanwhile, per generation."""
    out: dict[str, Any] = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0]}
    started: list[float] = [0.0]

    def cb(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            g = int(info["generation"])
            out["collections"][g] += 1
            out["seconds"][g] += time.perf_counter() - started[0]

    gc.callbacks.append(cb)
    try:
        yield out
    finally:
        gc.callbacks.remove(cb)
        out["seconds"] = [round(s, 3) for s in out["seconds"]]


def _pct(samples_ns: list[int], prefix: str) -> dict[str, float]:
    ms = sorted(x / 1e6 for x in samples_ns)
    if not ms:
        return {}
    return {f"{prefix}p50_ms": round(statistics.median(ms), 2),
            f"{prefix}p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            f"{prefix}max_ms": round(ms[-1], 2), f"{prefix}mean_ms": round(statistics.fmean(ms), 2)}


def run_mode(st: State, drv: Driver, mode: str, sample: list[TemplateKey],
             budget_cpu: float, deadline: float, profile: bool, phases: int) -> dict[str, Any]:
    """``Reconciler.reconcile`` of each sampled template, timed (thread CPU and wall);
    the mode's caches are cleared before each (untimed)."""
    stats = RunStats()
    # warm-up, untimed (fills the caches); compares the snapshots with fresh ones here
    for key in sample[:20]:
        clear_caches(st, mode)
        check_snapshots(st, key, stats)
        clear_caches(st, mode)
        drv.reconcile(key)
    writes0, fakes0, fake_calls0 = drv.writes(), drv.cost.total_ns(), drv.cost.calls.copy()
    prof = cProfile.Profile() if profile else None
    start_cpu = time.thread_time()
    start = time.perf_counter()
    stopped = "sample done"
    with gc_timer() as gcs:
        for key in sample:
            if time.thread_time() - start_cpu > budget_cpu:
                stopped = f"CPU budget of {budget_cpu:.0f} s spent"
                break
            if time.monotonic() > deadline:
                stopped = "run timeout"
                break
            clear_caches(st, mode)
            previous = placement_of(st.hub.binding(key))
            if prof:
                prof.enable()
            w0 = time.perf_counter_ns()
            c0 = time.thread_time_ns()
            out = drv.reconcile(key)
            stats.cpu.append(time.thread_time_ns() - c0)
            stats.wall.append(time.perf_counter_ns() - w0)
            if prof:
                prof.disable()
            stats.unschedulable += out.unschedulable
            stats.moved += set(out.clusters) != set(previous.clusters if previous else ())
    wall = time.perf_counter() - start
    fakes_ns = drv.cost.total_ns() - fakes0
    fake_calls = drv.cost.calls - fake_calls0
    writes = drv.writes() - writes0
    if prof:
        print(f"--- profile: mode {mode}, {st.counts['clusters']} clusters ---", file=sys.stderr)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    n = len(stats.cpu)
    cpu_total = sum(stats.cpu) / 1e9
    mean_cpu = cpu_total / n if n else 0.0
    shares = (profile_shares(drv, st, mode, sample[:phases])
              if phases and time.monotonic() < deadline - 60 else None)
    return {
        "mode": mode, "reconciles": n, "stopped": stopped,
        "reconciles_per_s_cpu": round(n / cpu_total, 2) if cpu_total else None,
        "reconciles_per_s_wall": round(n / wall, 2) if wall else None,
        **_pct(stats.cpu, "cpu_"), **_pct(stats.wall, "wall_"),
        # the in-memory apiserver and members (inside the numbers above)
        "fakes_cpu_ms_mean": round(fakes_ns / 1e6 / max(1, n), 4),
        "fakes_share_pct": round(100 * fakes_ns / 1e9 / cpu_total, 2) if cpu_total else None,
        "fake_calls": dict(sorted(fake_calls.items())),
        "writes": dict(sorted(writes.items())),
        "profile": shares,
        "placement_changed": stats.moved, "unschedulable": stats.unschedulable,
        "snapshots_checked_against_hub": stats.snapshots_checked,
        "snapshots_equal_to_fresh": stats.snapshots_equal if stats.snapshots_checked else None,
        "gc": gcs,
        # a resync enqueues every template every 300 s (HubConfig.resync_seconds)
        "full_resync_cpu_s": round(mean_cpu * len(st.keys), 1),
    }


def snapshot_breakdown(st: State, sample: list[TemplateKey]) -> dict[str, Any]:
    """Where Members.snapshots spends its time (thread CPU ms per reconcile), measured
    member by member so the parts come from the same moments as the whole."""
    members, ledger = st.members, st.ledger
    names = members.names()
    clock = time.thread_time_ns
    acc = dict.fromkeys(("snapshots_rebuild", "snapshots_inventory_cache", "snapshots_hub",
                         "inventory_nodes_and_pods"), 0)
    for key in sample:
        previous = placement_of(st.hub.binding(key))
        holding = frozenset(previous.clusters) if previous else frozenset()
        now = time.monotonic()
        for n in names:
            rec = members.get(n)
            assert rec is not None
            h = n in holding
            rec.inventory_cache = rec.snapshot_cache = None
            t0 = clock()
            members.snapshot(n, 120.0, now, h, ledger, key.label)  # everything rebuilt
            t1 = clock()
            rec.snapshot_cache = None
            t2 = clock()
            members.snapshot(n, 120.0, now, h, ledger, key.label)  # inventory cached
            t3 = clock()
            members.snapshot(n, 120.0, now, h, ledger, key.label)  # snapshot cached
            t4 = clock()
            compute_inventory(rec.nodes.store.values(), rec.pods.store.values(),
                              ledger.holders(n))
            t5 = clock()
            acc["snapshots_rebuild"] += t1 - t0
            acc["snapshots_inventory_cache"] += t3 - t2
            acc["snapshots_hub"] += t4 - t3
            acc["inventory_nodes_and_pods"] += t5 - t4
    k = max(1, len(sample))
    out: dict[str, Any] = {k_: round(v / 1e6 / k, 2) for k_, v in acc.items()}
    out["reconciles_measured"] = len(sample)
    pods = sum(len(r.pods.store) for n in names if (r := members.get(n)) is not None)
    nodes = sum(len(r.nodes.store) for n in names if (r := members.get(n)) is not None)
    out["objects_per_rebuild"] = {"nodes": nodes, "pods": pods}
    return out


# ---- idle hub: templates that stay unschedulable, and the work queue -----------------------


class _VirtualSelector(selectors.SelectSelector):
    """Never waits: the time a select would have waited passes at once. Reports no I/O
    (the simulation does none, not even ``call_soon_threadsafe``)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("virtual-time loop: nothing scheduled and nothing ready")
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer: an hour of the real
    ``WorkQueue`` (timers, bands, the retry limiter on ``loop.time``) in seconds."""

    def __init__(self) -> None:
        self._vsel = _VirtualSelector()
        super().__init__(self._vsel)

    def time(self) -> float:
        return self._vsel.now


IDLE_POLICIES = ("timer-10s", "backoff", "fleet-change")


async def _idle_queue_run(n_keys: int, policy: str, minutes: float, resync_s: float | None,
                          fleet_changes_per_hour: float, workers: int) -> dict[str, Any]:
    """``n_keys`` templates that never become schedulable, in the real ``WorkQueue`` with
    ``workers`` workers whose reconcile takes no time. After each run: ``timer-10s``
    re-adds the key in 10 s (the hub's ``Outcome.requeue`` for an unschedulable template
    until now); ``backoff`` counts a failure (``add_rate_limited``: the default retry
    limiter, on this loop's clock); ``fleet-change`` does nothing, every key is added
    again on a fleet change (``fleet_changes_per_hour``, evenly spaced). All are added
    over the first 10 s (the hub's first pass); ``resync_s``: every key added in the
    RESYNC band that often. Steady: the mean of the second half of the run."""
    loop = asyncio.get_running_loop()
    q: WorkQueue[int] = WorkQueue(limiter=default_retry_limiter(loop.time))
    keys = range(n_keys)
    per_minute = [0] * math.ceil(minutes)
    end = minutes * 60.0

    async def worker() -> None:
        while True:
            key = await q.get()
            per_minute[min(len(per_minute) - 1, int(loop.time() // 60))] += 1
            if policy == "timer-10s":
                q.add_after(key, 10.0)
            elif policy == "backoff":
                q.add_rate_limited(key)
            q.done(key)

    async def every(period: float, band: int) -> None:
        while True:
            await asyncio.sleep(period)
            for k in keys:
                q.add(k, band=band)

    for k in keys:  # spread over the first 10 s (not all templates in lockstep)
        q.add_after(k, 10.0 * k / n_keys)
    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    if resync_s:
        tasks.append(asyncio.create_task(every(resync_s, RESYNC)))
    if policy == "fleet-change" and fleet_changes_per_hour > 0:
        tasks.append(asyncio.create_task(every(3600.0 / fleet_changes_per_hour, CHANGE)))
    await asyncio.sleep(end)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # what a key failing now would wait (the overall bucket's tokens are owed ahead)
    first_retry = q.limiter.when(-1) if policy == "backoff" else None
    q.close()
    half = len(per_minute) // 2
    steady = per_minute[half:]
    return {"reconciles_first_minute": per_minute[0],
            "reconciles_first_10_min": sum(per_minute[:10]),
            "reconciles_per_min_steady": round(statistics.fmean(steady), 1),
            "steady_window_min": [half, len(per_minute)],
            "reconciles_total": sum(per_minute),
            "first_retry_of_a_new_failure_at_end_s": None if first_retry is None else round(
                first_retry, 3)}


def idle_queue_rates(n_keys: int, minutes: float, resync_s: float,
                     fleet_changes_per_hour: float, workers: int) -> dict[str, Any]:
    """Every policy, with the periodic resync and without it, each on a fresh
    virtual-time loop."""
    out: dict[str, Any] = {}
    for policy in IDLE_POLICIES:
        for label, resync in (("with_resync", resync_s), ("queue_only", None)):
            loop = VirtualTimeLoop()
            c0 = time.process_time()
            try:
                res = loop.run_until_complete(_idle_queue_run(
                    n_keys, policy, minutes, resync, fleet_changes_per_hour, workers))
            finally:
                loop.close()
            res["simulation_cpu_s"] = round(time.process_time() - c0, 1)
            out.setdefault(policy, {})[label] = res
    return out


def _inflated(tmpl: Obj, kind: str, factor: int) -> Obj:
    """``tmpl`` asking for ``factor`` times its replicas: more than the fleet holds."""
    out = deepcopy(tmpl)
    spec = out["spec"]
    if kind == "Deployment":
        spec["replicas"] = int(spec.get("replicas") or 1) * factor
    elif kind == "PyTorchJob":
        worker = spec["pytorchReplicaSpecs"]["Worker"]
        worker["replicas"] = int(worker.get("replicas") or 1) * factor
    else:  # InferenceService
        pred = spec["predictor"]
        pred["minReplicas"] = int(pred.get("minReplicas") or 1) * factor
        pred["maxReplicas"] = int(pred.get("maxReplicas") or 1) * factor
    return out


def unschedulable_reconcile_cpu(st: State, drv: Driver, sample: list[TemplateKey],
                                factor: int, budget_cpu: float) -> dict[str, Any]:
    """The CPU of one ``Reconciler.reconcile`` (caches as in mode ``hub``) of a template
    that cannot be placed and never was, as the idle queue runs it again and again: for
    each sampled template a new one (``<name>-idle``) asking for ``factor`` times its
    replicas is added to the hub's store and reconciled until its binding and status
    say it is unschedulable (untimed: its first reconcile writes them), then once more,
    timed. It is removed afterwards (template, binding). Only unschedulable reconciles
    count."""
    hub = st.hub
    bindings = hub._refl[BINDINGS].store
    cpu: list[int] = []
    fakes: list[int] = []
    tried = 0
    writes0 = drv.writes()
    timed_writes: Counter[str] = Counter()
    start_cpu = time.thread_time()
    for key in sample:
        if time.thread_time() - start_cpu > budget_cpu:
            break
        tried += 1
        refl = hub.templates[(key.api_version, key.kind)]
        tmpl = plain(refl.store[f"{key.namespace}/{key.name}"])
        idle = TemplateKey(key.api_version, key.kind, key.namespace, f"{key.name}-idle")
        new = _inflated(tmpl, key.kind, factor)
        new["metadata"].update(name=idle.name, uid=st.ids.uid())
        new.pop("status", None)
        refl.store[f"{idle.namespace}/{idle.name}"] = drv.hub_keep(new)
        refl.version += 1
        try:
            for _ in range(3):  # untimed: the binding and status written
                if not drv.reconcile(idle).status_due:
                    break
            f0, w0 = drv.cost.total_ns(), drv.writes()
            c0 = time.thread_time_ns()
            out = drv.reconcile(idle)
            spent = time.thread_time_ns() - c0
            timed_writes += drv.writes() - w0
            if out.unschedulable:
                cpu.append(spent)
                fakes.append(drv.cost.total_ns() - f0)
        finally:
            refl.store.pop(f"{idle.namespace}/{idle.name}", None)
            bindings.pop(f"{idle.namespace}/{idle.binding_name}", None)
            st.ledger.drop(idle.label)
    n = len(cpu)
    return {"tried": tried, "unschedulable": n,
            "replicas_factor": factor,
            "mean_cpu_ms": round(sum(cpu) / 1e6 / n, 3) if n else None,
            **_pct(cpu, "cpu_"),
            "fakes_cpu_ms_mean": round(sum(fakes) / 1e6 / n, 4) if n else None,
            # the untimed reconciles write the binding and status; the timed ones nothing
            "writes_all": dict(sorted((drv.writes() - writes0).items())),
            "writes_timed": dict(sorted(timed_writes.items()))}


def idle_unschedulable(st: State | None, drv: Driver | None, args: argparse.Namespace,
                       reconcile_ms: float | None) -> dict[str, Any]:
    """``--queue-idle``: the idle hub with ``--workloads`` templates that stay
    unschedulable, the queue alone: reconciles per minute under each retry policy
    (``idle_queue_rates``) times the CPU of one unschedulable reconcile (measured on
    ``st`` when there is one, else ``reconcile_ms``) -> the fraction of a core."""
    measured: dict[str, Any] | None = None
    if st is not None and drv is not None:
        sample = random.Random(args.seed + 5).sample(st.keys, min(args.idle_sample,
                                                                  len(st.keys)))
        for key in sample[:20]:  # warm-up, untimed (as run_mode)
            unschedulable_reconcile_cpu(st, drv, [key], args.idle_factor, 60.0)
        measured = unschedulable_reconcile_cpu(st, drv, sample, args.idle_factor,
                                               args.mode_budget)
        if measured["mean_cpu_ms"] is not None:
            reconcile_ms = measured["mean_cpu_ms"]
    rates = idle_queue_rates(args.workloads, args.idle_minutes, 300.0,
                             args.fleet_changes_per_hour, 16)
    cores: dict[str, Any] = {}
    for policy, runs in rates.items():
        for label, res in runs.items():
            per_min = res["reconciles_per_min_steady"]
            cores.setdefault(policy, {})[label] = {
                "reconciles_per_min": per_min,
                "cores": round(per_min * reconcile_ms / 1e3 / 60, 3)
                if reconcile_ms is not None else None}
    return {
        "templates": args.workloads,
        "policies": {
            "timer-10s": "an unschedulable template re-added 10 s after each reconcile "
                         "(the hub until now)",
            "backoff": "each unschedulable reconcile counted as a failure: "
                       "add_rate_limited (5 ms doubling to 300 s per key, max with 10/s "
                       "burst 100 over all keys)",
            "fleet-change": f"re-added only on a fleet change "
                            f"({args.fleet_changes_per_hour:g}/h assumed)"},
        "resync_seconds": 300.0, "workers": 16, "simulated_minutes": args.idle_minutes,
        "unschedulable_reconcile_cpu": measured,
        "reconcile_cpu_ms_used": reconcile_ms,
        "queue": rates,
        "idle_cpu_steady": cores,
        "cores_note": "steady reconciles/min x CPU per unschedulable reconcile / 60 s; "
                      "the hub reconciles on one thread, so above 1.0 it cannot keep up",
    }


# ---- drivers --------------------------------------------------------------------------------


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.timeout
    gc_thresholds = tune_process_gc()
    load_before = loadavg()
    cpu0 = time.process_time()
    try:
        st = build_state(args, deadline)
    except Deadline as exc:
        return {"clusters": args.clusters, "objects": args.objects, "error": str(exc),
                "memory": proc_mem()}
    build_s = time.monotonic() - started
    build_cpu = time.process_time() - cpu0
    gc.collect()
    mem_built = proc_mem()
    placed = [k for k in st.keys if placement_of(st.hub.binding(k)) is not None]
    sample = random.Random(args.seed + 3).sample(placed, min(args.sample, len(placed)))
    modes = [m for m in args.modes.split(",") if m]
    drv = make_driver(st)
    overhead = loop_overhead_us(drv)
    left = max(0.0, deadline - time.monotonic() - 30)
    first_pass = settle_sample(drv, sample, min(args.mode_budget, left / (len(modes) + 1)))
    sample = sample[:first_pass["templates"]]
    results = []
    for i, mode in enumerate(modes):
        left = max(0.0, deadline - time.monotonic() - 30)
        budget = min(args.mode_budget, left / max(1, len(modes) - i))
        results.append(run_mode(st, drv, mode, sample, budget, deadline, args.profile,
                                args.phases))
    breakdown = snapshot_breakdown(st, sample[:args.breakdown]) if (
        "hub" in modes and time.monotonic() < deadline - 60) else None
    queue_idle = idle_unschedulable(st, drv, args, None) if args.queue_idle else None
    drv.loop.close()
    gc.collect()
    return {
        "queue_idle": queue_idle,
        "clusters": args.clusters, "workloads": args.workloads, "objects": args.objects,
        "system_pods_per_node": args.system_pods_per_node, "node_images": args.node_images,
        "seed": args.seed, "gc_thresholds": list(gc_thresholds),
        "load_avg_before": load_before, "load_avg_after": loadavg(),
        "build_wall_s": round(build_s, 1), "build_cpu_s": round(build_cpu, 1),
        "counts": st.counts,
        "memory": {
            "rss_after_build_mib": mem_built["vmrss_mib"],
            "hwm_after_build_mib": mem_built["vmhwm_mib"],
            "after_reconciles": proc_mem(),
            "includes": "this whole process after gc.collect(): interpreter and imports "
                        "(baseline stage), every reflector store (nodes, pods, member "
                        "copies, templates, bindings, policies, MemberClusters, Secrets), "
                        "Members/Hub/Ledger/queue/outcomes/applied digests; not: API "
                        "clients, TLS contexts, sockets and reflector tasks per member",
            "stages": st.stages,
            "deep_size_estimates": st.sizes,
        },
        "reconcile_sample": len(sample),
        "reconciler": "federation.hub.reconcile.Reconciler (real), in-memory hub apiserver "
                      "and members (bench/inmemory.py)",
        "event_loop_overhead_us_per_reconcile": overhead,
        "first_pass": first_pass,
        "reconcile": results,
        "snapshot_breakdown_ms_per_reconcile": breakdown,
        "wall_s": round(time.monotonic() - started, 1),
    }


# (flag, type, default, help) of the --queue-idle run's options
QUEUE_IDLE_OPTIONS: tuple[tuple[str, type[float] | type[int], float | None, str], ...] = (
    ("--queue-idle-ms", float, None,
     "--queue-idle without building a fleet: this CPU (ms) per unschedulable reconcile"),
    ("--idle-sample", int, 500,
     "templates made unschedulable and reconciled (--queue-idle)"),
    ("--idle-factor", int, 10_000_000,
     "replicas multiplied by this to make a template unschedulable"),
    ("--idle-minutes", float, 60.0, "virtual minutes of queue simulated per policy"),
    ("--fleet-changes-per-hour", float, 6.0,
     "fleet changes (each re-adds every unschedulable template) for the fleet-change policy"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", default="100,1000",
                        help="comma-separated member counts; several run one subprocess each")
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--objects", default="hub",
                        help="hub (what the hub's reflector transforms keep) or full (as "
                             "the apiserver sends them); comma-separated for both")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"reconcile modes to time, of {', '.join(MODES)}")
    parser.add_argument("--sample", type=int, default=2000,
                        help="workloads reconciled per mode (random, placed ones)")
    parser.add_argument("--mode-budget", type=float, default=90.0,
                        help="CPU seconds per mode; the sample is cut when spent")
    parser.add_argument("--breakdown", type=int, default=10,
                        help="reconciles for the snapshot-cost breakdown (hub mode)")
    parser.add_argument("--phases", type=int, default=50,
                        help="reconciles profiled (cProfile, untimed) per mode for the "
                             "share of the reconciler's main functions; 0: none")
    parser.add_argument("--system-pods-per-node", type=int, default=4,
                        help="DaemonSet pods per node (of kube-proxy, cilium, node-exporter, "
                             "NVIDIA device plugin, GFD, DCGM exporter, fluent-bit)")
    parser.add_argument("--node-images", type=int, default=8,
                        help="entries in each node's status.images")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="wall seconds for the whole run (all subprocesses)")
    parser.add_argument("--profile", action="store_true", help="cProfile per mode to stderr")
    parser.add_argument("--queue-idle", action="store_true",
                        help="also: the idle hub's queue with --workloads templates that "
                             "stay unschedulable (reconciles/min per retry policy, CPU of an "
                             "unschedulable reconcile, fraction of a core)")
    idle = parser.add_argument_group("the --queue-idle run")
    for flag, kind, default, text in QUEUE_IDLE_OPTIONS:
        idle.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.queue_idle_ms is not None:
        print(json.dumps({"benchmark": "hub_scale", "machine": machine(),
                          "load_avg_start": loadavg(), "date": _utc_now(),
                          "queue_idle": idle_unschedulable(None, None, args,
                                                          args.queue_idle_ms),
                          "load_avg_end": loadavg()}, indent=2))
        return 0
    for m in args.modes.split(","):
        if m and m not in MODES:
            parser.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    configs = [(int(c), o) for o in args.objects.split(",") for c in args.clusters.split(",")]
    started = time.monotonic()
    if len(configs) == 1 or args.single:
        args.clusters, args.objects = configs[0]
        # a hard stop in case a phase overruns its cooperative deadline
        signal.alarm(int(args.timeout) + 120)
        result = run_one(args)
        if args.single:
            print(json.dumps(result))
            return 0 if "error" not in result else 2
        runs = [result]
    else:
        runs = []
        for i, (clusters, objects) in enumerate(configs):
            left = args.timeout - (time.monotonic() - started)
            if left < 60:
                runs.append({"clusters": clusters, "objects": objects,
                             "error": "not run: --timeout spent"})
                continue
            share = left / (len(configs) - i) if i < len(configs) - 1 else left
            cmd = [sys.executable, str(Path(__file__).resolve()), "--single",
                   "--clusters", str(clusters), "--objects", objects,
                   "--workloads", str(args.workloads), "--modes", args.modes,
                   "--sample", str(args.sample), "--mode-budget", str(args.mode_budget),
                   "--breakdown", str(args.breakdown), "--phases", str(args.phases),
                   "--system-pods-per-node", str(args.system_pods_per_node),
                   "--node-images", str(args.node_images), "--seed", str(args.seed),
                   "--timeout", str(int(share))]
            if args.profile:
                cmd.append("--profile")
            if args.queue_idle:
                cmd += ["--queue-idle", "--idle-sample", str(args.idle_sample),
                        "--idle-factor", str(args.idle_factor),
                        "--idle-minutes", str(args.idle_minutes),
                        "--fleet-changes-per-hour", str(args.fleet_changes_per_hour)]
            t0 = time.monotonic()
            try:
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                                      timeout=share + 180)
                out = proc.stdout.strip().splitlines()
                run = json.loads(out[-1]) if out else {"error": f"exit {proc.returncode}"}
            except subprocess.TimeoutExpired:
                run = {"clusters": clusters, "objects": objects, "error": "killed at timeout"}
            except json.JSONDecodeError as exc:
                run = {"clusters": clusters, "objects": objects, "error": f"bad output: {exc}"}
            run["subprocess_wall_s"] = round(time.monotonic() - t0, 1)
            runs.append(run)
    print(json.dumps({
        "benchmark": "hub_scale",
        "machine": machine(),
        "date": _utc_now(),
        "load_avg_start": runs[0].get("load_avg_before") if runs else None,
        "load_avg_end": loadavg(),
        "parameters": {"workloads": args.workloads, "modes": args.modes,
                       "sample": args.sample, "mode_budget_cpu_s": args.mode_budget,
                       "system_pods_per_node": args.system_pods_per_node,
                       "node_images": args.node_images, "seed": args.seed,
                       "timeout_s": args.timeout},
        "goal": "hub RSS <= 300 MB at 100 clusters x 10,000 workloads",
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }, indent=2))
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
