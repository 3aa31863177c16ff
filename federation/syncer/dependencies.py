"""The ConfigMaps, Secrets and ServiceAccounts a workload references, and their copies (pure).

A workload propagated to a member only starts there if the objects its pods name exist
there too. This module finds them and renders the copies; the hub reads and applies them.

* ``referenced(workload)``: every ConfigMap, Secret and ServiceAccount the workload's pod
  specs name — volumes (``configMap``, ``secret``, ``projected`` sources), ``env[].valueFrom``
  key refs and ``envFrom`` of every container (init and ephemeral included), image pull
  secrets, and the service account (never ``default``, which every namespace has). Pod specs
  and containers come from the kind's interpreter, so built-in and declarative kinds behave
  alike.
* ``render_dependency(obj, referenced_by)``: the copy a member should hold. One ConfigMap can
  serve several workloads, so the copy is not labelled with one binding: it carries
  ``fedctl.dev/dependency=true`` plus the managed-by label, and the bindings that reference
  it in the ``fedctl.dev/referenced-by`` annotation (``merge_referrers`` maintains it). A copy
  whose referrers become empty should be deleted by the caller; binding-label prune never
  selects dependency copies.
* ``label_pod_templates(workload, labels)``: puts labels on every pod template, so a
  member's pods can be traced back to their binding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.errors import FedctlError
from federation.interpreters import paths
from federation.interpreters.interpreter import Interpreters
from federation.model.labels import (
    DEPENDENCY_LABEL,
    DEPENDENCY_VALUE,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    REFERENCED_BY_ANNOTATION,
)

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
SERVICE_ACCOUNT = "ServiceAccount"
KINDS = (CONFIG_MAP, SECRET, SERVICE_ACCOUNT)
DEFAULT_SERVICE_ACCOUNT = "default"
DEFAULT_NAMESPACE = "default"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"

_FEDCTL_PREFIX = "fedctl.dev/"
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
# Fields copied per kind; everything else (status, ServiceAccount.secrets, ...) is dropped.
_BODY_FIELDS = {
    CONFIG_MAP: ("data", "binaryData", "immutable"),
    SECRET: ("type", "data", "stringData", "immutable"),
    SERVICE_ACCOUNT: ("imagePullSecrets", "automountServiceAccountToken"),
}
# Kinds whose pod spec is inline (not under a pod template's ``spec``), with the key of the
# component's field whose labels the operator copies to the pods. KServe's
# ComponentExtensionSpec (predictor, transformer, explainer) has ``labels`` and
# ``annotations`` "that will be added to the component pod".
_INLINE_POD_LABELS = {"serving.kserve.io/InferenceService": "labels"}


class DependencyError(FedctlError):
    """A referenced object cannot be rendered for a member."""


class TokenSecretNotPropagatable(DependencyError):
    """A service-account token Secret: each cluster's token controller fills its own."""


@dataclass(frozen=True, slots=True, order=True)
class Dependency:
    kind: str  # "ConfigMap" | "Secret" | "ServiceAccount"
    namespace: str
    name: str
    # True only when every reference to it is marked ``optional: true`` (a volume, key ref
    # or envFrom): the pod starts without it. Image pull secrets and the service account
    # are never optional here.
    optional: bool = False


_Add = Callable[[str, Any, bool], None]


def referenced(obj: Mapping[str, Any], interpreters: Interpreters) -> list[Dependency]:
    """Every ConfigMap, Secret and ServiceAccount the workload's pods reference.

    Sorted and de-duplicated by (kind, namespace, name); a dependency is ``optional`` only
    if all of its references are. The namespace is the workload's (``default`` when it has
    none, as for a manifest without one). Pod specs are the interpreter's component pod
    specs (the parent of every ``containers[i]`` path it reports); containers are the
    interpreter's container paths (init containers and KServe's ``model`` included) plus
    any ``ephemeralContainers`` of a pod spec. The service account is ``serviceAccountName``,
    or the deprecated ``serviceAccount`` when that is empty (the API server's rule), and
    never ``default``. Raises ``UnsupportedKind`` for a kind no interpreter knows.
    """
    namespace = _namespace(obj)
    optional_by_ref: dict[tuple[str, str], bool] = {}

    def add(kind: str, name: Any, optional: bool) -> None:
        if not isinstance(name, str) or not name:
            return
        if kind == SERVICE_ACCOUNT and name == DEFAULT_SERVICE_ACCOUNT:
            return
        key = (kind, name)
        optional_by_ref[key] = optional_by_ref.get(key, True) and optional

    for comp in interpreters.components(obj):
        containers = [paths.get_at(obj, p) for p in comp.container_paths]
        if comp.pod_spec_path is not None:
            pod = paths.get_at(obj, comp.pod_spec_path)
            if isinstance(pod, dict):
                _pod_refs(pod, add)
                containers.extend(_dicts(pod.get("ephemeralContainers")))
        for container in containers:
            if isinstance(container, dict):
                _container_refs(container, add)
    return sorted(Dependency(kind, namespace, name, optional)
                  for (kind, name), optional in optional_by_ref.items())


