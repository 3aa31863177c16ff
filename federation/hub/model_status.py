"""What the hub knows about one ModelSubscription, and its ``status`` (pure, no I/O).

``SubscriptionState`` is the hub's record of a subscription: the version its channel points
at (desired), the version its workloads serve (switched) and the one before (last good),
each selected cluster's staging of the desired version, and what each cluster serves. It is
written to the subscription's status and read back from it when a hub starts (a restarted
or newly elected hub continues from there: nothing else is needed to resume).

The switch rule: the workloads are switched to the desired version only when every selected
cluster holds it Verified in its own store; until then every cluster keeps serving what it
served (a cluster whose staging failed says why, and blocks the switch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

STATES = ("Pending", "Copying", "Verified", "Failed")
CONDITION_TYPES = ("Ready", "ClustersSelected", "SourceReachable", "Staged")


@dataclass(frozen=True, slots=True)
class Stage:
    """One cluster's staging of one version."""

    cluster: str
    store: str
    variant: str
    version: str
    uri: str  # the cluster-local mirror of the version's variant
    state: str = "Pending"
    bytes_done: int = 0
    bytes_total: int = 0
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Serving:
    version: str
    uri: str


@dataclass(frozen=True, slots=True)
class Condition:
    status: str
    reason: str
    message: str = ""
    since: str = ""


@dataclass
class SubscriptionState:
    desired: str | None = None
    switched: str | None = None
    last_good: str | None = None
    stages: dict[str, Stage] = field(default_factory=dict)  # cluster -> desired's staging
    serving: dict[str, Serving] = field(default_factory=dict)  # cluster -> what it serves
    conditions: dict[str, Condition] = field(default_factory=dict)

    # ---- transitions -------------------------------------------------------------------
    def set_condition(self, kind: str, status: str, reason: str, message: str,
                      now: str) -> bool:
        """Set a condition; True when it changed (its transition time moves only when its
        status does)."""
        old = self.conditions.get(kind)
        since = old.since if old is not None and old.status == status else now
        new = Condition(status, reason, message[:500], since)
        self.conditions[kind] = new
        return old != new

    def plan(self, version: str, targets: Iterable[Stage]) -> None:
        """Stage ``version`` on these targets: a cluster already holding it keeps its
        state (a re-plan after a restart or a fleet change does not forget progress)."""
        old = self.stages if self.desired == version else {}
        self.desired = version
        self.stages = {}
        for t in targets:
            prev = old.get(t.cluster)
            keep = prev is not None and (prev.store, prev.variant, prev.uri) == (
                t.store, t.variant, t.uri)
            self.stages[t.cluster] = prev if keep and prev is not None else t

    def update(self, cluster: str, **changes: Any) -> bool:
        stage = self.stages.get(cluster)
        if stage is None:
            return False
        new = replace(stage, **changes)
        self.stages[cluster] = new
        return new != stage

    def all_verified(self) -> bool:
        return bool(self.stages) and all(s.state == "Verified" and s.version == self.desired
                                         for s in self.stages.values())

    def failed(self) -> list[Stage]:
        return [s for s in self.stages.values() if s.state == "Failed"]

    def switch(self) -> bool:
        """Point every selected cluster at its verified mirror of the desired version;
        False (nothing changes) unless all are verified."""
        if not self.all_verified() or self.desired is None:
            return False
        if self.switched != self.desired:
            self.last_good = self.switched
            self.switched = self.desired
        self.serving = {c: Serving(s.version, s.uri) for c, s in self.stages.items()}
        return True

    def in_use(self, cluster: str) -> frozenset[str]:
        """Versions that must not be deleted from ``cluster``'s store: the one it serves,
        the last good one (rollback target) and the one being staged."""
        out = {v for v in (self.last_good, self.desired) if v}
        serving = self.serving.get(cluster)
        if serving is not None:
            out.add(serving.version)
        return frozenset(out)


