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
          absent: remove                   # a copy without this component drops the entry
      health:
        conditions: {Succeeded: Succeeded, Failed: Failed, Running: Running}
      statusAggregation:                   # the hub template's status, from the copies
        sum: [status.replicaStatuses]      # numbers added up, per key / per list item name
        conditions:
          any: [Failed, Restarting]        # True when True in one copy; others need all
          order: [Created, Running, Restarting, Succeeded, Failed]
        worst:                             # the value of the worst copy (worst first)
          - {field: status.phase, order: [Failed, Pending, "", Running, Succeeded]}
        first: [status.url]                # from the first healthy copy (by cluster name)
        earliest: [status.startTime]
        latest: [status.completionTime]    # only once every copy has it

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
from typing import Any

from federation.errors import InputError, InputErrors
from federation.interpreters.paths import PathSyntaxError, parse
from policies.reader import Reader
from policies.source import Document, PathKey, load_documents, load_file

PHASES = ("Pending", "Running", "Ready", "Succeeded", "Failed")
# what a copy does with a component it has no replicas of (see ComponentRule.absent)
ABSENT = ("zero", "remove", "keep")


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
    # relative: pods each replica runs: the first count (1 when unset), at most each
    # further count that is set (a Job runs min(parallelism, completions) pods at once)
    pods_per_replica: tuple[str, ...] = ()
    # a copy that has none of this component's replicas: "zero" sets the replicas field to
    # 0, "remove" deletes the entry (a map key, a list item, or the component's mapping),
    # "keep" leaves it (a fixed part every copy needs, like a Ray head)
    absent: str = "zero"
    # relative counts that must not exceed the copy's replicas of this component (Volcano
    # task minAvailable, Ray minReplicas): lowered to the share when larger
    clamp: tuple[str, ...] = ()


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
class WorstRule:
    """A status field taken from the copy in the worst state.

    ``field`` is the value compared; ``copy`` (default: ``field``) is what is written, so a
    Volcano Job takes its whole ``status.state`` from the copy whose ``state.phase`` is
    worst. ``order`` lists values worst first, ``""`` standing for a copy without the field;
    values not listed rank last. Empty ``order``: the kind's health ``values`` map the
    value to a phase, ranked Failed > Pending (and absent) > Running > Ready > Succeeded.
    """

    field: str
    copy: str = ""
    order: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionMerge:
    """How ``status.conditions`` (Kubernetes conditions: type, status, reason, message)
    merge across copies: a type listed in ``any`` is True when True in any copy (Failed,
    Restarting); every other type is True only when True in every copy (Succeeded, Ready).
    Output order: False ones first, then True ones, each in ``order`` (types not listed
    after them, by name), so the last condition is the most advanced true state, as
    ``kubectl get`` columns reading ``conditions[-1:]`` expect."""

    any: tuple[str, ...] = ()
    order: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusAggregation:
    """How the hub template's status is built from the members' copies, in the kind's own
    fields (paths start with ``status.``)."""

    # added up: integers summed; mappings merged per key; lists of mappings merged per item
    # ``name`` (or ``type``); other values taken from the first copy by cluster name
    sum: tuple[str, ...] = ()
    conditions: ConditionMerge | None = None
    worst: tuple[WorstRule, ...] = ()
    first: tuple[str, ...] = ()  # from the first healthy copy (by cluster name), else any
    earliest: tuple[str, ...] = ()  # the earliest time any copy reports (startTime)
    latest: tuple[str, ...] = ()  # the latest time, once every copy reports it

    def top_keys(self) -> tuple[str, ...]:
        """Top-level status keys this aggregation writes."""
        exprs = [*self.sum, *(w.copy or w.field for w in self.worst), *self.first,
                 *self.earliest, *self.latest]
        if self.conditions is not None:
            exprs.append("status.conditions")
        return tuple(dict.fromkeys(status_path(e)[0] for e in exprs))


def status_path(expr: str) -> tuple[str, ...]:
    """Where a field goes in the hub's status: ``status.readyReplicas`` ->
    ``("readyReplicas",)``."""
    key = expr.split(".", 1)[1] if expr.startswith("status.") else expr
    return tuple(key.split("."))


