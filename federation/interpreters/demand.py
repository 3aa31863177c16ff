"""Extract a workload's demand (components x replicas x per-replica resources).

Pure functions on the raw Kubernetes object (a dict). Each supported kind maps to a
function returning its components; per-replica resources come from the pod template:
the sum of the containers' requests (limits when a request is absent, as Kubernetes
defaults them) or the largest init container, whichever is bigger. A template pinned to a
GPU product by ``nodeSelector: {nvidia.com/gpu.product: ...}`` carries that product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.catalog.gpus import lookup
from federation.errors import FedctlError
from federation.model.demand import Component, Demand
from federation.model.quantity import QuantityError, cpu_millis, memory_bytes

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
Path = tuple[str | int, ...]


class DemandError(FedctlError):
    """The workload object is malformed where the scheduler needs to read it."""

    def __init__(self, path: Path, message: str, hint: str | None = None) -> None:
        self.field_path = path
        super().__init__(message, hint=hint)


def _get(obj: Any, path: Path, key: str, expected: type | tuple[type, ...],
         default: Any = None) -> Any:
    if not isinstance(obj, dict):
        raise DemandError(path, "expected a mapping")
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)):
        raise DemandError((*path, key), f"expected {_name(expected)}, got boolean")
    if not isinstance(value, expected):
        raise DemandError((*path, key), f"expected {_name(expected)}, got "
                          f"{type(value).__name__}")
    return value


def _name(expected: type | tuple[type, ...]) -> str:
    names = {dict: "a mapping", list: "a list", int: "an integer", str: "a string"}
    types_ = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(t, t.__name__) for t in types_)


def _replicas(obj: dict[str, Any], path: Path, key: str, default: int = 1) -> int:
    n: int = _get(obj, path, key, int, default)
    if n < 0:
        raise DemandError((*path, key), f"replicas must not be negative, got {n}")
    return n


def _container_resources(c: Any, path: Path) -> tuple[int, int, int]:
    res = _get(c, path, "resources", dict, {})
    requests = _get(res, (*path, "resources"), "requests", dict, {})
    limits = _get(res, (*path, "resources"), "limits", dict, {})

    def amount(name: str, conv: Callable[[Any], int]) -> int:
        raw = requests.get(name, limits.get(name))
        if raw is None:
            return 0
        where = (*path, "resources", "requests" if name in requests else "limits", name)
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise DemandError(where, f"expected a quantity, got {type(raw).__name__}")
        try:
            return conv(raw)
        except QuantityError as exc:
            raise DemandError(where, str(exc)) from None

    gpus = amount(GPU_RESOURCE, lambda v: int(cpu_millis(v) // 1000))
    return gpus, amount("cpu", cpu_millis), amount("memory", memory_bytes)


def pod_resources(spec: Any, path: Path) -> tuple[int, int, int, str | None]:
    """(GPUs, CPU millis, memory bytes, pinned GPU product) of one pod."""
    if not isinstance(spec, dict):
        raise DemandError(path, "expected a pod spec mapping")
    total = [0, 0, 0]
    for i, c in enumerate(_get(spec, path, "containers", list, [])):
        g, cpu, mem = _container_resources(c, (*path, "containers", i))
        total = [total[0] + g, total[1] + cpu, total[2] + mem]
    for i, c in enumerate(_get(spec, path, "initContainers", list, [])):
        g, cpu, mem = _container_resources(c, (*path, "initContainers", i))
        total = [max(total[0], g), max(total[1], cpu), max(total[2], mem)]
    selector = _get(spec, path, "nodeSelector", dict, {})
    product = None
    raw = selector.get(GPU_PRODUCT_LABEL)
    if raw is not None:
        found = lookup(str(raw))
        if found is None:
            raise DemandError((*path, "nodeSelector", GPU_PRODUCT_LABEL),
                              f"unknown GPU product {raw!r}")
        product = found.name
    return total[0], total[1], total[2], product


def _component(name: str, replicas: int, template: Any, path: Path) -> Component:
    spec = _get(template, path, "spec", dict, None)
    if spec is None:
        raise DemandError((*path, "spec"), "missing pod template spec")
    g, cpu, mem, product = pod_resources(spec, (*path, "spec"))
    return Component(name, replicas, g, cpu, mem, product)


def _pod_owner(kind_key: str, default: int = 1) -> Callable[[dict[str, Any]],
                                                             list[Component]]:
    def run(obj: dict[str, Any]) -> list[Component]:
        spec = _get(obj, (), "spec", dict, {})
        n = _replicas(spec, ("spec",), kind_key, default)
        template = _get(spec, ("spec",), "template", dict, None)
        if template is None:
            raise DemandError(("spec", "template"), "missing pod template")
        return [_component("main", n, template, ("spec", "template"))]

    return run


def _pod(obj: dict[str, Any]) -> list[Component]:
    spec = _get(obj, (), "spec", dict, None)
    if spec is None:
        raise DemandError(("spec",), "missing pod spec")
    g, cpu, mem, product = pod_resources(spec, ("spec",))
    return [Component("main", 1, g, cpu, mem, product)]


def _replica_specs(key: str) -> Callable[[dict[str, Any]], list[Component]]:
    def run(obj: dict[str, Any]) -> list[Component]:
        spec = _get(obj, (), "spec", dict, {})
        specs = _get(spec, ("spec",), key, dict, None)
        if not specs:
            raise DemandError(("spec", key), "missing replica specs")
        out = []
        for role, rs in specs.items():
            path = ("spec", key, str(role))
            if not isinstance(rs, dict):
                raise DemandError(path, "expected a mapping")
            n = _replicas(rs, path, "replicas", 1)
            out.append(_component(str(role), n, _get(rs, path, "template", dict, None),
                                  (*path, "template")))
        return out

    return run


def _jobset(obj: dict[str, Any]) -> list[Component]:
    spec = _get(obj, (), "spec", dict, {})
    jobs = _get(spec, ("spec",), "replicatedJobs", list, [])
    if not jobs:
        raise DemandError(("spec", "replicatedJobs"), "missing replicatedJobs")
    out = []
    for i, rj in enumerate(jobs):
        path: Path = ("spec", "replicatedJobs", i)
        name = _get(rj, path, "name", str, f"job{i}")
        n = _replicas(rj, path, "replicas", 1)
        jt = _get(rj, path, "template", dict, {})
        jspec = _get(jt, (*path, "template"), "spec", dict, {})
        parallelism = _replicas(jspec, (*path, "template", "spec"), "parallelism", 1)
        pod_template = _get(jspec, (*path, "template", "spec"), "template", dict, None)
        out.append(_component(name, n * parallelism, pod_template,
                              (*path, "template", "spec", "template")))
    return out


def _ray(obj: dict[str, Any], root: Path) -> list[Component]:
    spec = obj
    for key in root:
        assert isinstance(key, str)
        spec = _get(spec, (), key, dict, {})
    head = _get(spec, root, "headGroupSpec", dict, None)
    if head is None:
        raise DemandError((*root, "headGroupSpec"), "missing headGroupSpec")
    out = [_component("head", 1, _get(head, (*root, "headGroupSpec"), "template", dict, None),
                      (*root, "headGroupSpec", "template"))]
    for i, wg in enumerate(_get(spec, root, "workerGroupSpecs", list, [])):
        path = (*root, "workerGroupSpecs", i)
        name = _get(wg, path, "groupName", str, f"workers{i}")
        n = _replicas(wg, path, "replicas", 1)
        out.append(_component(name, n, _get(wg, path, "template", dict, None),
                              (*path, "template")))
    return out


_PREDICTOR_FRAMEWORKS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton",
                         "onnx", "huggingface", "lightgbm", "paddle", "pmml")


def _isvc(obj: dict[str, Any]) -> list[Component]:
    spec = _get(obj, (), "spec", dict, {})
    out = []
    for role in ("predictor", "transformer", "explainer"):
        comp = _get(spec, ("spec",), role, dict, None)
        if comp is None:
            if role == "predictor":
                raise DemandError(("spec", "predictor"), "missing predictor")
            continue
        path: Path = ("spec", role)
        n = _replicas(comp, path, "minReplicas", 1)
        containers = list(_get(comp, path, "containers", list, []))
        for fw in _PREDICTOR_FRAMEWORKS:
            model = _get(comp, path, fw, dict, None)
            if model is not None:
                containers.append({"name": fw, "resources": model.get("resources") or {}})
        pod = {"containers": containers,
               "nodeSelector": _get(comp, path, "nodeSelector", dict, {})}
        g, cpu, mem, product = pod_resources(pod, path)
        out.append(Component(role, n, g, cpu, mem, product))
    return out


def _isvc_artifacts(obj: dict[str, Any]) -> tuple[str, ...]:
    spec = obj.get("spec") or {}
    pred = spec.get("predictor") or {} if isinstance(spec, dict) else {}
    uris = []
    if isinstance(pred, dict):
        for fw in _PREDICTOR_FRAMEWORKS:
            model = pred.get(fw)
            if isinstance(model, dict) and isinstance(model.get("storageUri"), str):
                uris.append(model["storageUri"])
    return tuple(uris)


EXTRACTORS: dict[str, Callable[[dict[str, Any]], list[Component]]] = {
    "Deployment": _pod_owner("replicas"),
    "StatefulSet": _pod_owner("replicas"),
    "ReplicaSet": _pod_owner("replicas"),
    "Job": _pod_owner("parallelism"),
    "Pod": _pod,
    "PyTorchJob": _replica_specs("pytorchReplicaSpecs"),
    "TFJob": _replica_specs("tfReplicaSpecs"),
    "MPIJob": _replica_specs("mpiReplicaSpecs"),
    "XGBoostJob": _replica_specs("xgbReplicaSpecs"),
    "PaddleJob": _replica_specs("paddleReplicaSpecs"),
    "JAXJob": _replica_specs("jaxReplicaSpecs"),
    "JobSet": _jobset,
    "InferenceService": _isvc,
    "RayCluster": lambda obj: _ray(obj, ("spec",)),
    "RayJob": lambda obj: _ray(obj, ("spec", "rayClusterSpec")),
}


def supported_kinds() -> list[str]:
    return sorted(EXTRACTORS)


def extract_demand(obj: Any) -> Demand:
    """The demand of one workload object; raises ``DemandError`` naming the field."""
    if not isinstance(obj, dict):
        raise DemandError((), "expected a Kubernetes object (a mapping)")
    kind = _get(obj, (), "kind", str, None)
    api_version = _get(obj, (), "apiVersion", str, None)
    if kind is None or api_version is None:
        raise DemandError((), "missing apiVersion or kind")
    extractor = EXTRACTORS.get(kind)
    if extractor is None:
        raise DemandError(("kind",), f"unsupported workload kind {kind!r}",
                          hint="supported: " + ", ".join(supported_kinds()))
    meta = _get(obj, (), "metadata", dict, {})
    name = _get(meta, ("metadata",), "name", str, None)
    if not name:
        raise DemandError(("metadata", "name"), "missing name")
    labels = _get(meta, ("metadata",), "labels", dict, {})
    components = tuple(extractor(obj))
    artifacts = _isvc_artifacts(obj) if kind == "InferenceService" else ()
    return Demand(
        api_version=api_version,
        kind=kind,
        name=name,
        namespace=str(_get(meta, ("metadata",), "namespace", str, "default")),
        components=components,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        artifacts=artifacts,
    )