def service_account_pull_secrets(service_account: Mapping[str, Any]) -> list[Dependency]:
    """The Secrets a ServiceAccount's ``imagePullSecrets`` name (they go along with it)."""
    if service_account.get("kind") != SERVICE_ACCOUNT:
        return []
    namespace = _namespace(service_account)
    names = {ref.get("name") for ref in _dicts(service_account.get("imagePullSecrets"))}
    return sorted(Dependency(SECRET, namespace, n) for n in names if isinstance(n, str) and n)


def _pod_refs(pod: Mapping[str, Any], add: _Add) -> None:
    for volume in _dicts(pod.get("volumes")):
        _ref(add, CONFIG_MAP, volume.get("configMap"), "name")
        _ref(add, SECRET, volume.get("secret"), "secretName")
        for source in _dicts(_dict(volume.get("projected")).get("sources")):
            _ref(add, CONFIG_MAP, source.get("configMap"), "name")
            _ref(add, SECRET, source.get("secret"), "name")
    for ref in _dicts(pod.get("imagePullSecrets")):
        add(SECRET, ref.get("name"), False)
    add(SERVICE_ACCOUNT, pod.get("serviceAccountName") or pod.get("serviceAccount"), False)


def _container_refs(container: Mapping[str, Any], add: _Add) -> None:
    for env in _dicts(container.get("env")):
        value_from = _dict(env.get("valueFrom"))
        _ref(add, CONFIG_MAP, value_from.get("configMapKeyRef"), "name")
        _ref(add, SECRET, value_from.get("secretKeyRef"), "name")
    for env_from in _dicts(container.get("envFrom")):
        _ref(add, CONFIG_MAP, env_from.get("configMapRef"), "name")
        _ref(add, SECRET, env_from.get("secretRef"), "name")


def _ref(add: _Add, kind: str, ref: Any, name_key: str) -> None:
    if isinstance(ref, dict):
        add(kind, ref.get(name_key), ref.get("optional") is True)


# ---- copies for members ------------------------------------------------------------------
def render_dependency(obj: Mapping[str, Any], referenced_by: Iterable[str]) -> dict[str, Any]:
    """The copy of a ConfigMap, Secret or ServiceAccount to server-side apply on a member.

    ``apiVersion: v1``, the kind, and metadata with only name, namespace, labels and
    annotations: the source's labels without ``fedctl.dev/*`` ones (a stale binding label
    would let a binding's prune delete a shared copy) plus managed-by and
    ``fedctl.dev/dependency=true``; the source's annotations without
    ``kubectl.kubernetes.io/last-applied-configuration`` and ``fedctl.dev/*``, plus
    ``fedctl.dev/referenced-by`` = the sorted, comma-separated ``referenced_by`` bindings.
    Body: ``data``/``binaryData``/``immutable`` (ConfigMap), ``type``/``data``/
    ``stringData``/``immutable`` (Secret), ``imagePullSecrets``/
    ``automountServiceAccountToken`` (ServiceAccount; never ``secrets``, the token Secrets
    each cluster generates). Everything server-generated is dropped.

    Raises ``TokenSecretNotPropagatable`` for a ``kubernetes.io/service-account-token``
    Secret, and ``DependencyError`` for another kind, a missing name or no referrer.
    """
    kind = obj.get("kind")
    meta = _dict(obj.get("metadata"))
    name = meta.get("name")
    if obj.get("apiVersion") != "v1" or kind not in _BODY_FIELDS:
        raise DependencyError(
            f"cannot propagate {obj.get('apiVersion')}/{kind} {name!r} as a dependency",
            hint="only v1 ConfigMap, Secret and ServiceAccount are propagated with workloads")
    if not isinstance(name, str) or not name:
        raise DependencyError(f"{kind} without metadata.name cannot be propagated")
    namespace = _namespace(obj)
    if kind == SECRET and obj.get("type") == TOKEN_SECRET_TYPE:
        raise TokenSecretNotPropagatable(
            f"Secret {namespace}/{name} is a service-account token "
            f"({TOKEN_SECRET_TYPE}) and cannot be propagated: its token is only valid on "
            "the cluster that issued it",
            hint="reference the ServiceAccount instead (serviceAccountName or a projected "
                 "serviceAccountToken volume); each member issues its own tokens")
    referrers = merge_referrers(None, set(referenced_by), set())
    if not referrers:
        raise DependencyError(
            f"{kind} {namespace}/{name} is referenced by no binding",
            hint="delete its copies from the members instead of applying them")
    labels = {k: v for k, v in _dict(meta.get("labels")).items()
              if not str(k).startswith(_FEDCTL_PREFIX)}
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    labels[DEPENDENCY_LABEL] = DEPENDENCY_VALUE
    annotations = {k: v for k, v in _dict(meta.get("annotations")).items()
                   if k not in _DROP_ANNOTATIONS and not str(k).startswith(_FEDCTL_PREFIX)}
    annotations[REFERENCED_BY_ANNOTATION] = referrers
    out: dict[str, Any] = {
        "apiVersion": "v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": annotations},
    }
    for key in _BODY_FIELDS[kind]:
        if key in obj and obj[key] is not None:
            out[key] = copy.deepcopy(obj[key])
    return out


