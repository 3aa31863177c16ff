"""KServe InferenceService in RawDeployment mode.

Per component (predictor, transformer, explainer — as the interpreter lists them): a
Deployment ``<name>-<component>`` and a Service of the same name. The pod spec is the
component's pod-spec fields plus, for a model (``model`` or a framework key such as
``sklearn``), the ``kserve-container`` (the runtime's image unless the model names one,
``--model_name``/``--model_dir``, the model's resources) and the ``storage-initializer``
init container that downloads ``storageUri`` into ``/mnt/models``. Labels are KServe's:
the InferenceService's own labels, the component's ``labels``, and
``serving.kserve.io/inferenceservice``, ``component``, ``app: isvc.<name>-<component>``.

Status: ``<Component>Ready`` from each Deployment's availability, ``IngressReady`` once
the predictor Service exists, ``Ready`` when all are; ``url``, ``address``, per-component
URLs and ``modelStatus``.
"""

from __future__ import annotations

import copy
from typing import Any

from federation.dev.opsim.common import (
    DEPLOYMENT,
    SERVICE,
    Context,
    Obj,
    Observed,
    Result,
    child_meta,
    deployment_available,
    for_kube_scheduler,
    labels_of,
    meta,
    name_of,
    namespace_of,
    plan_children,
    set_condition,
    with_spec_hash,
)
from federation.interpreters.interpreter import ComponentView
from federation.interpreters.paths import get_at

ISVC_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"
APP_LABEL = "app"
MODEL_DIR = "/mnt/models"
STORAGE_INITIALIZER = "kserve/storage-initializer:v0.15.2"
RUNTIME_IMAGES = {  # modelFormat -> the image of KServe's default ClusterServingRuntime
    "huggingface": "kserve/huggingfaceserver:v0.15.2",
    "sklearn": "kserve/sklearnserver:v0.15.2",
    "xgboost": "kserve/xgbserver:v0.15.2",
    "lightgbm": "kserve/lgbserver:v0.15.2",
    "pmml": "kserve/pmmlserver:v0.15.2",
    "paddle": "kserve/paddleserver:v0.15.2",
    "tensorflow": "tensorflow/serving:2.6.2",
    "pytorch": "pytorch/torchserve-kfs:0.9.0",
    "triton": "nvcr.io/nvidia/tritonserver:23.05-py3",
    "onnx": "nvcr.io/nvidia/tritonserver:23.05-py3",
}
POD_SPEC_FIELDS = frozenset({
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
    "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases", "hostIPC", "hostNetwork",
    "hostPID", "hostUsers", "hostname", "imagePullSecrets", "initContainers", "nodeName",
    "nodeSelector", "os", "overhead", "preemptionPolicy", "priority", "priorityClassName",
    "readinessGates", "resourceClaims", "resources", "runtimeClassName", "schedulerName",
    "schedulingGates", "securityContext", "serviceAccount", "serviceAccountName",
    "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes",
})
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def component_name(isvc: str, component: str) -> str:
    return f"{isvc}-{component}"


def pod_labels(obj: Obj, component: str) -> dict[str, str]:
    comp = (obj.get("spec") or {}).get(component) or {}
    return {**labels_of(obj), **{str(k): str(v) for k, v in (comp.get("labels") or {}).items()},
            ISVC_LABEL: name_of(obj), COMPONENT_LABEL: component,
            APP_LABEL: f"isvc.{component_name(name_of(obj), component)}"}


