"""Which kinds a cluster serves and which of them the hub watches (pure: no I/O).

API discovery (``federation.hub.discovery``) yields one ``ServedKind`` per resource and
served version. From them:

- ``installed_idents``: what a member's snapshot carries in ``installed_kinds``: for every
  kind ``group/Kind`` and, per served version, ``group/version/Kind`` (the core group:
  ``Kind`` and ``v1/Kind``). The scheduler's ``kindInstalled`` filter reads the versions
  from it (``ClusterSnapshot.kind_versions``).
- ``plan_watches``: the template watches of the hub: every namespaced kind an interpreter
  knows (built-in or ``--interpreter``) at every version the hub serves it, and the kinds
  with an interpreter but no resource on the hub (reported, not silently skipped).
- ``authored_version``: a kind served at several versions (MPIJob ``kubeflow.org/v1`` and
  ``v2beta1``) is watched at each, and each object belongs to the watch of the version
  its author wrote it in (``metadata.managedFields``), so a ``v1`` template is routed to
  members serving ``v1`` and a ``v2beta1`` one to those serving ``v2beta1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class ServedKind:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def ident(self) -> str:
        return f"{self.group}/{self.kind}" if self.group else self.kind

    @property
    def version_ident(self) -> str:
        return f"{self.api_version}/{self.kind}"


def parse_resources(group: str, version: str, doc: Mapping[str, Any]) -> list[ServedKind]:
    """The kinds of one ``APIResourceList`` (``/api/v1`` or ``/apis/group/version``);
    subresources (``pods/status``) are not kinds."""
    out = []
    for r in doc.get("resources") or []:
        name, kind = str(r.get("name") or ""), str(r.get("kind") or "")
        if not name or not kind or "/" in name:
            continue
        out.append(ServedKind(group, version, kind, name, bool(r.get("namespaced", True))))
    return out


def installed_idents(served: Iterable[ServedKind]) -> frozenset[str]:
    """``group/Kind`` and ``group/version/Kind`` of each served kind (core: ``Kind``,
    ``v1/Kind``)."""
    out: set[str] = set()
    for s in served:
        out.add(s.ident)
        out.add(s.version_ident)
    return frozenset(out)


def snake(kind: str) -> str:
    """``ConfigMap`` -> ``config_map`` (the Kubernetes client's method names)."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower()
                   for i, c in enumerate(kind))


def is_versioned(ident: str) -> bool:
    """``group/version/Kind`` or ``v1/Kind`` (not ``group/Kind`` or ``Kind``)."""
    head, _, _ = ident.rpartition("/")
    return "/" in head or (head.startswith("v") and head[1:2].isdigit())


def split_ident(ident: str) -> tuple[str, str]:
    """``kubeflow.org/PyTorchJob`` -> (group, kind); ``Pod`` -> ("", "Pod")."""
    group, _, kind = ident.rpartition("/")
    return group, kind


@dataclass(frozen=True, slots=True)
class WatchPlan:
    watches: tuple[ServedKind, ...]  # sorted; one per (group, kind, version)
    # (group, kind) -> the version an object belongs to when its author is unknown (the
    # group's preferred version), for kinds watched at more than one version
    default_version: Mapping[tuple[str, str], str]
    missing: tuple[str, ...]  # interpretable kinds the hub does not serve ("group/Kind")
    cluster_scoped: tuple[str, ...]  # interpretable kinds served cluster-scoped (skipped)


def plan_watches(served: Iterable[ServedKind], interpretable: Iterable[tuple[str, str]],
                 preferred: Mapping[str, str]) -> WatchPlan:
    """The template watches for what the hub serves and its interpreters know.
    ``preferred``: group -> its preferred version (discovery's ``preferredVersion``)."""
    wanted = set(interpretable)
    by_kind: dict[tuple[str, str], list[ServedKind]] = {}
    for s in served:
        if (s.group, s.kind) in wanted:
            by_kind.setdefault((s.group, s.kind), []).append(s)
    watches: list[ServedKind] = []
    defaults: dict[tuple[str, str], str] = {}
    scoped: list[str] = []
    for key, kinds in by_kind.items():
        namespaced = sorted({k for k in kinds if k.namespaced})
        if not namespaced:
            scoped.append(kinds[0].ident)
            continue
        watches += namespaced
        if len(namespaced) > 1:
            versions = [k.version for k in namespaced]
            pref = preferred.get(key[0])
            defaults[key] = pref if pref in versions else versions[0]
    missing = sorted(f"{g}/{k}" if g else k for g, k in wanted - set(by_kind))
    return WatchPlan(tuple(sorted(watches)), defaults, tuple(missing),
                     tuple(sorted(scoped)))


def authored_version(obj: Mapping[str, Any], group: str, ignore_manager: str,
                     default: str) -> str:
    """The version of ``group`` the object's spec was last written in by someone other
    than ``ignore_manager`` (the hub itself): the newest ``metadata.managedFields`` entry
    of the main resource (not a subresource such as ``status``); ``default`` when no
    entry says."""
    best: tuple[str, str] | None = None
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("manager") == ignore_manager:
            continue
        if entry.get("subresource"):
            continue
        api_version = str(entry.get("apiVersion") or "")
        entry_group, _, version = api_version.rpartition("/")
        if entry_group != group or not version:
            continue
        when = str(entry.get("time") or "")
        if best is None or when >= best[0]:
            best = (when, version)
    return best[1] if best is not None else default