@dataclass(frozen=True, slots=True)
class KindSpec:
    group: str
    kind: str
    components: tuple[ComponentRule, ...]
    health: HealthRule = field(default_factory=HealthRule)
    gang: bool = False  # training kinds: all replicas in one cluster by default
    # False: a copy with part of the replicas is not valid on its own (an MPIJob's copy
    # needs the one Launcher), so the scheduler never divides it
    divisible: bool = True
    storage_uris: tuple[str, ...] = ()  # paths of model URIs (storageUri...)
    aggregation: StatusAggregation = field(default_factory=StatusAggregation)
    # object counts that must not exceed the copy's total replicas (Volcano minAvailable)
    clamp_total: tuple[str, ...] = ()
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

    @property
    def sum_fields(self) -> tuple[str, ...]:
        return self.aggregation.sum


def load_interpreters(path: str | Path) -> list[KindSpec]:
    """Read WorkloadInterpreter documents; every error names file, line and field."""
    return _parse_all(load_file(path))


def parse_interpreters(text: str, source: str) -> list[KindSpec]:
    """WorkloadInterpreter documents from ``text`` (one or more, as in an
    ``--interpreter`` file); errors name ``source`` (e.g. a ConfigMap and key), the line
    and the field. Raises ``InputError`` (bad YAML) or ``InputErrors``."""
    docs = load_documents(text, source)
    if not docs:
        raise InputError("no WorkloadInterpreter document", file=source,
                         hint="write one or more WorkloadInterpreter documents")
    return _parse_all(docs)


def _parse_all(docs: list[Document]) -> list[KindSpec]:
    """Every document parsed; the errors of all of them raised together."""
    out: list[KindSpec] = []
    errors: list[InputError] = []
    for doc in docs:
        try:
            out.append(_KindSpecParser(doc).parse())
        except InputErrors as exc:
            errors.extend(exc.errors)
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return out


