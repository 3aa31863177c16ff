"""Extract a workload's demand (components x replicas x pods per replica x per-pod resources).

Pure functions on the raw Kubernetes object (a dict). The kind's interpreter
(``federation.interpreters``, built-in or declarative) names its components, replicas (in
the unit the kind's field counts: a JobSet's replicated job counts Jobs), pods per replica
(the Job's parallelism) and containers; per-pod resources come from those containers:
the sum of the containers' requests (limits when a request is absent, as Kubernetes
defaults them) or the largest init container, whichever is bigger. A template pinned to a
GPU product by ``nodeSelector: {nvidia.com/gpu.product: ...}`` carries that product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.catalog.gpus import lookup
from federation.errors import FedctlError
from federation.interpreters.interpreter import ComponentView, Interpreters
from federation.interpreters.paths import get_at, parse
from federation.interpreters.spec import ComponentRule
from federation.interpreters.trainjob import is_trainjob, trainer_node_selector
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


def _container_resources(c: Any, path: Path) -> tuple[int, int, int]:
    # a container's resources, or a TrainJob trainer's resourcesPerNode
    key = "resources" if "resources" in c or "resourcesPerNode" not in c else "resourcesPerNode"
    res = _get(c, path, key, dict, {})
    requests = _get(res, (*path, key), "requests", dict, {})
    limits = _get(res, (*path, key), "limits", dict, {})

    def amount(name: str, conv: Callable[[Any], int]) -> int:
        raw = requests.get(name, limits.get(name))
        if raw is None:
            return 0
        where = (*path, key, "requests" if name in requests else "limits", name)
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise DemandError(where, f"expected a quantity, got {type(raw).__name__}")
        try:
            return conv(raw)
        except QuantityError as exc:
            raise DemandError(where, str(exc)) from None

    gpus = amount(GPU_RESOURCE, lambda v: int(cpu_millis(v) // 1000))
    return gpus, amount("cpu", cpu_millis), amount("memory", memory_bytes)


def _pinned_product(spec: Any, path: Path) -> str | None:
    """The GPU product a pod spec pins with ``nodeSelector`` (short name), if any."""
    if not isinstance(spec, dict):
        raise DemandError(path, "expected a pod spec mapping")
    selector = _get(spec, path, "nodeSelector", dict, {})
    raw = selector.get(GPU_PRODUCT_LABEL)
    if raw is None:
        return None
    found = lookup(str(raw))
    if found is None:
        raise DemandError((*path, "nodeSelector", GPU_PRODUCT_LABEL),
                          f"unknown GPU product {raw!r}")
    return found.name


def _trainer_product(obj: dict[str, Any], job: str) -> str | None:
    """A TrainJob's GPU product pin: the ``nodeSelector`` its pod overrides give the
    runtime job's pods (``spec.podTemplateOverrides[].spec``, v2.0 ``podSpecOverrides``)."""
    found = trainer_node_selector(obj, GPU_PRODUCT_LABEL, job)
    if found is None:
        return None
    path, raw = found
    product = lookup(str(raw))
    if product is None:
        raise DemandError(path, f"unknown GPU product {raw!r}")
    return product.name


def _component(obj: dict[str, Any], view: ComponentView) -> Component:
    """Per-replica resources of one component, from the containers its interpreter names."""
    if view.replicas_path is not None:
        raw = get_at(obj, view.replicas_path)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int)):
            raise DemandError(view.replicas_path,
                              f"expected an integer, got {type(raw).__name__}")
        if isinstance(raw, int) and raw < 0:
            raise DemandError(view.replicas_path, f"replicas must not be negative, got {raw}")
    apps = [0, 0, 0]
    inits = [0, 0, 0]
    for cpath in view.container_paths:
        g, cpu, mem = _container_resources(get_at(obj, cpath), cpath)
        if "initContainers" in cpath:
            inits = [max(inits[0], g), max(inits[1], cpu), max(inits[2], mem)]
        else:
            apps = [apps[0] + g, apps[1] + cpu, apps[2] + mem]
    total = [max(a, b) for a, b in zip(apps, inits, strict=True)]
    product = None
    if view.pod_spec_path is not None:
        spec = get_at(obj, view.pod_spec_path)
        product = _pinned_product(spec, view.pod_spec_path)
    elif is_trainjob(obj):
        product = _trainer_product(obj, view.name)
    return Component(view.name, view.replicas, total[0], total[1], total[2], product,
                     pods_per_replica=view.pods_per_replica)


def _missing(rule: ComponentRule) -> DemandError:
    """The error for a kind whose components are absent, naming where they belong."""
    if rule.each:
        where = tuple(seg for seg in parse(rule.each) if seg not in ("*", "[*]"))
        return DemandError(where, "missing replica specs" if where[-1].endswith("Specs")
                           else f"missing {where[-1]}")
    segs = parse(rule.pod_spec or "spec")
    where = segs[:-1] if len(segs) > 1 and segs[-1] == "spec" else segs
    return DemandError(where, "missing pod template" if where[-1] == "template"
                       else f"missing {where[-1]}")


def supported_kinds() -> list[str]:
    return Interpreters().kinds()


def extract_demand(obj: Any, interpreters: Interpreters | None = None) -> Demand:
    """The demand of one workload object; raises ``DemandError`` naming the field."""
    if not isinstance(obj, dict):
        raise DemandError((), "expected a Kubernetes object (a mapping)")
    kind = _get(obj, (), "kind", str, None)
    api_version = _get(obj, (), "apiVersion", str, None)
    if kind is None or api_version is None:
        raise DemandError((), "missing apiVersion or kind")
    interp = interpreters or Interpreters()
    if not interp.supports(obj):
        raise DemandError(("kind",), f"unsupported workload kind {kind!r}",
                          hint="supported: " + ", ".join(interp.kinds()))
    meta = _get(obj, (), "metadata", dict, {})
    name = _get(meta, ("metadata",), "name", str, None)
    if not name:
        raise DemandError(("metadata", "name"), "missing name")
    labels = _get(meta, ("metadata",), "labels", dict, {})
    kind_spec = interp.spec_for(obj)
    views = interp.components(obj)
    if not views:
        raise _missing(kind_spec.components[0])
    components = tuple(_component(obj, v) for v in views)
    artifacts = tuple(uri for _path, uri in interp.storage_uris(obj))
    return Demand(
        api_version=api_version,
        kind=kind,
        name=name,
        namespace=str(_get(meta, ("metadata",), "namespace", str, "default")),
        components=components,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        artifacts=artifacts,
        duplicated=kind_spec.duplicated,
        gang=kind_spec.gang,
        divisible=kind_spec.divisible,
    )
