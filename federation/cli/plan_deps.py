"""A plan's input file: one workload plus the objects its pods reference (pure).

Upstream samples ship a workload with what it needs (a RayJob and the ConfigMap holding its
script). ``split_workload`` finds the one workload among the documents: with one document
it is that document, whatever its kind; with several, the v1 ConfigMaps, Secrets and
ServiceAccounts are the other objects and exactly one document must be something else.

``plan_dependencies`` then does what the hub does (``federation.hub.deps``): the workload's
references (``federation.syncer.dependencies.referenced``) plus the pull secrets of a
referenced ServiceAccount given in the file follow the workload to its clusters; a copy is
rendered for each as the hub would (a service-account token Secret is refused); a
referenced object that is not in the file is what the hub reports as
``DependenciesApplied=False`` (unless it already exists there), an optional one is
skipped. File objects the workload does not reference are listed apart: the hub
propagates them only when a policy selects them in their own right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from federation.errors import InputError
from federation.interpreters.interpreter import Interpreters
from federation.syncer.dependencies import (
    KINDS,
    SERVICE_ACCOUNT,
    Dependency,
    DependencyError,
    referenced,
    render_dependency,
    service_account_pull_secrets,
)
from policies.source import Document

State = Literal["follows", "missing", "optional-missing", "not-propagated"]
_NO_PROPAGATION = "not propagated: the policy sets propagateDeps: false"


@dataclass(frozen=True, slots=True)
class PlannedDependency:
    dep: Dependency
    state: State
    line: int | None  # where the object starts in the file (None: not in it)

    @property
    def ref(self) -> str:
        return f"{self.dep.kind} {self.dep.namespace}/{self.dep.name}"

    def note(self) -> str:
        """What happens to it, in words (as the hub reports it for a missing one)."""
        if self.state == "follows":
            return f"line {self.line}"
        if self.state == "not-propagated":
            return _NO_PROPAGATION + (f" (line {self.line})" if self.line else "")
        if self.state == "optional-missing":
            return "optional, not in the file: the pods start without it"
        return (f"MISSING from the file: unless the hub has it, the hub reports "
                f"DependenciesApplied=False: {self.ref} does not exist on the hub; create it "
                f"there (the pods need it)")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.dep.kind, "namespace": self.dep.namespace,
                "name": self.dep.name, "optional": self.dep.optional, "state": self.state,
                "line": self.line}


def _object_key(doc: Document) -> tuple[str, str, str]:
    meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
    name = meta.get("name")
    return (str(doc.data.get("kind")), namespace or "default",
            name if isinstance(name, str) else "")


def describe(doc: Document) -> str:
    kind, namespace, name = _object_key(doc)
    return f"{kind} {namespace}/{name or '<no name>'} (line {doc.start_line})"


def _is_referencable(doc: Document) -> bool:
    return doc.data.get("apiVersion") == "v1" and doc.data.get("kind") in KINDS


def split_workload(docs: Sequence[Document], file: str) -> tuple[Document, list[Document]]:
    """(the workload, the ConfigMaps/Secrets/ServiceAccounts beside it)."""
    for doc in docs:
        if not isinstance(doc.data, dict):
            raise InputError("expected a Kubernetes object (a mapping)", file=doc.file,
                             line=doc.start_line)
    if not docs:
        raise InputError("no workload found: the file holds no documents", file=file,
                         hint="give the workload to plan")
    if len(docs) == 1:
        return docs[0], []
    workloads = [d for d in docs if not _is_referencable(d)]
    others = [d for d in docs if _is_referencable(d)]
    if not workloads:
        raise InputError(
            f"no workload found among {len(docs)} documents: "
            + ", ".join(describe(d) for d in docs), file=file, line=docs[0].start_line,
            hint="add the workload (a Deployment, Job, RayJob, ...) that references them")
    if len(workloads) > 1:
        raise InputError(
            f"found {len(workloads)} workloads: " + ", ".join(describe(d) for d in workloads),
            file=file, line=workloads[1].start_line,
            hint="plan one workload per file; the other documents may only be the "
                 "ConfigMaps, Secrets and ServiceAccounts it references")
    return workloads[0], others


def plan_dependencies(workload: Document, others: Sequence[Document], propagate: bool,
                      interpreters: Interpreters | None = None
                      ) -> tuple[list[PlannedDependency], list[Document]]:
    """(the workload's referenced objects and what becomes of them, unreferenced objects)."""
    interp = interpreters or Interpreters()
    in_file: dict[tuple[str, str, str], Document] = {}
    for other in others:
        key = _object_key(other)
        if key in in_file:
            raise InputError(f"duplicate {key[0]} {key[1]}/{key[2]}", file=other.file,
                             line=other.start_line,
                             hint=f"first defined at line {in_file[key].start_line}")
        in_file[key] = other
    wanted = set(referenced(workload.data, interp))
    for d in list(wanted):
        sa = in_file.get((d.kind, d.namespace, d.name))
        if d.kind == SERVICE_ACCOUNT and sa is not None:
            wanted.update(service_account_pull_secrets(sa.data))
    # one entry per object: a pull secret that is also referenced elsewhere is not optional
    merged: dict[tuple[str, str, str], Dependency] = {}
    for d in sorted(wanted):
        key = (d.kind, d.namespace, d.name)
        prev = merged.get(key)
        merged[key] = d if prev is None or prev.optional else prev
    planned = []
    for key, d in sorted(merged.items()):
        doc = in_file.get(key)
        if doc is not None:
            try:
                render_dependency(doc.data, ["plan"])
            except DependencyError as exc:
                raise InputError(exc.message, file=doc.file, line=doc.start_line,
                                 hint=exc.hint) from None
        if not propagate:
            state: State = "not-propagated"
        elif doc is not None:
            state = "follows"
        else:
            state = "optional-missing" if d.optional else "missing"
        planned.append(PlannedDependency(d, state, doc.start_line if doc else None))
    unreferenced = [o for key, o in in_file.items() if key not in merged]
    return planned, unreferenced
