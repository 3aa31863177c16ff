"""Pin a member copy's GPU pods to the GPU product the scheduler chose there (pure).

The scheduler picks one GPU product per workload per cluster (``Diagnosis.product_of``,
also kept in the binding's hold), but a member with several products (A100 and L4 nodes)
would let its kube-scheduler put the pods on any of them. ``pin_gpu_product`` makes the
copy say which, in place:

* Every pod spec of a component whose containers request ``nvidia.com/gpu`` (requests or
  limits, init containers included) gets a **required node affinity** on
  ``nvidia.com/gpu.product In [<label value>]`` — always affinity, never a new node
  selector, so there is one rule. Required terms are ORed, so the expression is added to
  every existing ``nodeSelectorTerm`` (empty terms, which match nothing, are left alone);
  without terms the pod spec gets one. Preferred terms, ``matchFields`` and pod
  (anti-)affinity are kept as the user wrote them.
* The label value is the catalog's GPU feature discovery value
  (``H100-80GB`` -> ``NVIDIA-H100-80GB-HBM3``); a product the catalog does not know is
  used verbatim (the inventory reports such nodes by their raw label).
* A user ``nodeSelector`` on ``nvidia.com/gpu.product`` that names the same product (any
  name the catalog resolves, e.g. ``H100``) is rewritten to the label value, so it matches
  real nodes; one naming another product, or required terms none of which can match the
  product (``In`` without it, ``NotIn`` with it, ``DoesNotExist``, ``Gt``/``Lt``), raise
  ``GpuPinConflict`` with the field path: the scheduler reads the node selector pin, so
  this means the decision and the template disagree, and an unschedulable copy must not
  be applied silently.
* Components without GPU requests are not touched.
* InferenceService components are inline pod specs (``spec.predictor.affinity``).
* TrainJob has no pod template: its pods come from a training runtime. The pin goes in
  ``spec.podTemplateOverrides[].spec`` (Trainer v2.1, whose schema prunes the older
  field; ``spec.podSpecOverrides`` only when the template uses that v2.0 field) for the
  ``node`` job, as a ``nodeSelector`` — the only node constraint v2.0 overrides carry.
  It is added to every override that targets ``node`` (later overrides replace earlier
  ones' fields), or as a new entry.
* Another kind whose interpreter names no pod spec cannot be pinned; its component names
  are returned so the caller can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.catalog.gpus import lookup
from federation.errors import FedctlError
from federation.interpreters import paths
from federation.interpreters.interpreter import ComponentView, Interpreters
from federation.model.quantity import QuantityError, parse_quantity
from federation.syncer.fieldpath import format_path

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
TRAINJOB = "trainer.kubeflow.org/TrainJob"
TRAINER_JOB = "node"  # the replicated job of a training runtime that runs the trainer


class GpuPinConflict(FedctlError):
    """The template's own node constraints exclude the GPU product chosen for a member."""

    def __init__(self, path: paths.Concrete, message: str, hint: str) -> None:
        self.field_path = path
        super().__init__(f"{format_path(path)}: {message}", hint=hint)


def label_value(product: str) -> str:
    """The ``nvidia.com/gpu.product`` node label value of a catalog product name."""
    found = lookup(product)
    return found.gfd_product if found is not None else product


def pin_gpu_product(obj: dict[str, Any], interpreters: Interpreters,
                    product: str) -> list[str]:
    """Pin every GPU pod template of ``obj`` to ``product`` (in place); return the names
    of GPU components that have no pod spec to pin (declarative kinds without one)."""
    value = label_value(product)
    unpinned: list[str] = []
    trainjob = interpreters.spec_for(obj).key == TRAINJOB
    for view in interpreters.components(obj):
        if not _requests_gpus(obj, view):
            continue
        if view.pod_spec_path is not None:
            pod_spec = paths.get_at(obj, view.pod_spec_path)
            if isinstance(pod_spec, dict):
                _pin_pod_spec(pod_spec, view.pod_spec_path, value)
                continue
        if trainjob:
            _pin_trainjob(obj, value)
        else:
            unpinned.append(view.name)
    return unpinned


def _requests_gpus(obj: Mapping[str, Any], view: ComponentView) -> bool:
    return any(_gpus(paths.get_at(obj, cpath)) > 0 for cpath in view.container_paths)


def _gpus(container: Any) -> float:
    """GPUs one container asks for (a TrainJob trainer's ``resourcesPerNode`` too)."""
    if not isinstance(container, Mapping):
        return 0
    best = 0.0
    for key in ("resources", "resourcesPerNode"):
        res = container.get(key)
        if not isinstance(res, Mapping):
            continue
        for part in ("requests", "limits"):
            amounts = res.get(part)
            raw = amounts.get(GPU_RESOURCE) if isinstance(amounts, Mapping) else None
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                continue
            try:
                best = max(best, float(parse_quantity(raw)))
            except (QuantityError, ValueError, ArithmeticError):
                continue  # the demand reader reports malformed quantities
    return best


