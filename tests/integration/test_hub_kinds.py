"""Every AI kind through the hub, on the members' real CRDs.

One upstream-style example of each kind (small versions of the kubeflow, kserve, jobset,
kuberay and volcano samples) is created on the hub with a PropagationPolicy, all at once,
and waited on together by one hub: placed on its member, accepted by that member's real
schema (the copy exists, ``Applied=True``), the status the operator simulator writes there
aggregated into the hub template's own fields, read with ``kubectl get <kind> NAME -o
json`` against the hub, and, once the templates are deleted on the hub, the member copies
and the bindings gone. member1 serves MPIJob ``kubeflow.org/v1`` (the training operator's),
member2 ``kubeflow.org/v2beta1`` (the MPI operator's).

A GPU PyTorchJob restricted to L4 GPUs is placed on member2 (one A100 node of 4 GPUs, two
L4 nodes of 2): the binding holds L4s, the member copy's pod templates get a required
``nvidia.com/gpu.product`` node affinity for them, and its pods run on the L4 nodes
(unpinned, kube-scheduler would prefer the bigger A100 node).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import api_client
from federation.dev import build as devbuild
from federation.dev.localfleet import FleetState
from federation.hub.bindings import TemplateKey
from federation.syncer.gpu_pin import PRODUCT_LABEL, label_value

from .hubkit import binding, create_policy, namespace, policy, running_hub

IMAGE = "registry.example/train:1"
SMALL = {"requests": {"cpu": "100m", "memory": "128Mi"}}
SETTLE_SECONDS = 180.0
GONE_SECONDS = 60.0
BINDING_LABEL = "fedctl.dev/binding"
GPU_PRODUCT = "L4-24GB"

Status = dict[str, Any]


def container(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sleep", "1"], "resources": SMALL,
            **extra}


def template(name: str, **spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [container(name)], **spec}}


def replica(name: str, replicas: int = 1, restart: str = "OnFailure") -> dict[str, Any]:
    return {"replicas": replicas, "restartPolicy": restart, "template": template(name)}


def conds(st: Status) -> dict[str, str]:
    return {c.get("type", ""): c.get("status", "") for c in st.get("conditions") or []}


def active(st: Status, *types: str) -> bool:
    rs = st.get("replicaStatuses") or {}
    return all((rs.get(t) or {}).get("active") == 1 for t in types)


def job_counts(entries: Any, name: str) -> dict[str, Any]:
    return next((e for e in entries or [] if e.get("name") == name), {})


@dataclass(frozen=True)
class Case:
    id: str
    api_version: str
    kind: str
    resource: str  # for kubectl: plural.version.group
    member: str
    app: str  # the label its policy selects
    spec: dict[str, Any]
    settled: Callable[[Status], bool]  # the hub template's status, in the kind's fields
    fields: frozenset[str] = field(default_factory=frozenset)  # status keys it must have

    @property
    def name(self) -> str:
        return self.id

    def binding(self, ns: str) -> str:
        return TemplateKey(self.api_version, self.kind, ns, self.name).binding_name

    @property
    def gvp(self) -> tuple[str, str, str]:
        plural, version, group = self.resource.split(".", 2)
        return group, version, plural

    def body(self, ns: str) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind,
                "metadata": {"name": self.name, "namespace": ns,
                             "labels": {"app": self.app}},
                "spec": self.spec}


def mpi(extra: dict[str, Any]) -> dict[str, Any]:
    return {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiReplicaSpecs": {"Launcher": replica("mpi-launcher"),
                                "Worker": replica("mpi-worker", 2, "Never")}, **extra}


def mpi_done(st: Status) -> bool:
    return (conds(st).get("Succeeded") == "True"
            and (st.get("replicaStatuses") or {}).get("Launcher", {}).get("succeeded") == 1)


def ray_cluster() -> dict[str, Any]:
    return {"rayVersion": "2.46.0",
            "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0"},
                              "template": template("ray-head")},
            "workerGroupSpecs": [{"groupName": "small", "replicas": 1, "minReplicas": 1,
                                  "maxReplicas": 2, "rayStartParams": {},
                                  "template": template("ray-worker")}]}


def gpu_pytorch() -> dict[str, Any]:
    tmpl = {"spec": {"containers": [container(
        "pytorch", resources={"requests": {"cpu": "100m"},
                              "limits": {"nvidia.com/gpu": "1"}})]}}
    return {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": tmpl},
                                    "Worker": {"replicas": 1, "template": tmpl}}}


KF = frozenset({"conditions", "replicaStatuses", "startTime"})
CASES = (
    Case("pt", "kubeflow.org/v1", "PyTorchJob", "pytorchjobs.v1.kubeflow.org", "member1",
         "kinds", {"runPolicy": {"cleanPodPolicy": "None"},
                   "pytorchReplicaSpecs": {"Master": replica("pytorch"),
                                           "Worker": replica("pytorch")}},
         lambda st: conds(st).get("Running") == "True" and active(st, "Master", "Worker"),
         KF),
    Case("tf", "kubeflow.org/v1", "TFJob", "tfjobs.v1.kubeflow.org", "member1", "kinds",
         {"tfReplicaSpecs": {"PS": replica("tensorflow", restart="Never"),
                             "Worker": replica("tensorflow", restart="Never")}},
         lambda st: conds(st).get("Running") == "True" and active(st, "PS", "Worker"), KF),
    Case("mpi-v1", "kubeflow.org/v1", "MPIJob", "mpijobs.v1.kubeflow.org", "member1",
         "kinds", mpi({}), mpi_done, KF | {"completionTime"}),
    Case("mpi-v2", "kubeflow.org/v2beta1", "MPIJob", "mpijobs.v2beta1.kubeflow.org",
         "member2", "mpi2",
         mpi({"mpiImplementation": "OpenMPI", "sshAuthMountPath": "/root/.ssh"}),
         mpi_done, KF | {"completionTime"}),
    Case("train", "trainer.kubeflow.org/v1alpha1", "TrainJob",
         "trainjobs.v1alpha1.trainer.kubeflow.org", "member1", "kinds",
         {"runtimeRef": {"name": "torch-distributed"},
          "trainer": {"numNodes": 2, "image": IMAGE, "command": ["torchrun", "train.py"],
                      "resourcesPerNode": SMALL}},
         lambda st: conds(st).get("Complete") == "True"
         and job_counts(st.get("jobsStatus"), "node").get("succeeded") == 1,
         frozenset({"conditions", "jobsStatus"})),
    Case("js", "jobset.x-k8s.io/v1alpha2", "JobSet", "jobsets.v1alpha2.jobset.x-k8s.io",
         "member1", "kinds",
         {"replicatedJobs": [{"name": "workers", "replicas": 2, "template": {"spec": {
             "parallelism": 1, "completions": 1, "backoffLimit": 0,
             "template": template("worker", restartPolicy="Never")}}}]},
         lambda st: st.get("terminalState") == "Completed"
         and conds(st).get("Completed") == "True"
         and job_counts(st.get("replicatedJobsStatus"), "workers").get("succeeded") == 2,
         frozenset({"conditions", "replicatedJobsStatus", "terminalState"})),
    Case("vc", "batch.volcano.sh/v1alpha1", "Job", "jobs.v1alpha1.batch.volcano.sh",
         "member1", "kinds",
         {"schedulerName": "volcano", "minAvailable": 2,
          "policies": [{"event": "PodEvicted", "action": "RestartJob"}],
          "plugins": {"ssh": [], "svc": [], "env": []},
          "tasks": [{"name": "worker", "replicas": 2,
                     "template": template("worker", restartPolicy="Never")}]},
         lambda st: (st.get("state") or {}).get("phase") == "Completed"
         and st.get("succeeded") == 2,
         frozenset({"state", "succeeded", "taskStatusCount"})),
    Case("ray", "ray.io/v1", "RayJob", "rayjobs.v1.ray.io", "member1", "kinds",
         {"entrypoint": "python /home/ray/samples/sample.py",
          "shutdownAfterJobFinishes": False, "rayClusterSpec": ray_cluster()},
         lambda st: st.get("jobDeploymentStatus") == "Complete"
         and st.get("jobStatus") == "SUCCEEDED",
         frozenset({"jobStatus", "jobDeploymentStatus", "jobId", "rayClusterName",
                    "startTime", "succeeded"})),
    Case("isvc", "serving.kserve.io/v1beta1", "InferenceService",
         "inferenceservices.v1beta1.serving.kserve.io", "member1", "kinds",
         {"predictor": {"minReplicas": 1, "model": {
             "modelFormat": {"name": "sklearn"},
             "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
             "resources": SMALL}}},
         lambda st: conds(st).get("Ready") == "True"
         and str(st.get("url", "")).startswith("http://"),
         frozenset({"conditions", "url", "address"})),
    Case("gpu-pt", "kubeflow.org/v1", "PyTorchJob", "pytorchjobs.v1.kubeflow.org",
         "member2", "gpu", gpu_pytorch(),
         lambda st: conds(st).get("Running") == "True" and active(st, "Master", "Worker"),
         KF),
)
KINDS = tuple(dict.fromkeys((c.api_version, c.kind) for c in CASES if c.app == "kinds"))


@dataclass
class Seen:
    """What the scenario observed of one case."""

    binding_name: str = ""
    hub: dict[str, Any] | None = None  # `kubectl get -o json` of the hub template
    kubectl_error: str = ""
    binding: dict[str, Any] | None = None
    applied: bool = False  # Applied=True seen on the binding
    copy: dict[str, Any] | None = None  # the member's copy
    copy_gone: bool = False
    binding_gone: bool = False
    pods: dict[str, str] = field(default_factory=dict)  # pod -> its node's GPU product


def kubectl_get(state: FleetState, case: Case, ns: str) -> tuple[dict[str, Any] | None, str]:
    kubectl = devbuild.component_dir(devbuild.COMPONENTS["kubernetes"]) / "kubectl"
    out = subprocess.run(
        [str(kubectl), "--kubeconfig", str(state.kubeconfig), "--context", "hub",
         "get", case.resource, case.name, "-n", ns, "-o", "json"],
        capture_output=True, text=True, timeout=30, check=False)
    if out.returncode:
        return None, out.stderr.strip()
    return json.loads(out.stdout), ""


async def member_copy(api: Any, case: Case, ns: str) -> dict[str, Any] | None:
    try:
        group, version, plural = case.gvp
        got: dict[str, Any] = await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            group, version, ns, plural, case.name)
        return got
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def applied(b: dict[str, Any] | None, status: str = "True") -> bool:
    return any(c.get("type") == "Applied" and c.get("status") == status
               for c in ((b or {}).get("status") or {}).get("conditions") or [])


def accepted(s: Seen) -> bool:
    """Applied=True seen; or, for a job that finished before it was seen (the finished
    binding may carry only Scheduled=Finished), finished on the member: it was applied."""
    finished = ((s.binding or {}).get("spec") or {}).get("finished") == "Succeeded"
    return s.applied or finished


async def gpu_pods(api: Any, ns: str, job: str) -> dict[str, str]:
    core = k8s.CoreV1Api(api)
    pods = (await core.list_namespaced_pod(
        ns, label_selector=f"training.kubeflow.org/job-name={job}")).items
    out: dict[str, str] = {}
    for pod in pods:
        if pod.metadata.deletion_timestamp is None and pod.spec.node_name:
            node = await core.read_node(pod.spec.node_name)
            out[pod.metadata.name] = node.metadata.labels.get(PRODUCT_LABEL, "")
    return out


async def scenario(state: FleetState, tmp_path: Path) -> dict[str, Seen]:
    apis = {c.name: await api_client(state.kubeconfig, c.context) for c in state.clusters}
    seen = {c.id: Seen() for c in CASES}
    try:
        hub_api = apis["hub"]
        hub_custom = k8s.CustomObjectsApi(hub_api)
        async with running_hub(state, tmp_path):
            ns = await namespace(hub_api)
            for app, member, kinds, extra in (
                    ("kinds", "member1", KINDS, {}),
                    ("mpi2", "member2", (("kubeflow.org/v2beta1", "MPIJob"),), {}),
                    ("gpu", "member2", (("kubeflow.org/v1", "PyTorchJob"),),
                     {"gpu": {"products": [GPU_PRODUCT]}})):
                await create_policy(hub_api, policy(
                    ns, app, {"clusterAffinity": {"clusterNames": [member]}, **extra},
                    kinds=kinds))
            await asyncio.sleep(1)  # the hub has seen the policies
            for case in CASES:
                group, version, plural = case.gvp
                await hub_custom.create_namespaced_custom_object(group, version, ns, plural,
                                                                 case.body(ns))

            async def observe(case: Case) -> bool:
                s = seen[case.id]
                s.binding_name = case.binding(ns)
                s.binding = await binding(hub_api, ns, s.binding_name)
                s.applied = s.applied or applied(s.binding)
                s.copy = await member_copy(apis[case.member], case, ns)
                s.hub, s.kubectl_error = await asyncio.to_thread(kubectl_get, state, case,
                                                                 ns)
                if case.id == "gpu-pt":
                    s.pods = await gpu_pods(apis[case.member], ns, case.name)
                return (accepted(s) and s.copy is not None and s.hub is not None
                        and case.settled(s.hub.get("status") or {})
                        and (case.id != "gpu-pt" or len(s.pods) == 2))

            deadline = time.monotonic() + SETTLE_SECONDS
            waiting = list(CASES)
            while waiting and time.monotonic() < deadline:
                done = await asyncio.gather(*(observe(c) for c in waiting),
                                            return_exceptions=True)
                waiting = [c for c, d in zip(waiting, done, strict=True) if d is not True]
                await asyncio.sleep(1)

            for case in CASES:
                group, version, plural = case.gvp
                await hub_custom.delete_namespaced_custom_object(group, version, ns, plural,
                                                                 case.name)

            async def gone(case: Case) -> bool:
                s = seen[case.id]
                s.copy_gone = await member_copy(apis[case.member], case, ns) is None
                s.binding_gone = await binding(hub_api, ns, case.binding(ns)) is None
                return s.copy_gone and s.binding_gone

            deadline = time.monotonic() + GONE_SECONDS
            waiting = list(CASES)
            while waiting and time.monotonic() < deadline:
                done = await asyncio.gather(*(gone(c) for c in waiting),
                                            return_exceptions=True)
                waiting = [c for c, d in zip(waiting, done, strict=True) if d is not True]
                await asyncio.sleep(1)
        return seen
    finally:
        for api in apis.values():
            await api.close()


@pytest.fixture(scope="module")
def seen(joined: FleetState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seen]:
    return asyncio.run(scenario(joined, tmp_path_factory.mktemp("hub-kinds")))


def _summary(s: Seen) -> str:
    st = (s.binding or {}).get("status") or {}
    return (f"binding conditions={st.get('conditions')} clusters="
            f"{((s.binding or {}).get('spec') or {}).get('clusters')}; "
            f"copy={'yes' if s.copy else 'no'}; kubectl={s.kubectl_error or 'ok'}; "
            f"hub status={(s.hub or {}).get('status')}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_placed_accepted_and_status_on_the_hub(seen: dict[str, Seen], case: Case) -> None:
    s = seen[case.id]
    assert s.binding is not None, f"no binding {s.binding_name}"
    assert [c["name"] for c in s.binding["spec"].get("clusters") or []] == [case.member], \
        _summary(s)
    # the member's real schema accepted the copy
    assert not applied(s.binding, "False"), _summary(s)
    assert accepted(s), _summary(s)
    assert s.copy is not None, _summary(s)
    assert s.copy["metadata"]["labels"][BINDING_LABEL].endswith(f".{s.binding_name}")
    assert s.copy["apiVersion"] == case.api_version
    # the hub template, read as a user would, shows the kind's own status fields
    assert s.hub is not None, s.kubectl_error
    status = s.hub.get("status") or {}
    assert case.settled(status), _summary(s)
    assert case.fields <= set(status), (sorted(case.fields - set(status)), status)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_deleted_on_the_hub_removes_copy_and_binding(seen: dict[str, Seen],
                                                     case: Case) -> None:
    s = seen[case.id]
    assert s.copy_gone, f"{case.member} still has {case.kind} {case.name}"
    assert s.binding_gone, f"binding {s.binding_name} still exists"


def test_gpu_copy_pinned_to_the_product_the_hub_chose(seen: dict[str, Seen]) -> None:
    s = seen["gpu-pt"]
    assert s.binding is not None and s.copy is not None, _summary(s)
    (cluster,) = s.binding["spec"]["clusters"]
    assert {h["product"] for h in cluster["hold"]} == {GPU_PRODUCT}, cluster
    want = [{"matchExpressions": [{"key": PRODUCT_LABEL, "operator": "In",
                                   "values": [label_value(GPU_PRODUCT)]}]}]
    for rtype in ("Master", "Worker"):
        pod_spec = s.copy["spec"]["pytorchReplicaSpecs"][rtype]["template"]["spec"]
        terms = pod_spec["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == want, (rtype, pod_spec)
    # kube-scheduler on member2 bound both pods to L4 nodes (not the free A100 node)
    assert sorted(s.pods.values()) == [label_value(GPU_PRODUCT)] * 2, s.pods
