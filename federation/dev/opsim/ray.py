"""KubeRay: RayCluster, RayJob and RayService (``ray.io/v1``).

RayCluster: a head pod ``<cluster>-head-<xxxxx>`` and per worker group ``replicas`` pods
``<cluster>-<group>-worker-<xxxxx>`` (KubeRay's random suffixes, made stable here so a
restart converges), labelled ``ray.io/cluster|node-type|group|identifier``, plus the head
Service ``<cluster>-head-svc``. Status ``state: ready`` once every pod is Running and
Ready, ready/available/desired worker counts, ``desiredGPU``, head and endpoints, and the
``HeadPodReady``/``RayClusterProvisioned`` conditions. ``suspend: true`` removes the pods.

RayJob: a RayCluster ``<job>-<xxxxx>`` from ``rayClusterSpec``; once it is ready, the
submitter batch Job ``<job>`` (``ray job submit``), which kwok completes. Status:
``jobDeploymentStatus`` Initializing → Running → Complete/Failed and ``jobStatus`` PENDING →
RUNNING → SUCCEEDED/FAILED follow the submitter Job; ``shutdownAfterJobFinishes`` deletes
the cluster ``ttlSecondsAfterFinished`` after the end.

RayService: a RayCluster ``<service>-raycluster-<xxxxx>`` from ``rayClusterConfig`` and the
serve Service ``<service>-serve-svc``; ``Ready`` and ``serviceStatus: Running`` once the
cluster is ready.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from federation.dev.opsim.common import (
    JOB,
    POD,
    SERVICE,
    Context,
    Obj,
    Observed,
    Plan,
    Result,
    child_meta,
    condition_true,
    for_kube_scheduler,
    job_finished,
    labels_of,
    meta,
    name_of,
    namespace_of,
    plan_children,
    pod_phase,
    pod_ready,
    pod_template,
    set_condition,
    suffix,
    template_annotations,
    template_labels,
)
from federation.interpreters.paths import get_at
from federation.model.quantity import QuantityError, cpu_millis

RAY_CLUSTER = "ray.io/RayCluster"
CLUSTER_LABEL = "ray.io/cluster"
NODE_TYPE_LABEL = "ray.io/node-type"
GROUP_LABEL = "ray.io/group"
IDENTIFIER_LABEL = "ray.io/identifier"
ENDPOINTS = {"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"}


# ---- RayCluster --------------------------------------------------------------------------
def head_service_name(cluster: str) -> str:
    return f"{cluster}-head-svc"


def cluster_pods(obj: Obj, ctx: Context) -> list[Obj]:
    cluster, uid = name_of(obj), str(meta(obj).get("uid") or "")
    if (obj.get("spec") or {}).get("suspend"):
        return []
    out = []
    for view in ctx.interpreters.components(obj):
        found = pod_template(obj, view)
        if found is None:
            continue
        tmeta, spec = found
        head = view.name == "head" and view.replicas_path is None
        group = "headgroup" if head else view.name
        count = 1 if head else max(0, view.replicas)
        for i in range(count):
            tag = suffix(uid, group, str(i))
            name = f"{cluster}-head-{tag}" if head else f"{cluster}-{group}-worker-{tag}"
            labels = {**template_labels(tmeta), CLUSTER_LABEL: cluster,
                      NODE_TYPE_LABEL: "head" if head else "worker", GROUP_LABEL: group,
                      IDENTIFIER_LABEL: f"{cluster}-{'head' if head else 'worker'}",
                      "ray.io/is-ray-node": "yes", "app.kubernetes.io/name": "kuberay",
                      "app.kubernetes.io/created-by": "kuberay-operator"}
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": child_meta(obj, name, labels, template_annotations(tmeta)),
                        "spec": for_kube_scheduler(copy.deepcopy(spec))})
    return out


def _head_service(obj: Obj) -> Obj:
    cluster = name_of(obj)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": child_meta(obj, head_service_name(cluster),
                                   {CLUSTER_LABEL: cluster, NODE_TYPE_LABEL: "head"}),
            "spec": {"selector": {CLUSTER_LABEL: cluster, NODE_TYPE_LABEL: "head"},
                     "ports": [{"name": n, "port": int(p), "targetPort": int(p),
                                "protocol": "TCP"} for n, p in ENDPOINTS.items()]}}


def reconcile_cluster(obj: Obj, observed: Observed, ctx: Context) -> Result:
    pods = cluster_pods(obj, ctx)
    plan = plan_children([*pods, _head_service(obj)], observed, prune=(POD,))
    return Result(plan, cluster_status(obj, observed, ctx, pods))


def cluster_status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Obj]) -> Obj:
    old: Obj = obj.get("status") or {}
    have = {name_of(p): p for p in observed.of(POD)}
    heads = [p for p in wanted if labels_of(p)[NODE_TYPE_LABEL] == "head"]
    workers = [p for p in wanted if labels_of(p)[NODE_TYPE_LABEL] == "worker"]
    head = have.get(name_of(heads[0])) if heads else None
    ready_workers = sum(1 for w in workers if pod_ready(have.get(name_of(w)) or {}))
    running_workers = sum(1 for w in workers
                          if pod_phase(have.get(name_of(w)) or {}) == "Running")
    head_ready = head is not None and pod_ready(head)
    all_ready = head_ready and ready_workers == len(workers)
    groups = [g for g in (obj.get("spec") or {}).get("workerGroupSpecs") or []
              if isinstance(g, dict)]
    out: Obj = {
        "readyWorkerReplicas": ready_workers,
        "availableWorkerReplicas": running_workers,
        "desiredWorkerReplicas": len(workers),
        "minWorkerReplicas": sum(int(g.get("minReplicas") or 0) for g in groups),
        "maxWorkerReplicas": sum(int(g.get("maxReplicas") or g.get("replicas") or 0)
                                 for g in groups),
        "desiredGPU": str(_gpus(wanted)),
        "endpoints": dict(ENDPOINTS),
        "head": {"serviceName": head_service_name(name_of(obj))},
        "observedGeneration": int(meta(obj).get("generation") or 0),
    }
    if head is not None:
        out["head"]["podName"] = name_of(head)
        ip = (head.get("status") or {}).get("podIP")
        if ip:
            out["head"]["podIP"] = ip
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    if suspended:
        out["state"] = "suspended"
    elif all_ready or old.get("state") == "ready":
        out["state"] = "ready"  # KubeRay keeps "ready" once reached
    conds = set_condition(old.get("conditions") or [], "HeadPodReady",
                          "True" if head_ready else "False",
                          "HeadPodRunningAndReady" if head_ready else "HeadPodNotFound"
                          if head is None else "HeadPodNotReady", "", ctx.now)
    if all_ready or condition_true(old, "RayClusterProvisioned"):
        conds = set_condition(conds, "RayClusterProvisioned", "True",
                              "AllPodRunningAndReadyFirstTime",
                              "All Ray Pods are ready for the first time", ctx.now)
    else:
        conds = set_condition(conds, "RayClusterProvisioned", "False",
                              "RayClusterPodsProvisioning", "RayCluster Pods are being "
                              "provisioned for first time", ctx.now)
    out["conditions"] = conds
    return out


def _gpus(pods: list[Obj]) -> int:
    total = 0
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            res = c.get("resources") or {}
            raw = (res.get("limits") or {}).get("nvidia.com/gpu") or (
                res.get("requests") or {}).get("nvidia.com/gpu")
            if raw is not None:
                try:
                    total += cpu_millis(raw) // 1000
                except QuantityError:
                    continue
    return total


# ---- RayJob and RayService: a RayCluster child -------------------------------------------
def _child_cluster(obj: Obj, name: str, spec: Any, crd: str) -> Obj:
    labels = {**labels_of(obj), "ray.io/originated-from-cr-name": name_of(obj),
              "ray.io/originated-from-crd": crd}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": child_meta(obj, name, labels),
            "spec": copy.deepcopy(spec) if isinstance(spec, dict) else {}}


def _cluster_ready(cluster: Obj | None) -> bool:
    return cluster is not None and (cluster.get("status") or {}).get("state") == "ready"


def job_cluster_name(obj: Obj) -> str:
    recorded = (obj.get("status") or {}).get("rayClusterName")
    return str(recorded) if recorded else f"{name_of(obj)}-{suffix(str(meta(obj).get('uid')))}"


def _submitter(obj: Obj, cluster: str, job_id: str) -> Obj:
    spec = obj.get("spec") or {}
    ns = namespace_of(obj)
    head = get_at(spec, ("rayClusterSpec", "headGroupSpec", "template", "spec", "containers",
                         0, "image")) or "rayproject/ray:2.46.0"
    address = f"http://{head_service_name(cluster)}.{ns}.svc.cluster.local:8265"
    template = copy.deepcopy(spec.get("submitterPodTemplate")) or {"spec": {"containers": [{
        "name": "ray-job-submitter", "image": head,
        "resources": {"requests": {"cpu": "500m", "memory": "200Mi"},
                      "limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    pod_spec = for_kube_scheduler(template.setdefault("spec", {}))
    pod_spec["restartPolicy"] = "Never"
    entrypoint = str(spec.get("entrypoint") or "")
    for c in pod_spec.get("containers") or []:
        c.setdefault("command", ["ray", "job", "submit", "--address", address,
                                 "--submission-id", job_id, "--", entrypoint])
    backoff = ((spec.get("submitterConfig") or {}).get("backoffLimit"))
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": child_meta(obj, name_of(obj), {
                "ray.io/originated-from-cr-name": name_of(obj),
                "ray.io/originated-from-crd": "RayJob"}),
            "spec": {"backoffLimit": 2 if backoff is None else backoff, "template": template}}


def reconcile_job(obj: Obj, observed: Observed, ctx: Context) -> Result:
    spec = obj.get("spec") or {}
    old: Obj = obj.get("status") or {}
    cluster_name = job_cluster_name(obj)
    job_id = str(old.get("jobId") or f"{name_of(obj)}-{suffix(str(meta(obj).get('uid')), 'job')}")
    cluster = observed.get(RAY_CLUSTER, cluster_name)
    submitter = observed.get(JOB, name_of(obj))
    done = job_finished(submitter) if submitter is not None else None
    terminal = old.get("jobDeploymentStatus") in ("Complete", "Failed")
    wanted: list[Obj] = []
    deletes: list[Obj] = []
    requeue = None
    if not terminal and done is None:
        wanted.append(_child_cluster(obj, cluster_name, spec.get("rayClusterSpec"), "RayJob"))
        if _cluster_ready(cluster) and spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
            wanted.append(_submitter(obj, cluster_name, job_id))
    status = job_status(obj, ctx, cluster_name, job_id, cluster, submitter)
    end = status.get("endTime")
    if end and spec.get("shutdownAfterJobFinishes") and cluster is not None:
        ttl = int(spec.get("ttlSecondsAfterFinished") or 0)
        left = ttl - (_seconds(ctx.now) - _seconds(str(end)))
        if left <= 0:
            deletes.append(cluster)
        else:
            requeue = float(left)
    plan = plan_children(wanted, observed, prune=())
    return Result(Plan(plan.create, plan.patch, tuple(deletes)), status, requeue)


def job_status(obj: Obj, ctx: Context, cluster_name: str, job_id: str,
               cluster: Obj | None, submitter: Obj | None) -> Obj:
    old: Obj = obj.get("status") or {}
    ns, now = namespace_of(obj), ctx.now
    out: Obj = {
        "jobId": job_id, "rayClusterName": cluster_name,
        "dashboardURL": f"{head_service_name(cluster_name)}.{ns}.svc.cluster.local:8265",
        "startTime": old.get("startTime") or now,
        "observedGeneration": int(meta(obj).get("generation") or 0),
        "jobDeploymentStatus": old.get("jobDeploymentStatus") or "Initializing",
    }
    for key in ("jobStatus", "endTime", "reason", "message"):
        if old.get(key):
            out[key] = old[key]
    # KubeRay >= 1.3 counts finished attempts; the v1 schema defaults both to 0.
    out["succeeded"] = int(old.get("succeeded") or 0)
    out["failed"] = int(old.get("failed") or 0)
    if cluster is not None and cluster.get("status"):
        out["rayClusterStatus"] = copy.deepcopy(cluster["status"])
    elif old.get("rayClusterStatus"):
        out["rayClusterStatus"] = old["rayClusterStatus"]
    if out["jobDeploymentStatus"] in ("Complete", "Failed") or submitter is None:
        return out
    done = job_finished(submitter)
    active = int((submitter.get("status") or {}).get("active") or 0)
    if done == "Complete":
        out.update(jobStatus="SUCCEEDED", jobDeploymentStatus="Complete", endTime=now,
                   message="Job finished successfully.", succeeded=out["succeeded"] + 1)
    elif done == "Failed":
        out.update(jobDeploymentStatus="Failed", endTime=now, reason="SubmissionFailed",
                   message="the submitter Job failed", failed=out["failed"] + 1)
        out.setdefault("jobStatus", "FAILED")
    else:  # a Job's pod may be done before the Job is marked Complete: no step back
        started = active or int((submitter.get("status") or {}).get("succeeded") or 0) or (
            old.get("jobStatus") == "RUNNING")
        out.update(jobDeploymentStatus="Running", jobStatus="RUNNING" if started else "PENDING")
    return out


def _seconds(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def service_cluster_name(obj: Obj) -> str:
    active = ((obj.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName")
    if active:
        return str(active)
    return f"{name_of(obj)}-raycluster-{suffix(str(meta(obj).get('uid')))}"


def reconcile_service(obj: Obj, observed: Observed, ctx: Context) -> Result:
    spec = obj.get("spec") or {}
    old: Obj = obj.get("status") or {}
    cluster_name = service_cluster_name(obj)
    cluster = observed.get(RAY_CLUSTER, cluster_name)
    serve = {"apiVersion": "v1", "kind": "Service",
             "metadata": child_meta(obj, f"{name_of(obj)}-serve-svc",
                                    {"ray.io/serve": name_of(obj)}),
             "spec": {"selector": {CLUSTER_LABEL: cluster_name, "ray.io/serve": "true"},
                      "ports": [{"name": "serve", "port": 8000, "targetPort": 8000,
                                 "protocol": "TCP"}]}}
    wanted = [_child_cluster(obj, cluster_name, spec.get("rayClusterConfig"), "RayService"),
              serve]
    plan = plan_children(wanted, observed, prune=(RAY_CLUSTER, SERVICE))
    ready = _cluster_ready(cluster)
    conds = set_condition(old.get("conditions") or [], "Ready", "True" if ready else "False",
                          "NonZeroServeEndpoints" if ready else "Initializing",
                          "Number of serve endpoints is greater than 0" if ready
                          else "RayCluster is being created", ctx.now)
    conds = set_condition(conds, "UpgradeInProgress", "False", "NoPendingCluster",
                          "Active Ray cluster exists and no pending Ray cluster", ctx.now)
    active: Obj = {"rayClusterName": cluster_name}
    if cluster is not None and cluster.get("status"):
        active["rayClusterStatus"] = copy.deepcopy(cluster["status"])
    status: Obj = {"conditions": conds, "activeServiceStatus": active,
                   "numServeEndpoints": 1 if ready else 0,
                   "observedGeneration": int(meta(obj).get("generation") or 0)}
    if ready:
        status["serviceStatus"] = "Running"
    return Result(plan, status)
