"""The fleet file (``clusters.example.yaml`` format).

One format serves two uses:

* registering real clusters with the hub: kubeconfig context or Secret, region, provider,
  zone, labels, taints, prices, object stores, edge flag. GPU inventory is discovered from
  the cluster, never declared;
* simulating a fleet on one machine (``fedctl dev up``): the optional per-cluster
  ``simulate.nodePools`` says which fake GPU nodes to create, and object stores without an
  ``endpoint`` are started locally.

Parsing is pure (text in, frozen dataclasses out) and reports every error with file, line
and field path. Nothing is half-loaded: one error and the whole file is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation.catalog.gpus import GpuProduct, known_product_names, lookup, suggest
from federation.catalog.kinds import (
    WORKLOAD_KINDS,
    WorkloadKind,
    known_kind_names,
    resolve_kind,
)
from federation.errors import InputError
from federation.model.quantity import QuantityError, cpu_millis, memory_bytes
from policies.reader import Reader, did_you_mean
from policies.source import Document, PathKey, load_documents

API_VERSION = "fedctl.dev/v1alpha1"
KIND = "Fleet"
STORE_PROVIDERS = ("s3", "gcs", "file")
REGISTRY_TYPES = ("mlflow",)
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class KubeconfigRef:
    """Where the hub finds a member's credentials: a kubeconfig file/context or a Secret."""

    path: str | None = None
    context: str | None = None
    secret_name: str | None = None
    secret_namespace: str = "fedctl-system"


@dataclass(frozen=True, slots=True)
class Pricing:
    """Per-cluster price overrides ($/GPU-hour by product short name)."""

    on_demand: tuple[tuple[str, float], ...] = ()
    spot: tuple[tuple[str, float], ...] = ()
    spot_available: bool = False


@dataclass(frozen=True, slots=True)
class NodePool:
    name: str
    count: int
    gpu: GpuProduct | None
    gpus_per_node: int
    cpu_millis: int
    memory_bytes: int
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True, slots=True)
class Simulation:
    node_pools: tuple[NodePool, ...]
    workload_kinds: tuple[WorkloadKind, ...] = WORKLOAD_KINDS  # CRDs installed


@dataclass(frozen=True, slots=True)
class ObjectStoreSpec:
    name: str
    provider: str  # s3 | gcs | file
    region: str
    bucket: str
    endpoint: str | None = None  # None: started locally by `fedctl dev up`
    path_style: bool = True
    checksum_mode: str = "when_supported"  # boto3 request_checksum_calculation
    edge: bool = False
    root: str | None = None  # file:// stores: the directory


@dataclass(frozen=True, slots=True)
class ModelRegistrySpec:
    """A model registry `fedctl dev up` starts next to the fleet (MLflow), its artifacts in
    one of the fleet's S3 stores that `fedctl dev up` also starts."""

    type: str  # mlflow
    artifact_store: str  # an objectStores name (provider s3, no endpoint)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    name: str
    provider: str
    region: str
    zone: str
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    edge: bool = False
    kubeconfig: KubeconfigRef | None = None
    pricing: Pricing = field(default_factory=Pricing)
    object_stores: tuple[str, ...] = ()
    simulate: Simulation | None = None


@dataclass(frozen=True, slots=True)
class Fleet:
    name: str
    clusters: tuple[ClusterSpec, ...]
    object_stores: tuple[ObjectStoreSpec, ...]
    source: str = "<input>"
    model_registry: ModelRegistrySpec | None = None

    def cluster(self, name: str) -> ClusterSpec:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def store(self, name: str) -> ObjectStoreSpec:
        for s in self.object_stores:
            if s.name == name:
                return s
        raise KeyError(name)


def load_fleet_file(path: str | Path) -> Fleet:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "fleet file not found", file=str(p), hint="pass -f with a path to a fleet file"
        ) from None
    return parse_fleet(text, str(p))


def parse_fleet(text: str, file: str = "<input>") -> Fleet:
    docs = load_documents(text, file)
    if len(docs) != 1:
        raise InputError(
            f"expected exactly one YAML document, found {len(docs)}",
            file=file,
            line=docs[1].start_line if len(docs) > 1 else None,
            hint="a fleet file holds one Fleet",
        )
    return _FleetParser(docs[0]).parse()