def _same_product(raw: Any, value: str) -> bool:
    """A user's node selector value names the product whose label value is ``value``."""
    return isinstance(raw, str) and (raw == value or label_value(raw.strip()) == value)


def _pin_node_selector(selector: dict[str, Any], at: paths.Concrete, value: str) -> None:
    raw = selector.get(PRODUCT_LABEL)
    if raw is None:
        return
    if not _same_product(raw, value):
        raise GpuPinConflict(
            (*at, PRODUCT_LABEL), f"the template pins GPU product {raw!r} but this "
            f"cluster's copy was scheduled on {value!r}",
            hint="the scheduler reads this pin; reschedule the workload, or remove the "
                 "node selector to let the policy choose")
    selector[PRODUCT_LABEL] = value


def _pin_pod_spec(pod_spec: dict[str, Any], at: paths.Concrete, value: str) -> None:
    selector = pod_spec.get("nodeSelector")
    if isinstance(selector, dict):
        _pin_node_selector(selector, (*at, "nodeSelector"), value)
    ours = {"key": PRODUCT_LABEL, "operator": "In", "values": [value]}
    affinity = pod_spec.get("affinity")
    if not isinstance(affinity, dict):
        affinity = pod_spec["affinity"] = {}
    node = affinity.get("nodeAffinity")
    if not isinstance(node, dict):
        node = affinity["nodeAffinity"] = {}
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        required = node["requiredDuringSchedulingIgnoredDuringExecution"] = {}
    terms = required.get("nodeSelectorTerms")
    if not isinstance(terms, list) or not terms:
        required["nodeSelectorTerms"] = [{"matchExpressions": [ours]}]
        return
    where = (*at, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
             "nodeSelectorTerms")
    live = 0
    for term in terms:
        if not isinstance(term, dict) or not (term.get("matchExpressions")
                                              or term.get("matchFields")):
            continue  # an empty term matches no node; adding to it would change that
        exprs = [e for e in term.get("matchExpressions") or [] if isinstance(e, dict)]
        if all(_allows(e, value) for e in exprs if e.get("key") == PRODUCT_LABEL):
            live += 1
        if ours not in exprs:
            exprs.append(dict(ours, values=[value]))
        term["matchExpressions"] = exprs
    if live == 0:
        raise GpuPinConflict(
            where, f"no required node selector term can match a node with "
            f"{PRODUCT_LABEL}={value}, the GPU product this cluster's copy was scheduled on",
            hint="allow that product in the template's node affinity, or restrict the "
                 "policy's spec.gpu.products to the products the affinity allows")


def _allows(expr: Mapping[str, Any], value: str) -> bool:
    """Whether a node labelled ``value`` can satisfy one expression on the product label."""
    op = expr.get("operator")
    values = expr.get("values") or []
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    return op == "Exists"  # DoesNotExist, and Gt/Lt on a non-integer label, cannot match


def _pin_trainjob(obj: dict[str, Any], value: str) -> None:
    spec = obj.setdefault("spec", {})
    # Trainer v2.1 (the fleet's CRD) has only podTemplateOverrides and prunes
    # podSpecOverrides: the older field is used only by a template that already uses it
    newer = not (isinstance(spec.get("podSpecOverrides"), list)
                 and not isinstance(spec.get("podTemplateOverrides"), list))
    key = "podTemplateOverrides" if newer else "podSpecOverrides"
    overrides = spec.get(key)
    if not isinstance(overrides, list):
        overrides = spec[key] = []
    targeted = False
    for i, override in enumerate(overrides):
        if not isinstance(override, dict) or not any(
                isinstance(t, Mapping) and t.get("name") == TRAINER_JOB
                for t in override.get("targetJobs") or []):
            continue
        targeted = True
        holder = override
        at: paths.Concrete = ("spec", key, i)
        if newer:
            holder = override.setdefault("spec", {})
            at = (*at, "spec")
        selector = holder.get("nodeSelector")
        if not isinstance(selector, dict):
            selector = holder["nodeSelector"] = {}
        _pin_node_selector(selector, (*at, "nodeSelector"), value)
        selector[PRODUCT_LABEL] = value
    if not targeted:
        pin = {"nodeSelector": {PRODUCT_LABEL: value}}
        entry: dict[str, Any] = {"targetJobs": [{"name": TRAINER_JOB}]}
        entry.update({"spec": pin} if newer else pin)
        overrides.append(entry)
