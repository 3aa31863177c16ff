"""ResourceBinding: the hub's record of where one template runs and how it is doing.

One binding per template, in the template's namespace, named ``<name>-<kind>`` for the
built-in groups (core, ``apps``, ``batch``) and ``<name>-<kind>.<group>`` for every other
group, so a ``batch/v1`` Job and a Volcano ``batch.volcano.sh`` Job of one name never share
a binding, a copy label or a hold (names over 63 characters end in a digest). A binding an
older hub named ``<name>-<kind>`` for another group is adopted, not duplicated: it is found
under that name (``legacy_binding_name``), rewritten under the new one and deleted, and it
keeps its ``fedctl.dev/binding`` label value (``TemplateKey.adopted_label``), because
changing the label on a copy's pod templates restarts a Deployment's pods and is refused
for a Job's or JobSet's. ``spec``
holds the decision (clusters and replicas per component, the policy, the inputs it was
made from) and what a restarted hub must know of a failover: the clusters that still hold
an old copy to remove once they answer again (``pendingCleanup``, fencing) and the
checkpoint a moved training job resumes from (``resume``); ``clusterNames`` joins the
clusters' names ("a,b") for ``kubectl get rb``; ``finished`` ("Succeeded"/"Failed") marks
a job that finished: it holds no capacity and is never placed again. ``status`` holds
conditions and per-cluster apply and workload state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from federation.model.labels import BINDING_LABEL
from federation.model.placement import ClusterAssignment, Placement
from federation.scheduling.reservations import Hold, hold_from_json, hold_to_json
from policies.models import GROUP, VERSION

PLURAL = "resourcebindings"
KIND = "ResourceBinding"


def binding_crd() -> dict[str, Any]:
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"kind": KIND, "plural": PLURAL, "singular": "resourcebinding",
                      "listKind": f"{KIND}List", "shortNames": ["rb"]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": free, "status": free}}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Kind", "type": "string", "jsonPath": ".spec.resource.kind"},
                    {"name": "Workload", "type": "string", "jsonPath": ".spec.resource.name"},
                    # every cluster: the apiserver prints only the first value a
                    # JSONPath finds (``.spec.clusters[*].name`` showed one cluster)
                    {"name": "Clusters", "type": "string",
                     "jsonPath": ".spec.clusterNames"},
                    {"name": "Scheduled", "type": "string",
                     "jsonPath": ".status.conditions[?(@.type==\"Scheduled\")].status"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }


# groups whose kinds keep the short binding name (``<name>-<kind>``): their kind names
# are unique among themselves, and the bindings of older hubs keep their names
SHORT_NAME_GROUPS = frozenset({"", "apps", "batch"})


@dataclass(frozen=True, slots=True)
class TemplateKey:
    api_version: str
    kind: str
    namespace: str
    name: str
    # the ``fedctl.dev/binding`` value of an adopted binding (an older hub's name for it):
    # kept so its copies are not relabelled; not part of the key's identity
    adopted_label: str | None = field(default=None, compare=False, hash=False)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def binding_name(self) -> str:
        """``<name>-<kind>`` (core, apps, batch) or ``<name>-<kind>.<group>``."""
        base = f"{self.name}-{self.kind.lower()}"
        if self.group not in SHORT_NAME_GROUPS:
            base = f"{base}.{self.group}"
        return _short_name(base)

    @property
    def legacy_binding_name(self) -> str:
        """The name hubs before the API group was part of it gave this binding."""
        return _short_name(f"{self.name}-{self.kind.lower()}")

    @property
    def label(self) -> str:
        """Value of the ``fedctl.dev/binding`` label on member copies (<= 63 chars)."""
        if self.adopted_label:
            return self.adopted_label
        raw = f"{self.namespace}.{self.binding_name}"
        if len(raw) <= 63:
            return raw
        return f"{raw[:54]}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"

    def with_binding(self, binding: Mapping[str, Any] | None) -> TemplateKey:
        """This key with the label ``binding`` (its binding, as read) carries, if that is
        not the one this key would give it (a binding adopted from an older hub)."""
        found = (((binding or {}).get("metadata") or {}).get("labels") or {}).get(
            BINDING_LABEL)
        if not found or found == self.label:
            return self
        return replace(self, adopted_label=str(found))

    def owns(self, binding: Mapping[str, Any] | None) -> bool:
        """``binding`` records this template (group, kind, namespace, name): a binding found
        under the legacy name may belong to a kind of another group."""
        res = ((binding or {}).get("spec") or {}).get("resource") or {}
        return (str(res.get("apiVersion", "")).rpartition("/")[0] == self.group
                and res.get("kind") == self.kind and res.get("name") == self.name
                and (res.get("namespace") or "") == self.namespace)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _short_name(base: str) -> str:
    """``base`` if it is a valid name of at most 63 characters, else a prefix and a
    digest (the prefix never ends in ``.`` or ``-``: names are DNS subdomains)."""
    if len(base) <= 63:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[:54].rstrip('.-')}-{digest}"


def placement_of(binding: Mapping[str, Any] | None) -> Placement | None:
    if not binding:
        return None
    clusters = (binding.get("spec") or {}).get("clusters") or []
    if not clusters:
        return None
    out = []
    for c in sorted(clusters, key=lambda c: c["name"]):
        reps = tuple((str(k), int(v)) for k, v in (c.get("replicas") or {}).items() if v)
        if reps:
            out.append(ClusterAssignment(c["name"], reps))
    return Placement(tuple(out)) if out else None


def clusters_spec(placement: Placement,
                  holds: Mapping[str, Hold] | None = None) -> list[dict[str, Any]]:
    """``spec.clusters``: replicas per component and, per cluster, the capacity held
    there (per-replica requests and GPU product), so a restarted hub knows it."""
    out = []
    for a in placement.assignments:
        entry: dict[str, Any] = {"name": a.cluster, "replicas": dict(a.replicas)}
        hold = (holds or {}).get(a.cluster)
        if hold is not None:
            entry["hold"] = hold_to_json(hold)
        out.append(entry)
    return out


def cluster_names(placement: Placement | None) -> str:
    """``spec.clusterNames``: every cluster of the placement, comma-separated."""
    return ",".join(placement.clusters) if placement else ""


def holds_of(binding: Mapping[str, Any]) -> dict[str, Hold]:
    """The holds recorded in a binding's ``spec.clusters`` (see ``clusters_spec``)."""
    out = {}
    for c in (binding.get("spec") or {}).get("clusters") or []:
        hold = hold_from_json(c.get("hold")) if isinstance(c, Mapping) else None
        if hold is not None and hold.shapes:
            out[str(c["name"])] = hold
    return out


def digest(obj: Any) -> str:
    """A short, stable digest of a JSON-like value (key order does not matter)."""
    return hashlib.blake2b(json.dumps(obj, sort_keys=True, default=str).encode(),
                           digest_size=16).hexdigest()


def inputs_key(*parts: object) -> str:
    """A short digest of what a decision was made from; same inputs, same key."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def condition(type_: str, ok: bool, reason: str, message: str, now: str,
              previous: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = next((c for c in previous if c.get("type") == type_), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else now
    return {"type": type_, "status": status, "reason": reason, "message": message[:1000],
            "lastTransitionTime": since}
