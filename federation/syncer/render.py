"""Render a hub template into the object one member should hold (pure).

template (hub object) + the member's share of replicas + the OverridePolicy rules that
target the member  ->  a clean object for server-side apply:

* server-owned fields are dropped (uid, resourceVersion, managedFields, status, …);
* our ownership labels are added (``app.kubernetes.io/managed-by=fedctl``,
  ``fedctl.dev/binding``) with the member's name as an annotation;
* replicas are set through the kind's interpreter (Duplicated keeps the template's);
* override rules are applied in order: image registry, model storageUri prefix, env, args,
  resources, labels, annotations;
* with ``gpu_product`` (the product the scheduler chose for this member), every pod template
  that requests GPUs is pinned to it with a required node affinity (``gpu_pin.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from federation.interpreters import paths
from federation.interpreters.interpreter import Interpreters
from federation.model.labels import (
    BINDING_LABEL,
    CLUSTER_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
)
from federation.syncer.checkpoint import add_resume
from federation.syncer.dependencies import label_pod_templates
from federation.syncer.gpu_pin import pin_gpu_product
from policies.models import Overriders, OverrideRule

_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp",
                    "managedFields", "selfLink", "ownerReferences", "finalizers",
                    "deletionTimestamp", "deletionGracePeriodSeconds")
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                     "deployment.kubernetes.io/revision")


@dataclass(frozen=True, slots=True)
class MemberTarget:
    """The member being rendered for: what override rules select on."""

    name: str
    labels: Mapping[str, str]
    region: str = ""
    provider: str = ""
    zone: str = ""


def rule_applies(rule: OverrideRule, member: MemberTarget) -> bool:
    aff = rule.target_cluster
    return aff is None or aff.matches(member.name, member.labels, member.region,
                                      member.provider, member.zone)


def render(template: Mapping[str, Any], member: MemberTarget, *, binding: str,
           interpreters: Interpreters, replicas: Mapping[str, int] | None = None,
           rules: Iterable[OverrideRule] = (),
           resume: tuple[str, str] | None = None,
           gpu_product: str | None = None,
           field_values: Sequence[tuple[str | paths.Concrete, str]] = ()) -> dict[str, Any]:
    """The copy of ``template`` for ``member``: clean metadata, our labels (on the object
    and on its pod templates, so the hub can tell its pods), its replica share, the
    override rules that apply there, per-member field values set after them
    (``field_values``: (path expression or concrete path, value), e.g. a model URI
    switched to the member's local mirror; an expression that reaches nothing creates
    its path when it has no wildcard), the GPU product chosen for the member pinned on its
    GPU pod templates (``gpu_product``: a catalog name such as ``H100-80GB``; None pins
    nothing; raises ``GpuPinConflict`` when the template's own node constraints exclude
    it), and after a training failover the checkpoint to resume from (``resume`` =
    (location, cluster it left))."""
    obj = paths.deep_copy(dict(template))
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in _DROP_ANNOTATIONS}
    annotations[CLUSTER_ANNOTATION] = member.name
    meta["annotations"] = annotations
    labels = dict(meta.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    labels[BINDING_LABEL] = binding
    meta["labels"] = labels
    supported = interpreters.supports(obj)
    if supported:
        interpreters.prune_generated(obj)
        label_pod_templates(obj, interpreters, {BINDING_LABEL: binding})
    if replicas is not None and supported:
        obj = interpreters.with_replicas(obj, replicas)
    for rule in rules:
        if rule_applies(rule, member):
            _override(obj, rule.overriders, interpreters if supported else None)
    for expr, value in field_values:
        set_field(obj, expr, value)
    if gpu_product and supported:
        pin_gpu_product(obj, interpreters, gpu_product)
    if resume is not None:
        add_resume(obj, interpreters, *resume)
    return obj


def set_field(obj: dict[str, Any], expr: str | paths.Concrete, value: str) -> None:
    """Set ``value`` at every path ``expr`` reaches (a concrete path: there); a plain
    path that reaches nothing is created."""
    if isinstance(expr, tuple):
        paths.set_at(obj, expr, value)
        return
    found: list[paths.Concrete] = [p for p, _ in paths.resolve(obj, expr)]
    if not found:
        segs = paths.parse(expr)
        if not segs or "*" in segs or "[*]" in segs:
            return
        found = [segs]
    for p in found:
        paths.set_at(obj, p, value)


def _override(obj: dict[str, Any], ov: Overriders, interp: Interpreters | None) -> None:
    meta = obj["metadata"]
    for k, v in ov.labels:
        meta["labels"][k] = v
    for k, v in ov.annotations:
        meta["annotations"][k] = v
    if interp is None:
        return
    if ov.storage_uri is not None:
        for path, uri in interp.storage_uris(obj):
            if uri.startswith(ov.storage_uri.from_prefix):
                paths.set_at(obj, path, ov.storage_uri.to_prefix
                             + uri[len(ov.storage_uri.from_prefix):])
    for cpath in interp.container_paths(obj):
        container = paths.get_at(obj, cpath)
        if not isinstance(container, dict):
            continue
        name = container.get("name")
        if ov.image_registry is not None and isinstance(container.get("image"), str):
            container["image"] = rewrite_registry(container["image"], ov.image_registry.value,
                                                  ov.image_registry.operator)
        for env in ov.env:
            if env.container in (None, name):
                _set_env(container, env.name, env.value, env.operator)
        for args in ov.args:
            if args.container in (None, name):
                _set_args(container, args.values, args.operator)
        for res in ov.resources:
            if res.container in (None, name):
                resources = container.setdefault("resources", {})
                if res.requests:
                    resources.setdefault("requests", {}).update(dict(res.requests))
                if res.limits:
                    resources.setdefault("limits", {}).update(dict(res.limits))


def rewrite_registry(image: str, registry: str, operator: str) -> str:
    """``Replace``: swap the registry host; ``AddPrefix``: put ``registry/`` in front."""
    registry = registry.rstrip("/")
    if operator == "AddPrefix":
        return f"{registry}/{image}"
    first, sep, rest = image.partition("/")
    has_registry = bool(sep) and ("." in first or ":" in first or first == "localhost")
    return f"{registry}/{rest if has_registry else image}"


def _set_env(container: dict[str, Any], name: str, value: str, operator: str) -> None:
    env = [e for e in container.get("env") or [] if e.get("name") != name]
    if operator == "Set":
        env.append({"name": name, "value": value})
    container["env"] = env


def _set_args(container: dict[str, Any], values: tuple[str, ...], operator: str) -> None:
    current = list(container.get("args") or [])
    if operator == "Replace":
        current = list(values)
    elif operator == "Remove":
        current = [a for a in current if a not in values]
    else:
        current.extend(values)
    container["args"] = current
