"""What every simulated operator shares: children, owner references, conditions, plans.

Objects are raw API dicts. A child's kind is named like the interpreters name kinds:
``Pod``, ``Service``, ``apps/Deployment``, ``batch/Job``, ``ray.io/RayCluster``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.interpreters.interpreter import ComponentView, Interpreters, group_of
from federation.interpreters.paths import get_at

Obj = dict[str, Any]

POD = "Pod"
SERVICE = "Service"
DEPLOYMENT = "apps/Deployment"
JOB = "batch/Job"
DEFAULT_SCHEDULER = "default-scheduler"
# Annotation on Deployments the simulator creates: a hash of the desired spec, so a
# changed custom resource rolls its Deployment (operators compare specs semantically).
SPEC_HASH_ANNOTATION = "fedctl.dev/simulated-spec-hash"
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet


def kind_key(obj: Mapping[str, Any]) -> str:
    group = group_of(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", ""))
    return f"{group}/{kind}" if group else kind


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "default")


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta(obj).get("labels") or {}).items()}


def terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def owner_ref(owner: Mapping[str, Any]) -> Obj:
    """The controller reference an operator puts on what it creates."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name_of(owner),
            "uid": meta(owner).get("uid", ""), "controller": True,
            "blockOwnerDeletion": True}


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def child_meta(owner: Mapping[str, Any], name: str, labels: Mapping[str, str],
               annotations: Mapping[str, str] | None = None) -> Obj:
    out: Obj = {"name": name, "namespace": namespace_of(owner), "labels": dict(labels),
                "ownerReferences": [owner_ref(owner)]}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def suffix(*parts: str, length: int = 5) -> str:
    """A stable stand-in for the random suffix operators append (``rand.String(5)``)."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:length])


def spec_hash(value: Any) -> str:
    return hashlib.sha256(repr(_sorted(value)).encode()).hexdigest()[:16]


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _sorted(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_sorted(v) for v in value)
    return value


# ---- pods --------------------------------------------------------------------------------
def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return pod_phase(pod) == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or [] if isinstance(c, dict))


def pod_template(obj: Mapping[str, Any], view: ComponentView) -> tuple[Obj, Obj] | None:
    """(template metadata, pod spec) of a component whose pod spec is ``<template>.spec``."""
    path = view.pod_spec_path
    if path is None or not path or path[-1] != "spec":
        return None
    spec = get_at(obj, path)
    if not isinstance(spec, dict) or not spec.get("containers"):
        return None
    tmeta = get_at(obj, (*path[:-1], "metadata"))
    return (copy.deepcopy(tmeta) if isinstance(tmeta, dict) else {}), copy.deepcopy(spec)


def for_kube_scheduler(spec: Obj) -> Obj:
    """The fleet runs kube-scheduler only: a pod naming another scheduler (volcano,
    scheduler-plugins) would stay Pending forever, so it goes to the default one."""
    if spec.get("schedulerName") not in (None, "", DEFAULT_SCHEDULER):
        spec.pop("schedulerName")
    return spec


def template_labels(tmeta: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (tmeta.get("labels") or {}).items()}


def template_annotations(tmeta: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (tmeta.get("annotations") or {}).items()}


# ---- jobs and deployments ----------------------------------------------------------------
def job_condition(job: Mapping[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or []
               if isinstance(c, dict))


def job_finished(job: Mapping[str, Any]) -> str | None:
    """``Complete`` / ``Failed`` for a finished batch Job, else None."""
    for ctype in ("Complete", "Failed"):
        if job_condition(job, ctype):
            return ctype
    return None


def deployment_available(dep: Mapping[str, Any]) -> bool:
    """Every desired replica available, for the Deployment's current generation."""
    status = dep.get("status") or {}
    desired = (dep.get("spec") or {}).get("replicas", 1)
    current = int(status.get("observedGeneration") or 0) >= int(
        meta(dep).get("generation") or 0)
    return current and int(status.get("availableReplicas") or 0) >= int(desired or 0) and (
        int(status.get("updatedReplicas") or 0) >= int(desired or 0))