def pod_spec(obj: Obj, view: ComponentView) -> Obj | None:
    """The pod spec KServe builds for one component, or None when it has no container."""
    if view.pod_spec_path is None:
        return None
    comp = get_at(obj, view.pod_spec_path)
    if not isinstance(comp, dict):
        return None
    spec: Obj = {k: copy.deepcopy(v) for k, v in comp.items() if k in POD_SPEC_FIELDS}
    containers = list(spec.get("containers") or [])
    inits = list(spec.get("initContainers") or [])
    for path in view.container_paths:
        if "containers" in path or "initContainers" in path:
            continue
        model = get_at(obj, path)
        if not isinstance(model, dict):
            continue
        fmt = str(((model.get("modelFormat") or {}).get("name")) or path[-1])
        container = {k: copy.deepcopy(v) for k, v in model.items()
                     if k not in ("modelFormat", "runtime", "storageUri", "protocolVersion",
                                  "storage", "runtimeVersion")}
        container["name"] = "kserve-container"
        container.setdefault("image", RUNTIME_IMAGES.get(fmt, f"kserve/{fmt}server:v0.15.2"))
        container["args"] = [f"--model_name={name_of(obj)}", f"--model_dir={MODEL_DIR}",
                             "--http_port=8080", *(container.get("args") or [])]
        container.setdefault("ports", [{"name": "http1", "containerPort": 8080,
                                        "protocol": "TCP"}])
        uri = model.get("storageUri")
        if isinstance(uri, str) and uri:
            mount = {"name": "kserve-provision-location", "mountPath": MODEL_DIR,
                     "readOnly": True}
            container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]
            inits.append({
                "name": "storage-initializer", "image": STORAGE_INITIALIZER,
                "args": [uri, MODEL_DIR],
                "resources": {"requests": {"cpu": "100m", "memory": "100Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
                "volumeMounts": [{**mount, "readOnly": False}]})
            spec["volumes"] = [*(spec.get("volumes") or []),
                               {"name": "kserve-provision-location", "emptyDir": {}}]
        containers.insert(0, container)
    if not containers:
        return None
    spec["containers"] = containers
    if inits:
        spec["initContainers"] = inits
    return for_kube_scheduler(spec)


def children(obj: Obj, ctx: Context) -> list[Obj]:
    out: list[Obj] = []
    annotations = {k: str(v) for k, v in (meta(obj).get("annotations") or {}).items()
                   if k not in _DROP_ANNOTATIONS}
    annotations["serving.kserve.io/deploymentMode"] = "RawDeployment"
    for view in ctx.interpreters.components(obj):
        spec = pod_spec(obj, view)
        if spec is None:
            continue
        name = component_name(name_of(obj), view.name)
        labels = pod_labels(obj, view.name)
        comp = (obj.get("spec") or {}).get(view.name) or {}
        pod_annotations = {**annotations, **{str(k): str(v) for k, v in (
            comp.get("annotations") or {}).items()}}
        selector = {APP_LABEL: labels[APP_LABEL]}
        out.append(with_spec_hash({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": child_meta(obj, name, labels, annotations),
            "spec": {"replicas": max(0, view.replicas), "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": pod_annotations},
                                  "spec": spec}}}))
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": child_meta(obj, name, labels),
                    "spec": {"selector": selector, "ports": [{
                        "name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    return out


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    wanted = children(obj, ctx)
    plan = plan_children(wanted, observed, prune=(DEPLOYMENT, SERVICE))
    return Result(plan, status(obj, observed, ctx, wanted))


def status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Obj]) -> Obj:
    name, ns, now = name_of(obj), namespace_of(obj), ctx.now
    old: Obj = obj.get("status") or {}
    conds: list[Obj] = list(old.get("conditions") or [])
    components: dict[str, Any] = {}
    all_ready = True
    ready_pods = 0
    deployments = [c for c in wanted if c["kind"] == "Deployment"]
    for want in deployments:
        comp = labels_of(want)[COMPONENT_LABEL]
        dep = observed.get(DEPLOYMENT, name_of(want))
        ready = dep is not None and deployment_available(dep)
        all_ready = all_ready and ready
        if dep is not None:
            ready_pods += int((dep.get("status") or {}).get("availableReplicas") or 0)
        reason, message = (("", "") if ready else (
            ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
            if dep is not None else ("PendingDeployment", "Deployment is being created.")))
        conds = set_condition(conds, f"{comp.capitalize()}Ready",
                              "True" if ready else "False", reason, message, now)
        host = f"{name_of(want)}-{ns}.example.com"
        components[comp] = {"url": f"http://{host}", "address": {
            "url": f"http://{name_of(want)}.{ns}.svc.cluster.local"}}
    ingress = bool(deployments) and observed.get(
        SERVICE, component_name(name, "predictor")) is not None
    conds = set_condition(conds, "IngressReady", "True" if ingress else "False",
                          "" if ingress else "PredictorServiceMissing", "", now)
    ready = all_ready and ingress and bool(deployments)
    conds = set_condition(conds, "Ready", "True" if ready else "False",
                          "" if ready else _not_ready_reason(conds), "", now)
    out: Obj = {
        "conditions": [_knative(c) for c in conds],
        "components": components,
        "deploymentMode": "RawDeployment",
        "observedGeneration": int(meta(obj).get("generation") or 0),
        "modelStatus": {
            "states": {"activeModelState": "Loaded" if ready else "Pending",
                       "targetModelState": "Loaded"},
            "transitionStatus": "UpToDate" if ready else "InProgress",
            "copies": {"failedCopies": 0, "totalCopies": ready_pods}},
    }
    if ingress:
        out["url"] = f"http://{name}.{ns}.example.com"
        out["address"] = {"url": f"http://{component_name(name, 'predictor')}.{ns}"
                                 ".svc.cluster.local"}
    return out


def _not_ready_reason(conds: list[Obj]) -> str:
    for c in conds:
        if c.get("type") != "Ready" and c.get("status") != "True":
            return str(c.get("type"))
    return "NotReady"


def _knative(c: Obj) -> Obj:
    """Knative-style conditions omit empty reason and message."""
    return {k: v for k, v in c.items() if v != "" or k in ("type", "status")}

