"""Parse, default and validate fedctl.dev/v1alpha1 objects from YAML.

    objs = load_policies(text, "policy.yaml")   # list of PropagationPolicy | OverridePolicy
                                                # | MemberCluster, or raises InputErrors

Every document of the stream is checked and every error is reported with file, line and
field path; if any document has an error, nothing is returned (nothing is half-loaded).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from federation.errors import InputError, InputErrors
from policies.models import (
    API_VERSION,
    KIND_BY_NAME,
    NAME_PATTERN,
    MemberCluster,
    MemberClusterSpec,
    ModelSubscriptionSpec,
    ObjectMeta,
    OverridePolicy,
    PolicyObject,
    PropagationPolicy,
)
from policies.reader import Reader, did_you_mean
from policies.schema import Decoder
from policies.source import Document, load_documents, load_file

_META_FIELDS = (
    "name", "namespace", "labels", "annotations", "generation",
    # set by the API server; accepted so `kubectl get -o yaml` output parses
    "uid", "resourceVersion", "creationTimestamp", "managedFields", "finalizers",
    "ownerReferences", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds",
    "selfLink",
)
_NAME_RE = re.compile(NAME_PATTERN)


def load_policies(text: str, file: str = "<input>") -> list[PolicyObject]:
    return parse_documents(load_documents(text, file))


def load_policy_file(path: str | Path) -> list[PolicyObject]:
    return parse_documents(load_file(path))


def parse_documents(docs: list[Document]) -> list[PolicyObject]:
    """All objects of all documents, or ``InputErrors`` listing every problem."""
    errors: list[InputError] = []
    parsed: list[tuple[Document, PolicyObject]] = []
    for doc in docs:
        try:
            parsed.append((doc, parse_document(doc)))
        except InputErrors as exc:
            errors.extend(exc.errors)
    seen: dict[tuple[str, str | None, str], Document] = {}
    for doc, obj in parsed:
        key = (obj.kind, obj.metadata.namespace, obj.metadata.name)
        if key in seen:
            errors.append(doc.error(("metadata", "name"),
                                    f"duplicate {obj.kind} {obj.metadata.name!r}",
                                    hint=f"first defined at line {seen[key].start_line}"))
        seen.setdefault(key, doc)
    if errors:
        raise InputErrors(errors)
    return [obj for _, obj in parsed]


def parse_document(doc: Document) -> PolicyObject:
    r = Reader(doc)
    top = r.mapping(doc.data, (), allowed=("apiVersion", "kind", "metadata", "spec", "status"),
                    required=("apiVersion", "kind", "metadata", "spec"))
    api_version = top.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        r.fail(("apiVersion",), f"unsupported apiVersion {api_version!r}",
               hint=f"use {API_VERSION}")
    kind = top.get("kind")
    info = None
    if kind is not None:
        if not isinstance(kind, str) or kind not in KIND_BY_NAME:
            r.fail(("kind",), f"unknown kind {kind!r}",
                   hint=did_you_mean(str(kind), KIND_BY_NAME)
                   or f"one of: {', '.join(KIND_BY_NAME)}")
        else:
            info = KIND_BY_NAME[kind]
    if info is None:
        r.raise_if_errors()
        raise InputErrors([doc.error((), "not a fedctl object")])  # pragma: no cover
    meta = _metadata(r, top.get("metadata"), namespaced=info.namespaced)
    dec = Decoder(r)
    spec = dec.model(info.spec, top.get("spec"), ("spec",))
    status = None
    if top.get("status") is not None:
        status = dec.model(info.status, top.get("status"), ("status",))
    if info.model is PropagationPolicy or info.model is OverridePolicy:
        _check_selectors(r, spec, meta, cluster_scoped=not info.namespaced)
    if info.model is MemberCluster and isinstance(spec, MemberClusterSpec) and not spec.zone:
        spec = _with_zone(spec)
    if isinstance(spec, ModelSubscriptionSpec):
        spec = _with_uri_fields(spec)
    r.raise_if_errors()
    obj: PolicyObject = info.model(kind=info.kind, metadata=meta, spec=spec, status=status)
    return obj


def _with_zone(spec: MemberClusterSpec) -> MemberClusterSpec:
    return replace(spec, zone=spec.region)


def _with_uri_fields(spec: ModelSubscriptionSpec) -> ModelSubscriptionSpec:
    """Each workload's uriField defaulted from its kind (InferenceService)."""
    return replace(spec, workloads=tuple(
        w if w is None or w.uri_field else replace(w, uri_field=w.effective_uri_field or None)
        for w in spec.workloads))


def _metadata(r: Reader, raw: Any, *, namespaced: bool) -> ObjectMeta:
    m = r.mapping(raw, ("metadata",), allowed=_META_FIELDS, required=("name",))
    name = r.string(m, ("metadata", "name"), default="")
    if name and (len(name) > 253 or not _NAME_RE.fullmatch(name)):
        r.fail(("metadata", "name"), f"invalid name {name!r}",
               hint="use lower-case letters, digits, '-' and '.'")
    namespace = r.string(m, ("metadata", "namespace"), default=None)
    if namespace is not None and not namespaced:
        r.fail(("metadata", "namespace"), "this kind is cluster-scoped and has no namespace",
               hint="remove metadata.namespace")
    if namespaced and namespace is None:
        namespace = "default"
    generation = r.integer(m, ("metadata", "generation"), default=0, minimum=0)
    return ObjectMeta(
        name=name,
        namespace=namespace,
        labels=tuple(sorted(r.string_map(m, ("metadata", "labels")).items())),
        annotations=tuple(sorted(r.string_map(m, ("metadata", "annotations")).items())),
        generation=generation,
    )


def _check_selectors(r: Reader, spec: Any, meta: ObjectMeta, *, cluster_scoped: bool) -> None:
    selectors = getattr(spec, "resource_selectors", ()) or ()
    for i, sel in enumerate(selectors):
        if sel is None or sel.namespace is None or cluster_scoped:
            continue
        if sel.namespace != meta.namespace:
            r.fail(("spec", "resourceSelectors", i, "namespace"),
                   f"a namespaced policy selects only in its own namespace "
                   f"({meta.namespace}), not {sel.namespace!r}",
                   hint="remove the namespace or use a cluster-scoped policy")
