"""What fedctl knows about a workload kind, as data: components, replicas, pod specs, health.

Built-in kinds are ``KindSpec`` values in ``federation/interpreters/builtin.py``; other
kinds are described the same way in YAML (``load_interpreters``), so the hub handles a kind
it has no code for. Paths use ``federation.interpreters.paths`` syntax.

    apiVersion: fedctl.dev/v1alpha1
    kind: WorkloadInterpreter
    metadata: {name: mxjobs}
    spec:
      target: {group: kubeflow.org, kind: MXJob}
      gang: true
      components:
        - each: spec.mxReplicaSpecs.*      # one component per mapping entry, named by key
          replicas: replicas
          podSpec: template.spec
      health:
        conditions: {Succeeded: Succeeded, Failed: Failed, Running: Running}
      aggregate:
        sum: [status.replicaStatuses]

A kind without replicas is copied whole to every selected cluster:

    spec:
      target: {group: gateway.networking.k8s.io, kind: HTTPRoute}
      duplicated: true
      writeStatus: false          # the hub does not write an aggregated status into it
      health: {present: Ready}    # an object that exists is Ready
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from federation.interpreters.paths import PathSyntaxError, parse
from policies.reader import Reader
from policies.source import Document, PathKey, load_file

PHASES = ("Pending", "Running", "Ready", "Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class ComponentRule:
    """Where components live in an object.

    ``each``: a path reaching a mapping's values (``x.*``) or list items (``x[*]``), one
    component per entry; empty for a single component at the object root.
    ``name``: a literal name, ``$key`` (the mapping key) or ``.field`` (a field of the entry).
    """

    each: str = ""
    name: str = "main"
    replicas: str | None = None  # relative to the entry; None = always 1
    default_replicas: int = 1
    pod_spec: str | None = None  # relative: a pod spec (containers, initContainers, ...)
    containers: tuple[str, ...] = ()  # relative: extra container-like mappings
    pods_per_replica: str | None = None  # relative: pods each replica runs (parallelism)


@dataclass(frozen=True, slots=True)
class HealthRule:
    """How to read a workload's phase from its status.

    ``conditions``: condition type (status True) -> phase, checked in order, last True wins
    by order of ``PHASES`` severity (Failed > Succeeded > Ready > Running);
    ``field``/``values``: a status field's value -> phase;
    ``ready_replicas``: ready when this count reaches the desired replicas.
    """

    conditions: tuple[tuple[str, str], ...] = ()
    field: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    ready_replicas: str | None = None
    active: str | None = None  # running pods or Jobs (summed over matches): > 0 is Running
    present: str | None = None  # the phase of an object that exists (nothing to read)


@dataclass(frozen=True, slots=True)
class KindSpec:
    group: str
    kind: str
    components: tuple[ComponentRule, ...]
    health: HealthRule = field(default_factory=HealthRule)
    gang: bool = False  # training kinds: all replicas in one cluster by default
    storage_uris: tuple[str, ...] = ()  # paths of model URIs (storageUri...)
    sum_fields: tuple[str, ...] = ()  # status fields summed across clusters
    # Server-generated fields a member would reject (a Job's selector and uid labels).
    prune: tuple[str, ...] = ()  # paths removed before applying
    prune_template_labels: tuple[str, ...] = ()  # pod template label keys removed
    # No replicas (Service, ConfigMap, Secret): one whole copy on every selected cluster,
    # whatever the policy's replica scheduling says; ``components`` stays empty.
    duplicated: bool = False
    # The hub writes the aggregated status into the template (False for kinds whose
    # status is not theirs to write, or that have none)
    write_status: bool = True
    source: str = "builtin"

    @property
    def key(self) -> str:
        return f"{self.group}/{self.kind}" if self.group else self.kind


def load_interpreters(path: str | Path) -> list[KindSpec]:
    """Read WorkloadInterpreter documents; every error names file, line and field."""
    out: list[KindSpec] = []
    for doc in load_file(path):
        out.append(_KindSpecParser(doc).parse())
    return out


class _KindSpecParser:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.r = Reader(doc)

    def _path(self, data: dict[str, object], path: PathKey, default: str | None) -> str | None:
        value = self.r.string(data, path, default=default)
        if isinstance(value, str) and value:
            try:
                parse(value)
            except PathSyntaxError as exc:
                self.r.fail(path, str(exc))
        return value if isinstance(value, str) or value is None else default

    def _pairs(self, data: dict[str, object], path: PathKey,
               phases: bool = True) -> tuple[tuple[str, str], ...]:
        raw = self.r.string_map(data, path)
        for k, v in raw.items():
            if phases and v not in PHASES:
                self.r.fail((*path, k), f"unknown phase {v!r}", hint="one of " +
                            ", ".join(PHASES))
        return tuple(raw.items())

    def _phase(self, data: dict[str, object], path: PathKey) -> str | None:
        value = self.r.string(data, path, default=None)
        if value is None:
            return None
        if value not in PHASES:
            self.r.fail(path, f"unknown phase {value!r}", hint="one of " + ", ".join(PHASES))
            return None
        return str(value)

    def parse(self) -> KindSpec:
        r = self.r
        top = r.mapping(self.doc.data, (), allowed={"apiVersion", "kind", "metadata", "spec"},
                        required=("apiVersion", "kind", "spec"))
        if top.get("kind") not in (None, "WorkloadInterpreter"):
            r.fail(("kind",), f"expected kind WorkloadInterpreter, got {top.get('kind')!r}")
        spec = r.mapping(top.get("spec"), ("spec",),
                         allowed={"target", "components", "health", "gang", "storageUris",
                                  "aggregate", "duplicated", "writeStatus"},
                         required=("target",))
        duplicated = r.boolean(spec, ("spec", "duplicated"))
        target = r.mapping(spec.get("target"), ("spec", "target"), allowed={"group", "kind"},
                           required=("kind",))
        comps = []
        for i, raw in enumerate(r.sequence(spec, ("spec", "components"))):
            p: PathKey = ("spec", "components", i)
            c = r.mapping(raw, p, allowed={"each", "name", "replicas", "defaultReplicas",
                                           "podSpec", "containers", "podsPerReplica"})
            containers = []
            for j, expr in enumerate(r.sequence(c, (*p, "containers"))):
                if not isinstance(expr, str):
                    r.fail((*p, "containers", j), "expected a path")
                    continue
                containers.append(expr)
            comps.append(ComponentRule(
                each=self._path(c, (*p, "each"), "") or "",
                name=r.string(c, (*p, "name"), default="$key" if c.get("each") else "main"),
                replicas=self._path(c, (*p, "replicas"), None),
                default_replicas=r.integer(c, (*p, "defaultReplicas"), default=1, minimum=0),
                pod_spec=self._path(c, (*p, "podSpec"), None),
                containers=tuple(containers),
                pods_per_replica=self._path(c, (*p, "podsPerReplica"), None),
            ))
        if not comps and not duplicated:
            r.fail(("spec", "components"), "a workload needs at least one component",
                   hint="or set duplicated: true for a kind without replicas")
        if comps and duplicated:
            r.fail(("spec", "components"), "a duplicated kind has no components",
                   hint="remove components, or duplicated: true")
        h = r.mapping(spec.get("health"), ("spec", "health"),
                      allowed={"conditions", "field", "values", "readyReplicas", "active",
                               "present"})
        agg = r.mapping(spec.get("aggregate"), ("spec", "aggregate"), allowed={"sum"})
        sums = [s for s in r.sequence(agg, ("spec", "aggregate", "sum")) if isinstance(s, str)]
        uris = [s for s in r.sequence(spec, ("spec", "storageUris")) if isinstance(s, str)]
        result = KindSpec(
            group=r.string(target, ("spec", "target", "group"), default=""),
            kind=r.string(target, ("spec", "target", "kind"), default=""),
            components=tuple(comps),
            health=HealthRule(
                conditions=self._pairs(h, ("spec", "health", "conditions")),
                field=self._path(h, ("spec", "health", "field"), None),
                values=self._pairs(h, ("spec", "health", "values")),
                ready_replicas=self._path(h, ("spec", "health", "readyReplicas"), None),
                active=self._path(h, ("spec", "health", "active"), None),
                present=self._phase(h, ("spec", "health", "present")),
            ),
            duplicated=duplicated,
            write_status=r.boolean(spec, ("spec", "writeStatus"), default=True),
            gang=r.boolean(spec, ("spec", "gang")),
            storage_uris=tuple(uris),
            sum_fields=tuple(sums),
            source=self.doc.file,
        )
        r.raise_if_errors()
        return result
