"""Read and rewrite workload objects through their ``KindSpec`` (pure functions on dicts).

The hub asks one ``Interpreters`` registry, built from the built-in kinds plus any
declarative ``WorkloadInterpreter`` documents, for a workload's components and replicas,
for a copy with other replicas (a member's share), for every container (overrides), for
model URIs, for its health, and for a hub status aggregated from the members' copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.errors import FedctlError
from federation.interpreters import paths
from federation.interpreters.aggregate import aggregate_status
from federation.interpreters.builtin import BUILTIN
from federation.interpreters.spec import ComponentRule, KindSpec, status_path

PHASE_ORDER = {"Failed": 4, "Pending": 3, "Running": 2, "Ready": 1, "Succeeded": 0}


class UnsupportedKind(FedctlError):
    """No interpreter knows this kind."""


@dataclass(frozen=True, slots=True)
class ComponentView:
    name: str
    replicas: int
    replicas_path: paths.Concrete | None
    pod_spec_path: paths.Concrete | None
    container_paths: tuple[paths.Concrete, ...]
    pods_per_replica: int = 1
    # where the component lives (a map key's or list item's path; its pod spec for a
    # component at the object root), what a copy without it does (ComponentRule.absent),
    # and the counts clamped to its share
    entry_path: paths.Concrete | None = None
    absent: str = "zero"
    clamp_paths: tuple[paths.Concrete, ...] = ()

    @property
    def pods(self) -> int:
        return self.replicas * self.pods_per_replica


@dataclass(frozen=True, slots=True)
class WorkloadHealth:
    phase: str  # Pending | Running | Ready | Succeeded | Failed
    message: str = ""
    ready_replicas: int | None = None
    desired_replicas: int | None = None

    @property
    def healthy(self) -> bool:
        return self.phase in ("Ready", "Running", "Succeeded")

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    return default


class Interpreters:
    def __init__(self, extra: Iterable[KindSpec] = ()) -> None:
        self._specs: dict[tuple[str, str], KindSpec] = {
            (s.group, s.kind): s for s in BUILTIN}
        for s in extra:  # declarative specs may override built-ins
            self._specs[(s.group, s.kind)] = s

    def set_extra(self, specs: Iterable[KindSpec]) -> list[str]:
        """Replace the declarative specs with ``specs``, in place (every holder of this
        registry sees them at once): the built-ins first, each declarative spec
        overriding the built-in of its kind. A kind ``specs`` defines twice keeps the
        earlier definition; the returned list says which were dropped (empty: none)."""
        specs_by_kind: dict[tuple[str, str], KindSpec] = {}
        conflicts: list[str] = []
        for s in specs:
            key = (s.group, s.kind)
            first = specs_by_kind.get(key)
            if first is not None:
                conflicts.append(
                    f"{s.source}: kind {s.key} is already defined by {first.source}; this "
                    f"definition is ignored (remove one of the two)")
                continue
            specs_by_kind[key] = s
        self._specs = {**{(s.group, s.kind): s for s in BUILTIN}, **specs_by_kind}
        return conflicts

    def kinds(self) -> list[str]:
        return sorted(s.key for s in self._specs.values())

    def supports(self, obj: Mapping[str, Any]) -> bool:
        return (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind"))) in self._specs

    def spec_for(self, obj: Mapping[str, Any]) -> KindSpec:
        key = (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind")))
        spec = self._specs.get(key)
        if spec is None:
            raise UnsupportedKind(
                f"no interpreter for {obj.get('apiVersion')}/{obj.get('kind')}",
                hint="describe it with a WorkloadInterpreter document (see "
                     "docs/architecture.md) or use a supported kind: " + ", ".join(self.kinds()))
        return spec

    # ---- components and replicas -------------------------------------------------------
    def components(self, obj: Mapping[str, Any]) -> list[ComponentView]:
        spec = self.spec_for(obj)
        if spec.duplicated:  # no replicas: the object itself, once per cluster
            return [ComponentView(name="main", replicas=1, replicas_path=None,
                                  pod_spec_path=None, container_paths=(), pods_per_replica=1)]
        out: list[ComponentView] = []
        for rule in spec.components:
            out.extend(self._components(obj, rule))
        return out

    def _components(self, obj: Mapping[str, Any], rule: ComponentRule) -> list[ComponentView]:
        entries: list[tuple[paths.Concrete, Any]]
        entries = list(paths.resolve(obj, rule.each)) if rule.each else [((), obj)]
        out = []
        for base, entry in entries:
            if not isinstance(entry, dict):
                continue
            pod_spec = None
            if rule.pod_spec:
                found = list(paths.resolve(entry, rule.pod_spec, base))
                pod_spec = found[0][0] if found and isinstance(found[0][1], dict) else None
            extra = tuple(p for expr in rule.containers
                          for p, v in paths.resolve(entry, expr, base) if isinstance(v, dict))
            if not rule.each and pod_spec is None and not extra:
                continue  # an optional single component that is absent (isvc transformer)
            containers: list[paths.Concrete] = []
            if pod_spec is not None:
                spec_obj = paths.get_at(obj, pod_spec)
                for key in ("initContainers", "containers"):
                    containers.extend(p for p, v in paths.resolve(spec_obj, f"{key}[*]",
                                                                  pod_spec)
                                      if isinstance(v, dict))
            containers.extend(extra)
            replicas_path = None
            replicas = 1
            if rule.replicas:
                replicas_path = (*base, *_concrete(rule.replicas))
                replicas = _int(paths.get_at(obj, replicas_path), rule.default_replicas)
            # the first count (1 when unset), at most each further one that is set: a
            # Job runs min(parallelism, completions) pods at once
            per = 1
            for i, expr in enumerate(rule.pods_per_replica):
                value = paths.get_at(obj, (*base, *_concrete(expr)))
                if isinstance(value, int) and not isinstance(value, bool):
                    per = value if i == 0 else min(per, value)
            per = max(1, per)
            out.append(ComponentView(
                name=_name(rule.name, base, entry), replicas=replicas,
                replicas_path=replicas_path, pod_spec_path=pod_spec,
                container_paths=tuple(containers), pods_per_replica=per,
                entry_path=base if rule.each else pod_spec, absent=rule.absent,
                clamp_paths=tuple((*base, *_concrete(e)) for e in rule.clamp)))
        return out

    def without_pod_specs(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` without its pod specs' containers and volumes, in place: what the hub
        keeps of a member's copy (it reads the copy's metadata, replicas and status, never
        its containers, which are most of it). The pod spec mapping itself stays: a
        component may live in it (an InferenceService predictor's ``minReplicas``).
        Kinds without an interpreter are left whole."""
        if not self.supports(obj):
            return obj
        for comp in self.components(obj):
            pod_spec = paths.get_at(obj, comp.pod_spec_path) if comp.pod_spec_path else None
            if isinstance(pod_spec, dict):
                for key in POD_SPEC_BULK:
                    pod_spec.pop(key, None)
        return obj

    def replicas(self, obj: Mapping[str, Any]) -> dict[str, int]:
        return {c.name: c.replicas for c in self.components(obj)}

    def with_replicas(self, obj: dict[str, Any], replicas: Mapping[str, int]) -> dict[str, Any]:
        """A copy of ``obj`` holding the share ``replicas`` (component -> replicas, in the
        unit the component's replicas field counts, as ``components`` reads it).

        A component the share leaves out (or gives 0) has no replicas in this copy: its
        replicas field is set to 0, or its entry removed, or it is kept, as its rule's
        ``absent`` says, so a copy never runs a part at the template's count that the
        placement put elsewhere. Counts that must not exceed the share (``clamp``,
        ``clamp_total``: Volcano's minAvailable) are lowered to it."""
        spec = self.spec_for(obj)
        out = paths.deep_copy(obj)
        removals: list[paths.Concrete] = []
        total = 0
        for comp in self.components(obj):
            n = int(replicas.get(comp.name, 0))
            if comp.replicas_path is None:
                if n and n != comp.replicas:
                    raise FedctlError(f"{obj.get('kind')} component {comp.name!r} has a fixed "
                                      f"replica count of {comp.replicas}")
                if n or comp.absent != "remove" or comp.entry_path is None:
                    total += comp.replicas
                    continue  # a fixed part: every copy has it (a Ray head)
            if n == 0 and comp.absent == "keep":
                total += comp.replicas
                continue
            if n == 0 and comp.absent == "remove" and comp.entry_path is not None:
                removals.append(comp.entry_path)
                continue
            total += n
            if comp.replicas_path is not None:
                paths.set_at(out, comp.replicas_path, n)
            for cpath in comp.clamp_paths:
                _clamp(out, cpath, n)
            if spec.key == "batch/Job":
                _job_completions(out, obj, n)
        for expr in spec.clamp_total:
            for cpath, _value in list(paths.resolve(out, expr)):
                _clamp(out, cpath, total)
        # list items last index first, so earlier indexes stay valid
        for path in sorted(removals, key=lambda p: [(0, k) if isinstance(k, int) else (1, 0)
                                                     for k in p], reverse=True):
            parent = paths.get_at(out, path[:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and isinstance(path[-1], int):
                del parent[path[-1]]
        return out

    def prune_generated(self, obj: dict[str, Any]) -> None:
        """Remove, in place, fields the hub's API server generated for this object."""
        spec = self.spec_for(obj)
        for expr in spec.prune:
            for path, _value in list(paths.resolve(obj, expr)):
                parent = paths.get_at(obj, path[:-1])
                if isinstance(parent, dict):
                    parent.pop(path[-1], None)
        if spec.prune_template_labels:
            for comp in self.components(obj):
                if comp.pod_spec_path is None or len(comp.pod_spec_path) < 1:
                    continue
                template = paths.get_at(obj, comp.pod_spec_path[:-1])
                labels = ((template or {}).get("metadata") or {}).get("labels")
                if isinstance(labels, dict):
                    for key in spec.prune_template_labels:
                        labels.pop(key, None)

    def container_paths(self, obj: Mapping[str, Any]) -> list[paths.Concrete]:
        return [p for c in self.components(obj) for p in c.container_paths]

    def storage_uris(self, obj: Mapping[str, Any]) -> list[tuple[paths.Concrete, str]]:
        spec = self.spec_for(obj)
        return [(p, v) for expr in spec.storage_uris for p, v in paths.resolve(obj, expr)
                if isinstance(v, str)]

    # ---- health and status -------------------------------------------------------------
    def health(self, obj: Mapping[str, Any]) -> WorkloadHealth:
        spec = self.spec_for(obj)
        rule = spec.health
        status = obj.get("status") or {}
        if rule.conditions:
            true_types = {c.get("type"): c for c in status.get("conditions") or []
                          if isinstance(c, dict) and c.get("status") == "True"}
            phases = [(phase, true_types[ctype]) for ctype, phase in rule.conditions
                      if ctype in true_types]
            if phases:
                phase, cond = max(phases, key=lambda pc: _severity(pc[0]))
                return WorkloadHealth(phase, str(cond.get("message") or cond.get("reason")
                                                 or ""))
        if rule.field:
            value = paths.first(obj, rule.field)
            mapped = dict(rule.values).get(str(value)) if value is not None else None
            if mapped:
                return WorkloadHealth(mapped, f"{rule.field}={value}")
        if rule.ready_replicas:
            desired = sum(c.replicas for c in self.components(obj))
            ready = _int(paths.first(obj, rule.ready_replicas), 0)
            meta = obj.get("metadata") or {}
            observed = _int(status.get("observedGeneration"), 0)
            current = observed >= _int(meta.get("generation"), 0)
            phase = "Ready" if ready >= desired and current else "Pending"
            return WorkloadHealth(phase, f"{ready}/{desired} ready", ready, desired)
        if rule.active:
            # summed over every match: a JobSet counts active Jobs per replicated job
            active = sum(_int(v, 0) for _, v in paths.resolve(obj, rule.active))
            if active > 0:
                return WorkloadHealth("Running", f"{active} active")
        if rule.present:
            return WorkloadHealth(rule.present, "present")
        if rule.conditions and status.get("conditions"):
            # e.g. a PyTorchJob only Created (its pods may be unschedulable) or an
            # InferenceService with Ready=False: not healthy yet
            waiting = sorted(str(c.get("type")) for c in status["conditions"]
                             if isinstance(c, dict) and c.get("status") == "True")
            return WorkloadHealth("Pending", "conditions: " + (", ".join(waiting) or "none true"))
        return WorkloadHealth("Pending", "no status yet")

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether this object ran to an end (Succeeded or Failed) and holds nothing more:
        exactly ``health(obj).finished``."""
        return self.health(obj).finished

    def all_finished(self, copies: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether a workload is finished: it has copies and every one is Succeeded or
        Failed (a divided job whose other copy still runs is not). Serving kinds and kinds
        read by ``present`` never finish."""
        return bool(copies) and all(self.finished(c) for c in copies.values())

    def summed_status_keys(self, template: Mapping[str, Any]) -> tuple[str, ...]:
        """The top-level status keys ``aggregate`` writes sums under (present only when
        some copy reports the field)."""
        return tuple(dict.fromkeys(status_path(e)[0]
                                   for e in self.spec_for(template).aggregation.sum))

    def status_keys(self, template: Mapping[str, Any]) -> tuple[str, ...]:
        """Every top-level status key ``aggregate`` may write for this kind."""
        return self.spec_for(template).aggregation.top_keys()

    def aggregate(self, template: Mapping[str, Any],
                  members: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The hub template's status from the members' copies, in the kind's own status
        fields (its ``StatusAggregation``: counters summed, conditions merged, the worst
        copy's state, times), so the hub's object reads like one cluster's. Per-cluster
        phases are not here: they belong on the ResourceBinding."""
        spec = self.spec_for(template)
        return aggregate_status(spec, members, lambda obj: self.health(obj).healthy)


# what makes a pod spec big, and what the hub never reads from a member's copy
POD_SPEC_BULK = ("containers", "initContainers", "ephemeralContainers", "volumes")


def _clamp(obj: dict[str, Any], path: paths.Concrete, most: int) -> None:
    value = paths.get_at(obj, path)
    if isinstance(value, int) and not isinstance(value, bool) and value > most:
        paths.set_at(obj, path, most)


def _severity(phase: str) -> int:
    return {"Failed": 4, "Succeeded": 3, "Ready": 2, "Running": 1}.get(phase, 0)


def _concrete(expr: str) -> paths.Concrete:
    segs = paths.parse(expr)
    if any(s in ("*", "[*]") for s in segs):
        raise paths.PathSyntaxError(f"replicas path {expr!r} must not contain wildcards")
    return tuple(segs)


def _name(rule_name: str, base: paths.Concrete, entry: Mapping[str, Any]) -> str:
    if rule_name == "$key":
        return str(base[-1]) if base else "main"
    if rule_name.startswith("."):
        value = entry.get(rule_name[1:])
        if isinstance(value, str) and value:
            return value
        return f"{rule_name[1:]}{base[-1] if base else ''}"
    return rule_name


def _job_completions(out: dict[str, Any], original: Mapping[str, Any], share: int) -> None:
    """A Job split across clusters: completions follow parallelism when they were equal."""
    spec = original.get("spec") or {}
    if spec.get("completions") is not None and spec.get("completions") == spec.get(
            "parallelism"):
        out["spec"]["completions"] = share