def parse_referrers(annotation: str | None) -> frozenset[str]:
    """The bindings in a ``fedctl.dev/referenced-by`` value (blanks and spaces ignored)."""
    if not annotation:
        return frozenset()
    return frozenset(part.strip() for part in annotation.split(",") if part.strip())


def merge_referrers(existing_annotation: str | None, add: set[str], remove: set[str]) -> str:
    """The new ``fedctl.dev/referenced-by`` value: (existing | add) - remove, as sets.

    ``existing_annotation`` is the copy's current value (``None`` or empty: no referrers;
    blanks and surrounding spaces are tolerated). ``remove`` wins over ``add`` for a
    binding in both. The result is canonical — sorted, de-duplicated, comma-separated,
    no spaces — so equal sets give equal strings and an unchanged set causes no write.
    An empty result means no binding references the copy any more: delete it. Removing
    a binding that is not there is a no-op. Raises ``DependencyError`` for an added name
    that is empty or contains a comma or whitespace (binding labels never do).
    """
    for binding in add:
        if not binding or "," in binding or any(c.isspace() for c in binding):
            raise DependencyError(f"invalid binding name {binding!r} for "
                                  f"{REFERENCED_BY_ANNOTATION}",
                                  hint="binding names are label values: no commas or spaces")
    return ",".join(sorted((parse_referrers(existing_annotation) | add) - remove))


# ---- pod template labels -----------------------------------------------------------------
def label_pod_templates(obj: dict[str, Any], interpreters: Interpreters,
                        labels: Mapping[str, str]) -> None:
    """Add ``labels`` to every pod template of the workload, in place.

    For a pod spec at ``<template>.spec`` (Deployment ``spec.template.spec``, PyTorchJob
    ``spec.pytorchReplicaSpecs.<role>.template.spec``, JobSet, Ray, Volcano, ...) the labels
    go to ``<template>.metadata.labels``; for a Pod (pod spec ``spec``) to its own
    ``metadata.labels``. An InferenceService component's pod spec is inline in
    ``spec.predictor`` (``transformer``, ``explainer``); KServe copies that component's
    ``labels`` field to its pods, so they go to ``spec.predictor.labels``. Components without
    a pod spec (TrainJob: its pods come from a runtime) or with a pod spec that is neither
    shape (a declarative kind with an inline pod spec) are left alone. Given labels replace
    existing values of the same key; selectors are never read or written.
    """
    inline_key = _INLINE_POD_LABELS.get(interpreters.spec_for(obj).key)
    for comp in interpreters.components(obj):
        pod_spec = comp.pod_spec_path
        if pod_spec is None:
            continue
        if inline_key is not None:
            target: paths.Concrete = (*pod_spec, inline_key)
        elif pod_spec and pod_spec[-1] == "spec":
            target = (*pod_spec[:-1], "metadata", "labels")
        else:
            continue
        current = paths.get_at(obj, target)
        merged = {**(current if isinstance(current, dict) else {}), **labels}
        paths.set_at(obj, target, merged)


# ---- helpers -----------------------------------------------------------------------------
def _namespace(obj: Mapping[str, Any]) -> str:
    namespace = _dict(obj.get("metadata")).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