class _FleetParser:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.r = Reader(doc)

    def parse(self) -> Fleet:
        r = self.r
        top = r.mapping(
            self.doc.data,
            (),
            allowed={"apiVersion", "kind", "metadata", "objectStores", "clusters",
                     "modelRegistry"},
            required=("apiVersion", "kind", "clusters"),
        )
        if top.get("apiVersion") not in (None, API_VERSION):
            r.fail(("apiVersion",), f"unsupported apiVersion {top['apiVersion']!r}",
                   hint=f"use {API_VERSION}")
        if top.get("kind") not in (None, KIND):
            r.fail(("kind",), f"unsupported kind {top['kind']!r}", hint=f"use {KIND}")
        meta = r.mapping(top.get("metadata"), ("metadata",), allowed={"name"})
        name = r.string(meta, ("metadata", "name"), default="fleet")

        stores = [
            self._store(item, ("objectStores", i))
            for i, item in enumerate(r.sequence(top, ("objectStores",)))
        ]
        self._unique([s.name for s in stores if s], "objectStores", "object store")
        store_names = {s.name for s in stores if s}

        raw_clusters = r.sequence(top, ("clusters",))
        if not raw_clusters and "clusters" in top:
            r.fail(("clusters",), "a fleet needs at least one cluster")
        clusters = [
            self._cluster(item, ("clusters", i), store_names)
            for i, item in enumerate(raw_clusters)
        ]
        self._unique([c.name for c in clusters if c], "clusters", "cluster")
        registry = self._registry(top.get("modelRegistry"), ("modelRegistry",),
                                  {s.name: s for s in stores if s})
        r.raise_if_errors()
        return Fleet(
            name=name,
            clusters=tuple(c for c in clusters if c),
            object_stores=tuple(s for s in stores if s),
            source=self.doc.file,
            model_registry=registry,
        )

    def _registry(self, raw: Any, path: PathKey,
                  stores: dict[str, ObjectStoreSpec]) -> ModelRegistrySpec | None:
        if raw is None:
            return None
        r = self.r
        m = r.mapping(raw, path, allowed={"type", "artifactStore"},
                      required=("type", "artifactStore"))
        kind = r.string(m, (*path, "type"), default="mlflow", choices=REGISTRY_TYPES)
        ref = r.string(m, (*path, "artifactStore"), default="")
        store = stores.get(ref)
        if ref and store is None:
            r.fail((*path, "artifactStore"), f"unknown object store {ref!r}",
                   hint=did_you_mean(ref, set(stores)) or "declare it under objectStores")
        elif store is not None and store.provider != "s3":
            r.fail((*path, "artifactStore"),
                   f"object store {ref!r} is a {store.provider} store; the registry's "
                   "artifacts need an s3 store", hint="name an objectStores entry with "
                   "provider: s3")
        elif store is not None and store.endpoint is not None:
            r.fail((*path, "artifactStore"),
                   f"object store {ref!r} has an endpoint, so `fedctl dev up` does not start "
                   "it and has no credentials for it",
                   hint="name an s3 store without an endpoint (started locally)")
        return ModelRegistrySpec(type=kind, artifact_store=ref)

    def _unique(self, names: list[str], where: str, what: str) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                self.r.fail((where, i, "name"), f"duplicate {what} name {n!r}",
                            hint="names must be unique")
            seen.add(n)

    def _name(self, data: dict[str, Any], path: PathKey) -> str:
        value: str = self.r.string(data, path)
        if value and not _NAME_RE.match(value):
            self.r.fail(path, f"invalid name {value!r}",
                        hint="use lower-case letters, digits and '-', at most 63 characters")
        return value

    def _taints(self, data: dict[str, Any], path: PathKey) -> tuple[Taint, ...]:
        out = []
        for i, raw in enumerate(self.r.sequence(data, path)):
            p = (*path, i)
            t = self.r.mapping(raw, p, allowed={"key", "value", "effect"}, required=("key",))
            out.append(Taint(
                key=self.r.string(t, (*p, "key"), default=""),
                value=self.r.string(t, (*p, "value"), default=""),
                effect=self.r.string(t, (*p, "effect"), default="NoSchedule",
                                     choices=TAINT_EFFECTS),
            ))
        return tuple(out)

    def _store(self, raw: Any, path: PathKey) -> ObjectStoreSpec:
        r = self.r
        s = r.mapping(
            raw, path,
            allowed={"name", "provider", "region", "bucket", "endpoint", "pathStyle",
                     "checksumMode", "edge", "root"},
            required=("name", "provider", "region"),
        )
        provider = r.string(s, (*path, "provider"), default="s3", choices=STORE_PROVIDERS)
        bucket = r.string(s, (*path, "bucket"), default="" if provider == "file" else None)
        if provider != "file" and not bucket:
            r.fail(path, "missing required field 'bucket'")
        endpoint = r.string(s, (*path, "endpoint"), default=None)
        if endpoint is not None and not re.match(r"^https?://", endpoint):
            r.fail((*path, "endpoint"), f"invalid endpoint {endpoint!r}",
                   hint="use an http:// or https:// URL")
        return ObjectStoreSpec(
            name=self._name(s, (*path, "name")),
            provider=provider,
            region=r.string(s, (*path, "region"), default=""),
            bucket=bucket or "",
            endpoint=endpoint,
            path_style=r.boolean(s, (*path, "pathStyle"), default=True),
            checksum_mode=r.string(s, (*path, "checksumMode"), default="when_supported",
                                   choices=("when_supported", "when_required")),
            edge=r.boolean(s, (*path, "edge")),
            root=r.string(s, (*path, "root"), default=None),
        )

    def _cluster(self, raw: Any, path: PathKey, store_names: set[str]) -> ClusterSpec:
        r = self.r
        c = r.mapping(
            raw, path,
            allowed={"name", "provider", "region", "zone", "labels", "taints", "edge",
                     "kubeconfig", "pricing", "objectStores", "simulate"},
            required=("name", "provider", "region"),
        )
        stores = []
        for i, ref in enumerate(r.sequence(c, (*path, "objectStores"))):
            if not isinstance(ref, str):
                r.fail((*path, "objectStores", i), "expected an object store name")
                continue
            if ref not in store_names:
                r.fail((*path, "objectStores", i), f"unknown object store {ref!r}",
                       hint=did_you_mean(ref, store_names)
                       or "declare it under objectStores first")
            stores.append(ref)
        region = r.string(c, (*path, "region"), default="")
        return ClusterSpec(
            name=self._name(c, (*path, "name")),
            provider=r.string(c, (*path, "provider"), default=""),
            region=region,
            zone=r.string(c, (*path, "zone"), default=region),
            labels=tuple(sorted(r.string_map(c, (*path, "labels")).items())),
            taints=self._taints(c, (*path, "taints")),
            edge=r.boolean(c, (*path, "edge")),
            kubeconfig=self._kubeconfig(c.get("kubeconfig"), (*path, "kubeconfig")),
            pricing=self._pricing(c.get("pricing"), (*path, "pricing")),
            object_stores=tuple(stores),
            simulate=self._simulate(c.get("simulate"), (*path, "simulate")),
        )

    def _kubeconfig(self, raw: Any, path: PathKey) -> KubeconfigRef | None:
        if raw is None:
            return None
        r = self.r
        k = r.mapping(raw, path, allowed={"path", "context", "secretRef"})
        secret = r.mapping(k.get("secretRef"), (*path, "secretRef"),
                           allowed={"name", "namespace"})
        ref = KubeconfigRef(
            path=r.string(k, (*path, "path"), default=None),
            context=r.string(k, (*path, "context"), default=None),
            secret_name=r.string(secret, (*path, "secretRef", "name"), default=None),
            secret_namespace=r.string(secret, (*path, "secretRef", "namespace"),
                                      default="fedctl-system"),
        )
        if ref.secret_name is None and ref.path is None and ref.context is None:
            r.fail(path, "kubeconfig needs a path, a context or a secretRef")
        return ref

    def _prices(self, data: dict[str, Any], key: str,
                path: PathKey) -> tuple[tuple[str, float], ...]:
        raw = self.r.mapping(data.get(key), (*path, key))
        out = []
        for product in raw:
            p = (*path, key, product)
            found = lookup(product)
            if found is None:
                self._unknown_product(p, product)
                continue
            value = self.r.number(raw, p, minimum=0.0)
            out.append((found.name, float(value)))
        return tuple(sorted(out))

    def _pricing(self, raw: Any, path: PathKey) -> Pricing:
        r = self.r
        p = r.mapping(raw, path, allowed={"gpuHourly", "spotGpuHourly", "spotAvailable"})
        return Pricing(
            on_demand=self._prices(p, "gpuHourly", path),
            spot=self._prices(p, "spotGpuHourly", path),
            spot_available=r.boolean(p, (*path, "spotAvailable")),
        )

    def _unknown_product(self, path: PathKey, product: str) -> None:
        close = suggest(product)
        hint = f"did you mean {close!r}?" if close else None
        known = ", ".join(known_product_names())
        self.r.fail(path, f"unknown GPU product {product!r}",
                    hint=(hint + " " if hint else "") + f"known products: {known}")

    def _simulate(self, raw: Any, path: PathKey) -> Simulation | None:
        if raw is None:
            return None
        r = self.r
        s = r.mapping(raw, path, allowed={"nodePools", "workloadKinds"},
                      required=("nodePools",))
        pools = []
        for i, item in enumerate(r.sequence(s, (*path, "nodePools"))):
            pools.append(self._pool(item, (*path, "nodePools", i)))
        seen: set[str] = set()
        for i, pool in enumerate(pools):
            if pool.name in seen:
                r.fail((*path, "nodePools", i, "name"), f"duplicate node pool {pool.name!r}")
            seen.add(pool.name)
        kinds: list[WorkloadKind] = []
        if "workloadKinds" in s:
            for i, name in enumerate(r.sequence(s, (*path, "workloadKinds"))):
                found = resolve_kind(name) if isinstance(name, str) else None
                if found is None:
                    r.fail((*path, "workloadKinds", i), f"unknown workload kind {name!r}",
                           hint="known: " + ", ".join(known_kind_names()))
                elif any((k.group, k.kind) == (found.group, found.kind) and k != found
                         for k in kinds):
                    r.fail((*path, "workloadKinds", i),
                           f"{found.kind} is listed at two versions; a cluster serves one "
                           "(they share one CRD)", hint=f"keep one {found.kind} entry")
                elif found not in kinds:
                    kinds.append(found)
        return Simulation(node_pools=tuple(pools),
                          workload_kinds=tuple(kinds) if "workloadKinds" in s
                          else WORKLOAD_KINDS)

    def _pool(self, raw: Any, path: PathKey) -> NodePool:
        r = self.r
        n = r.mapping(raw, path, allowed={"name", "count", "gpu", "cpu", "memory", "labels",
                                          "taints"},
                      required=("name", "count"))
        product: GpuProduct | None = None
        per_node = 0
        if n.get("gpu") is not None:
            g = r.mapping(n.get("gpu"), (*path, "gpu"), allowed={"product", "count"},
                          required=("product",))
            name = r.string(g, (*path, "gpu", "product"), default="")
            if name:
                product = lookup(name)
                if product is None:
                    self._unknown_product((*path, "gpu", "product"), name)
            per_node = r.integer(g, (*path, "gpu", "count"), default=8, minimum=1, maximum=64)
        cpu = self._quantity(n, (*path, "cpu"), "32", cpu_millis)
        mem = self._quantity(n, (*path, "memory"), "256Gi", memory_bytes)
        return NodePool(
            name=self._name(n, (*path, "name")),
            count=r.integer(n, (*path, "count"), minimum=1, maximum=500),
            gpu=product,
            gpus_per_node=per_node if product else 0,
            cpu_millis=cpu,
            memory_bytes=mem,
            labels=tuple(sorted(r.string_map(n, (*path, "labels")).items())),
            taints=self._taints(n, (*path, "taints")),
        )

    def _quantity(self, data: dict[str, Any], path: PathKey, default: str,
                  conv: Any) -> int:
        key = path[-1]
        raw = data.get(key, default) if isinstance(key, str) else default
        try:
            value: int = conv(raw if raw is not None else default)
        except QuantityError as exc:
            self.r.fail(path, str(exc))
            return 0
        if value <= 0:
            self.r.fail(path, "must be greater than zero")
        return value