# ---- status <-> state -----------------------------------------------------------------
def to_status(state: SubscriptionState, generation: int | None) -> dict[str, Any]:
    clusters = []
    for name in sorted(set(state.stages) | set(state.serving)):
        stage, serving = state.stages.get(name), state.serving.get(name)
        entry: dict[str, Any] = {"cluster": name}
        if stage is not None:
            entry.update({"store": stage.store, "variant": stage.variant,
                          "version": stage.version, "state": stage.state,
                          "bytesDone": stage.bytes_done, "bytesTotal": stage.bytes_total,
                          "reason": stage.reason, "message": stage.message[:1000],
                          "uri": stage.uri})
        if serving is not None:
            entry.update({"servingVersion": serving.version, "servingUri": serving.uri})
        clusters.append(entry)
    out: dict[str, Any] = {
        "desiredVersion": state.desired or "",
        "switchedVersion": state.switched or "",
        "lastGoodVersion": state.last_good or "",
        "clusters": clusters,
        "conditions": [{"type": k, "status": c.status, "reason": c.reason,
                        "message": c.message, "lastTransitionTime": c.since}
                       for k, c in sorted(state.conditions.items(),
                                          key=lambda kv: _cond_order(kv[0]))],
    }
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def from_status(status: Mapping[str, Any] | None) -> SubscriptionState:
    status = status or {}
    state = SubscriptionState(desired=status.get("desiredVersion") or None,
                              switched=status.get("switchedVersion") or None,
                              last_good=status.get("lastGoodVersion") or None)
    for e in status.get("clusters") or []:
        if not isinstance(e, Mapping) or not e.get("cluster"):
            continue
        name = str(e["cluster"])
        if e.get("version"):
            st = str(e.get("state") or "Pending")
            # a copy in flight when the hub stopped is re-checked from the start
            st = "Pending" if st == "Copying" or st not in STATES else st
            state.stages[name] = Stage(
                cluster=name, store=str(e.get("store") or ""),
                variant=str(e.get("variant") or "default"), version=str(e["version"]),
                uri=str(e.get("uri") or ""), state=st,
                bytes_done=int(e.get("bytesDone") or 0),
                bytes_total=int(e.get("bytesTotal") or 0),
                reason=str(e.get("reason") or ""), message=str(e.get("message") or ""))
        if e.get("servingVersion"):
            state.serving[name] = Serving(str(e["servingVersion"]),
                                          str(e.get("servingUri") or ""))
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type"):
            state.conditions[str(c["type"])] = Condition(
                str(c.get("status") or "Unknown"), str(c.get("reason") or ""),
                str(c.get("message") or ""), str(c.get("lastTransitionTime") or ""))
    return state


def _cond_order(kind: str) -> tuple[int, str]:
    return (CONDITION_TYPES.index(kind) if kind in CONDITION_TYPES else 99, kind)


# ---- what others read -------------------------------------------------------------------
def model_refs(model: str, channel: str) -> tuple[str, ...]:
    """The URIs a workload may use to name the subscribed model (switched per cluster):
    ``models:/NAME@CHANNEL``, ``models:/NAME/latest`` for the latest channel, and
    ``models:/NAME``."""
    refs = [f"models:/{model}@{channel}", f"models:/{model}"]
    if channel == "latest":
        refs.append(f"models:/{model}/latest")
    return tuple(refs)


def cached_uris(model: str, channel: str, state: SubscriptionState) -> dict[str, set[str]]:
    """Per cluster, the artifact URIs its store holds verified (placement's
    ``artifactCached``): the version's ``models:/`` names and its local mirror."""
    out: dict[str, set[str]] = {}
    for name, stage in state.stages.items():
        if stage.state != "Verified":
            continue
        uris = out.setdefault(name, set())
        uris.update({f"models:/{model}/{stage.version}", stage.uri})
        if stage.version == state.desired:
            uris.update(model_refs(model, channel))
    for name, serving in state.serving.items():
        out.setdefault(name, set()).update({f"models:/{model}/{serving.version}", serving.uri})
    return out


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uri_field: str


def field_values(state: SubscriptionState, workloads: Sequence[WorkloadRef],
                 refs: Sequence[str], api_version: str, kind: str, namespace: str,
                 name: str, storage_uris: Sequence[tuple[tuple[str | int, ...], str]],
                 cluster: str) -> list[tuple[str | tuple[str | int, ...], str]]:
    """The model URI fields of one template's copy on ``cluster``: the subscription's own
    workloads get ``uriField`` set, and any storage URI naming the model
    (``models:/NAME@CHANNEL``…) is replaced, both by the cluster's mirror of the switched
    version. Nothing before a switch, and nothing on a cluster that is not subscribed (its
    copy keeps the template's URI)."""
    serving = state.serving.get(cluster)
    if serving is None or not serving.uri:
        return []
    out: list[tuple[str | tuple[str | int, ...], str]] = []
    for w in workloads:
        if (w.api_version, w.kind, w.namespace, w.name) == (api_version, kind, namespace,
                                                             name):
            out.append((w.uri_field, serving.uri))
    out += [(path, serving.uri) for path, uri in storage_uris if uri in refs]
    return out