# ---- conditions --------------------------------------------------------------------------
def condition(status: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for c in status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def condition_true(status: Mapping[str, Any], ctype: str) -> bool:
    c = condition(status, ctype)
    return c is not None and c.get("status") == "True"


def set_condition(conditions: list[Obj], ctype: str, status: str, reason: str,
                  message: str, now: str, *, update_time: bool = False) -> list[Obj]:
    """A copy of ``conditions`` with ``ctype`` set; times move only when it changes."""
    out = [dict(c) for c in conditions if isinstance(c, dict)]
    for c in out:
        if c.get("type") != ctype:
            continue
        if (c.get("status"), c.get("reason"), c.get("message")) == (status, reason, message):
            return out
        if c.get("status") != status:
            c["lastTransitionTime"] = now
        c.update(status=status, reason=reason, message=message)
        if update_time:
            c["lastUpdateTime"] = now
        return out
    new: Obj = {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": now}
    if update_time:
        new["lastUpdateTime"] = now
    out.append(new)
    return out


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``; None when equal."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None if old == new else new
    patch: Obj = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
            continue
        sub = merge_patch(old[key], value)
        if sub is not None or (value is None and old[key] is not None):
            patch[key] = sub
    return patch or None


# ---- what one reconcile sees and decides -------------------------------------------------
@dataclass(frozen=True, slots=True)
class Observed:
    """Children whose controller is the custom resource, by kind (see ``kind_key``)."""

    children: Mapping[str, tuple[Obj, ...]] = field(default_factory=dict)

    def of(self, kind: str) -> tuple[Obj, ...]:
        return tuple(c for c in self.children.get(kind, ()) if not terminating(c))

    def get(self, kind: str, name: str) -> Obj | None:
        return next((c for c in self.children.get(kind, ()) if name_of(c) == name), None)


@dataclass(frozen=True, slots=True)
class Context:
    interpreters: Interpreters
    now: str  # RFC 3339, UTC
    served: frozenset[str] = frozenset()  # kind keys of custom resources the member serves


@dataclass(frozen=True, slots=True)
class Plan:
    create: tuple[Obj, ...] = ()
    patch: tuple[tuple[Obj, Obj], ...] = ()  # (observed child, merge patch)
    delete: tuple[Obj, ...] = ()  # observed children


@dataclass(frozen=True, slots=True)
class Result:
    plan: Plan
    status: Obj
    requeue_after: float | None = None  # seconds, when time alone changes the outcome
    events: tuple[str, ...] = field(default=())  # notes for the log


def plan_children(desired: Iterable[Obj], observed: Observed, *,
                  prune: Collection[str] = (POD,), create: bool = True) -> Plan:
    """Create what is missing, roll Deployments whose spec changed, and delete children of
    the ``prune`` kinds that are no longer desired (scale-down, removed components)."""
    creates: list[Obj] = []
    patches: list[tuple[Obj, Obj]] = []
    wanted: dict[str, set[str]] = {}
    for child in desired:
        key = kind_key(child)
        wanted.setdefault(key, set()).add(name_of(child))
        existing = observed.get(key, name_of(child))
        if existing is None:
            if create:
                creates.append(child)
            continue
        if key == DEPLOYMENT:
            want = (meta(child).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
            have = (meta(existing).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
            if want != have:
                patches.append((existing, {"metadata": {"annotations": {
                    SPEC_HASH_ANNOTATION: want}}, "spec": child["spec"]}))
    deletes = [c for kind in prune for c in observed.of(kind)
               if name_of(c) not in wanted.get(kind, set())]
    return Plan(tuple(creates), tuple(patches), tuple(deletes))


def with_spec_hash(deployment: Obj) -> Obj:
    annotations = deployment["metadata"].setdefault("annotations", {})
    annotations[SPEC_HASH_ANNOTATION] = spec_hash(deployment["spec"])
    return deployment


def headless_service(owner: Mapping[str, Any], name: str, selector: Mapping[str, str],
                     ports: Iterable[tuple[str, int]] = (), *,
                     labels: Mapping[str, str] | None = None,
                     publish_not_ready: bool = False) -> Obj:
    spec: Obj = {"clusterIP": "None", "selector": dict(selector)}
    port_list = [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in ports]
    if port_list:
        spec["ports"] = port_list
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": child_meta(owner, name, labels or selector), "spec": spec}