class _KindSpecParser:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.r = Reader(doc)

    def _check(self, value: str, path: PathKey, wildcards: bool) -> bool:
        try:
            segs = parse(value)
        except PathSyntaxError as exc:
            self.r.fail(path, str(exc))
            return False
        if not wildcards and any(s in ("*", "[*]") for s in segs):
            self.r.fail(path, f"path {value!r} must not contain wildcards",
                        hint="name one field (mappings and lists under it are taken whole)")
            return False
        return True

    def _path(self, data: dict[str, object], path: PathKey, default: str | None,
              wildcards: bool = True) -> str | None:
        value = self.r.string(data, path, default=default)
        if isinstance(value, str) and value:
            self._check(value, path, wildcards)
        return value if isinstance(value, str) or value is None else default

    def _paths(self, data: dict[str, Any], path: PathKey, *, wildcards: bool = True,
               scalar: bool = False) -> tuple[str, ...]:
        """A list of paths (or, with ``scalar``, also one path alone)."""
        raw = data.get(str(path[-1]))
        if scalar and isinstance(raw, str):
            return (raw,) if raw and self._check(raw, path, wildcards) else ()
        out = []
        for i, item in enumerate(self.r.sequence(data, path)):
            if not isinstance(item, str) or not item:
                self.r.fail((*path, i), "expected a path")
            elif self._check(item, (*path, i), wildcards):
                out.append(item)
        return tuple(out)

    def _strings(self, data: dict[str, Any], path: PathKey) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.r.sequence(data, path)):
            if isinstance(item, str):
                out.append(item)
            else:
                self.r.fail((*path, i), f"expected a string, got {type(item).__name__}")
        return tuple(out)

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

    def _component(self, raw: Any, p: PathKey) -> ComponentRule:
        r = self.r
        c = r.mapping(raw, p, allowed={"each", "name", "replicas", "defaultReplicas",
                                       "podSpec", "containers", "podsPerReplica", "absent",
                                       "clamp"})
        return ComponentRule(
            each=self._path(c, (*p, "each"), "") or "",
            name=r.string(c, (*p, "name"), default="$key" if c.get("each") else "main"),
            replicas=self._path(c, (*p, "replicas"), None, wildcards=False),
            default_replicas=r.integer(c, (*p, "defaultReplicas"), default=1, minimum=0),
            pod_spec=self._path(c, (*p, "podSpec"), None),
            containers=self._paths(c, (*p, "containers")),
            pods_per_replica=self._paths(c, (*p, "podsPerReplica"), wildcards=False,
                                         scalar=True),
            absent=r.string(c, (*p, "absent"), default="zero", choices=ABSENT),
            clamp=self._paths(c, (*p, "clamp"), wildcards=False),
        )

    def _aggregation(self, raw: Any, p: PathKey) -> StatusAggregation:
        r = self.r
        agg = r.mapping(raw, p, allowed={"sum", "conditions", "worst", "first", "earliest",
                                         "latest"})
        conditions = None
        if agg.get("conditions") is not None:
            cm = r.mapping(agg["conditions"], (*p, "conditions"), allowed={"any", "order"})
            conditions = ConditionMerge(any=self._strings(cm, (*p, "conditions", "any")),
                                        order=self._strings(cm, (*p, "conditions", "order")))
        worst = []
        for i, w in enumerate(r.sequence(agg, (*p, "worst"))):
            wp: PathKey = (*p, "worst", i)
            wm = r.mapping(w, wp, allowed={"field", "copy", "order"}, required=("field",))
            fld = self._path(wm, (*wp, "field"), None, wildcards=False)
            if fld:
                worst.append(WorstRule(
                    field=fld, copy=self._path(wm, (*wp, "copy"), "", wildcards=False) or "",
                    order=self._strings(wm, (*wp, "order"))))
        return StatusAggregation(
            sum=self._paths(agg, (*p, "sum"), wildcards=False),
            conditions=conditions, worst=tuple(worst),
            first=self._paths(agg, (*p, "first"), wildcards=False),
            earliest=self._paths(agg, (*p, "earliest"), wildcards=False),
            latest=self._paths(agg, (*p, "latest"), wildcards=False),
        )

    def parse(self) -> KindSpec:
        r = self.r
        top = r.mapping(self.doc.data, (), allowed={"apiVersion", "kind", "metadata", "spec"},
                        required=("apiVersion", "kind", "spec"))
        if top.get("kind") not in (None, "WorkloadInterpreter"):
            r.fail(("kind",), f"expected kind WorkloadInterpreter, got {top.get('kind')!r}")
        spec = r.mapping(top.get("spec"), ("spec",),
                         allowed={"target", "components", "health", "gang", "divisible",
                                  "storageUris", "statusAggregation", "clampTotal",
                                  "duplicated", "writeStatus"},
                         required=("target",))
        duplicated = r.boolean(spec, ("spec", "duplicated"))
        target = r.mapping(spec.get("target"), ("spec", "target"), allowed={"group", "kind"},
                           required=("kind",))
        comps = [self._component(raw, ("spec", "components", i))
                 for i, raw in enumerate(r.sequence(spec, ("spec", "components")))]
        if not comps and not duplicated:
            r.fail(("spec", "components"), "a workload needs at least one component",
                   hint="or set duplicated: true for a kind without replicas")
        if comps and duplicated:
            r.fail(("spec", "components"), "a duplicated kind has no components",
                   hint="remove components, or duplicated: true")
        h = r.mapping(spec.get("health"), ("spec", "health"),
                      allowed={"conditions", "field", "values", "readyReplicas", "active",
                               "present"})
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
            divisible=r.boolean(spec, ("spec", "divisible"), default=True),
            storage_uris=self._paths(spec, ("spec", "storageUris")),
            aggregation=self._aggregation(spec.get("statusAggregation"),
                                          ("spec", "statusAggregation")),
            clamp_total=self._paths(spec, ("spec", "clampTotal"), wildcards=False),
            source=self.doc.file,
        )
        r.raise_if_errors()
        return result
