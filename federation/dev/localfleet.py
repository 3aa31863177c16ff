"""The local fleet: a hub and N member clusters plus object stores, as local processes.

``LocalFleet.up()`` starts everything (binaries built on first use) and writes
``state.json`` and one merged kubeconfig (contexts: ``hub`` and each member's name) under
the state directory; ``down()`` stops every process it recorded and leaves none behind.
Fault controls (pause/resume/kill/restart an apiserver; stop/start an object store) act on
the recorded processes, so tests and the CLI share one implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from federation.catalog.kinds import WORKLOAD_KINDS
from federation.clusters.client import api_client
from federation.dev import controlplane as cp
from federation.dev import crds, kind, pki, procs
from federation.dev import mlflow as mlf
from federation.dev import objectstores as ost
from federation.dev.build import Binaries, ensure_binaries
from federation.dev.nodes import create_nodes, ready_node_count
from federation.dev.ports import PortAllocator
from federation.errors import FedctlError, FleetError, InputError
from federation.fleet import ClusterSpec, Fleet, ObjectStoreSpec

log = logging.getLogger(__name__)

HUB = "hub"
OPERATORS = "operators"  # the operator simulator's process role on each member
STATE_FILE = "state.json"
READY_TIMEOUT = 180.0


def recorded_source(source: str, cwd: Path | None = None) -> str:
    """The fleet file's path as the state records it: absolute when it names a file (so
    `fedctl clusters join` without -f finds it from any directory); a pseudo-name such as
    ``<input>`` is kept as it is."""
    if source.startswith("<"):
        return source
    return str((cwd or Path.cwd()) / Path(source).expanduser())


def default_state_dir() -> Path:
    env = os.environ.get("FEDCTL_STATE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "fedctl" / "dev"


@dataclass
class ClusterState:
    name: str
    role: str  # hub | member
    server: str
    context: str
    ports: dict[str, int]
    procs: dict[str, procs.ProcRecord] = field(default_factory=dict)
    kind_cluster: str | None = None  # set when the control plane runs in kind

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "role": self.role, "server": self.server,
            "context": self.context, "ports": self.ports,
            "procs": {k: v.to_json() for k, v in self.procs.items()},
            "kind_cluster": self.kind_cluster,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> ClusterState:
        return ClusterState(
            name=d["name"], role=d["role"], server=d["server"], context=d["context"],
            ports=dict(d["ports"]),
            procs={k: procs.ProcRecord.from_json(v) for k, v in d["procs"].items()},
            kind_cluster=d.get("kind_cluster"),
        )


@dataclass
class StoreState:
    endpoint: ost.StoreEndpoint
    ports: dict[str, int]
    data_dir: str
    proc: procs.ProcRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint.to_json(), "ports": self.ports,
                "data_dir": self.data_dir, "proc": self.proc.to_json() if self.proc else None}

    @staticmethod
    def from_json(d: dict[str, Any]) -> StoreState:
        return StoreState(
            endpoint=ost.StoreEndpoint.from_json(d["endpoint"]), ports=dict(d["ports"]),
            data_dir=d["data_dir"],
            proc=procs.ProcRecord.from_json(d["proc"]) if d.get("proc") else None,
        )


@dataclass
class RegistryState:
    """The fleet's model registry (MLflow) process and where it keeps its data."""

    type: str  # mlflow
    url: str  # http://127.0.0.1:PORT
    port: int
    data_dir: str  # mlflow.db and the webhook-secret key
    artifact_store: str  # the fleet store holding its artifacts
    artifacts_destination: str  # s3://bucket/mlflow
    proc: procs.ProcRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "url": self.url, "port": self.port,
                "data_dir": self.data_dir, "artifact_store": self.artifact_store,
                "artifacts_destination": self.artifacts_destination,
                "proc": self.proc.to_json() if self.proc else None}

    @staticmethod
    def from_json(d: dict[str, Any]) -> RegistryState:
        return RegistryState(
            type=d["type"], url=d["url"], port=int(d["port"]), data_dir=d["data_dir"],
            artifact_store=d["artifact_store"],
            artifacts_destination=d["artifacts_destination"],
            proc=procs.ProcRecord.from_json(d["proc"]) if d.get("proc") else None,
        )


@dataclass
class FleetState:
    name: str
    source: str
    state_dir: str
    kubeconfig: str
    started_at: float
    clusters: list[ClusterState]
    stores: list[StoreState]
    registry: RegistryState | None = None

    def cluster(self, name: str) -> ClusterState:
        for c in self.clusters:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.clusters)
        raise InputError(f"no cluster named {name!r} in the local fleet", hint=f"known: {names}")

    def store(self, name: str) -> StoreState:
        for s in self.stores:
            if s.endpoint.name == name:
                return s
        names = ", ".join(s.endpoint.name for s in self.stores)
        raise InputError(f"no object store named {name!r} in the local fleet",
                         hint=f"known: {names}")

    @property
    def members(self) -> list[ClusterState]:
        return [c for c in self.clusters if c.role == "member"]

    def all_procs(self) -> Iterator[procs.ProcRecord]:
        for c in self.clusters:
            yield from c.procs.values()
        for s in self.stores:
            if s.proc:
                yield s.proc
        if self.registry and self.registry.proc:
            yield self.registry.proc

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "state_dir": self.state_dir,
            "kubeconfig": self.kubeconfig, "started_at": self.started_at,
            "clusters": [c.to_json() for c in self.clusters],
            "stores": [s.to_json() for s in self.stores],
            "registry": self.registry.to_json() if self.registry else None,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> FleetState:
        return FleetState(
            name=d["name"], source=d["source"], state_dir=d["state_dir"],
            kubeconfig=d["kubeconfig"], started_at=d["started_at"],
            clusters=[ClusterState.from_json(c) for c in d["clusters"]],
            stores=[StoreState.from_json(s) for s in d["stores"]],
            registry=RegistryState.from_json(d["registry"]) if d.get("registry") else None,
        )


class LocalFleet:
    """Start, inspect, fault and stop a fleet of local control planes and stores."""

    def __init__(self, state_dir: Path | None = None, *,
                 ready_timeout: float = READY_TIMEOUT, runtime: str = "binary",
                 operators: bool = True) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.ready_timeout = ready_timeout
        self.runtime = runtime
        self.operators_enabled = operators  # start the operator simulator on members
        self._bins: Binaries | None = None

    # ---- state -------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def load(self) -> FleetState:
        try:
            return FleetState.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            raise FleetError(f"no local fleet is running under {self.state_dir}",
                             hint="start one with `fedctl dev up`") from None

    def save(self, state: FleetState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def exists(self) -> bool:
        return self.state_file.exists()

    def binaries(self) -> Binaries:
        if self._bins is None:
            self._bins = ensure_binaries()
        return self._bins

    # ---- up ----------------------------------------------------------------------------
    async def up(self, fleet: Fleet) -> FleetState:
        if self.exists():
            state = self.load()
            if any(procs.alive(p) for p in state.all_procs()):
                raise FleetError(
                    f"a local fleet ({state.name}) is already running under {self.state_dir}",
                    hint="run `fedctl dev down` first, or pass another --state-dir",
                )
            self._wipe()
        if self.runtime == "kind":
            kind.require_tools()
        if fleet.model_registry is not None:
            mlf.require_installed()
        bins = await asyncio.to_thread(self.binaries)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        keys = await asyncio.to_thread(self._pki)
        ports = PortAllocator()
        clusters = [self._plan_cluster(HUB, "hub", ports)]
        clusters += [self._plan_cluster(c.name, "member", ports) for c in fleet.clusters]
        if self.runtime == "kind":
            for c in clusters[1:]:
                c.kind_cluster = kind.cluster_name(fleet.name, c.name)
                c.ports, c.server = {}, ""
        stores = [self._plan_store(s, ports) for s in fleet.object_stores
                  if s.endpoint is None]
        state = FleetState(
            name=fleet.name, source=recorded_source(fleet.source),
            state_dir=str(self.state_dir),
            kubeconfig=str(self.state_dir / "kubeconfig"), started_at=time.time(),
            clusters=clusters, stores=stores,
        )
        if fleet.model_registry is not None:
            state.registry = self._plan_registry(state, fleet.model_registry.artifact_store,
                                                 ports)
        self._write_kubeconfigs(state, keys)
        self.save(state)
        specs = {c.name: c for c in fleet.clusters}
        try:
            # A TaskGroup cancels every sibling when one start fails, so nothing keeps
            # spawning after we begin to clean up.
            async with asyncio.TaskGroup() as tg:
                for c in clusters:
                    tg.create_task(self._start_cluster(state, c, specs.get(c.name), bins, keys))
                for s in stores:
                    tg.create_task(self._start_store(state, s, bins))
            # MLflow after the control planes: its first start (imports, database
            # migrations) is seconds of CPU that, on a small machine, made members' CRD
            # installs time out when it ran alongside them
            if state.registry is not None:
                await self._start_registry(state, state.registry)
        except BaseException as exc:
            self.save(state)
            await asyncio.to_thread(self._stop_all, state)
            if isinstance(exc, BaseExceptionGroup):
                first = _first_error(exc)
                raise first from None
            raise
        self._write_kubeconfigs(state, keys)
        self.save(state)
        return state

    def _wipe(self) -> None:
        for child in ("clusters", "stores", "registry", STATE_FILE, "kubeconfig"):
            p = self.state_dir / child
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    def _pki(self) -> cp.Pki:
        d = self.state_dir / "pki"
        ca = pki.ensure_ca(d)
        return cp.Pki(
            ca=ca,
            serving=pki.issue(ca, d, "apiserver", common_name="kube-apiserver", server=True),
            admin=pki.issue(ca, d, "admin", common_name="fedctl-admin",
                            organization="system:masters", client=True),
            kcm=pki.issue(ca, d, "kube-controller-manager",
                          common_name="system:kube-controller-manager", client=True),
            scheduler=pki.issue(ca, d, "kube-scheduler", common_name="system:kube-scheduler",
                                client=True),
            service_account=pki.ensure_service_account_keys(d),
        )

    def _paths(self, name: str) -> cp.ClusterPaths:
        return cp.ClusterPaths(self.state_dir / "clusters" / name)

    def _plan_cluster(self, name: str, role: str, ports: PortAllocator) -> ClusterState:
        p = {"etcd": ports.take(), "etcd-peer": ports.take(), "apiserver": ports.take()}
        return ClusterState(name=name, role=role, server=f"https://127.0.0.1:{p['apiserver']}",
                            context=name, ports=p)

    def _plan_store(self, spec: ObjectStoreSpec, ports: PortAllocator) -> StoreState:
        data = self.state_dir / "stores" / spec.name
        if spec.provider == "s3":
            p = {"api": ports.take(), "console": ports.take()}
            ep = ost.local_endpoint(spec, p["api"], data, ost.new_credentials())
        elif spec.provider == "gcs":
            p = {"api": ports.take()}
            ep = ost.local_endpoint(spec, p["api"], data, None)
        else:
            p = {}
            ep = ost.local_endpoint(spec, None, data / "root", None)
        return StoreState(endpoint=ep, ports=p, data_dir=str(data))

    def _write_kubeconfigs(self, state: FleetState, keys: cp.Pki) -> None:
        merged = []
        for c in state.clusters:
            paths = self._paths(c.name)
            if c.kind_cluster:
                if paths.admin_kubeconfig.exists():
                    merged.append(kind.rename_context(paths.admin_kubeconfig, c.context))
                continue
            admin = cp.kubeconfig_dict(name=c.context, server=c.server, ca=keys.ca.cert,
                                       client=keys.admin)
            cp.write_yaml(paths.admin_kubeconfig, admin)
            merged.append(admin)
            if c.role == "member":
                cp.write_yaml(paths.kcm_kubeconfig, cp.kubeconfig_dict(
                    name=c.context, server=c.server, ca=keys.ca.cert, client=keys.kcm,
                    user="kube-controller-manager"))
                cp.write_yaml(paths.scheduler_kubeconfig, cp.kubeconfig_dict(
                    name=c.context, server=c.server, ca=keys.ca.cert, client=keys.scheduler,
                    user="kube-scheduler"))
        cp.write_yaml(Path(state.kubeconfig), cp.merge_kubeconfigs(merged, HUB))

    def _spawn(self, cluster: ClusterState, role: str, argv: list[str]) -> procs.ProcRecord:
        paths = self._paths(cluster.name)
        rec = procs.spawn(f"{cluster.name}/{role}", argv, paths.logs / f"{role}.log",
                          env=cp.go_runtime_env(role))
        cluster.procs[role] = rec
        return rec

    async def _start_cluster(self, state: FleetState, c: ClusterState,
                             spec: ClusterSpec | None, bins: Binaries, keys: cp.Pki) -> None:
        try:
            await self._start_cluster_steps(c, spec, bins, keys)
        except (FedctlError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise FleetError(f"cluster {c.name}: start-up failed: "
                             f"{type(exc).__name__}: {exc}") from exc

    async def _start_cluster_steps(self, c: ClusterState, spec: ClusterSpec | None,
                                   bins: Binaries, keys: cp.Pki) -> None:
        paths = self._paths(c.name)
        paths.root.mkdir(parents=True, exist_ok=True)
        if c.kind_cluster:
            await asyncio.to_thread(kind.create_cluster, c.kind_cluster, paths.admin_kubeconfig,
                                    paths.root / "kind.yaml")
            cfg = kind.rename_context(paths.admin_kubeconfig, c.context)
            c.server = str(cfg["clusters"][0]["cluster"]["server"])  # type: ignore[index]
            await self._start_member_agents(c, spec, bins, paths)
            return
        etcd = self._spawn(c, "etcd", cp.etcd_argv(bins, c.name, paths, c.ports["etcd"],
                                                   c.ports["etcd-peer"]))
        await wait_http(f"http://127.0.0.1:{c.ports['etcd']}/health", etcd, None,
                        what=f"{c.name} etcd", timeout=self.ready_timeout)
        api = self._spawn(c, "apiserver", cp.apiserver_argv(
            bins, keys, port=c.ports["apiserver"], etcd_port=c.ports["etcd"],
            hub=c.role == "hub"))
        await wait_http(f"{c.server}/readyz", api, client_ssl(keys), what=f"{c.name} apiserver",
                        timeout=self.ready_timeout)
        if c.role == "hub":
            client = await api_client(paths.admin_kubeconfig, c.context)
            try:
                await crds.install(client, crds.hub_manifests(bins.crds))  # every kind
            finally:
                await client.close()
            return
        self._spawn(c, "kube-controller-manager",
                    cp.controller_manager_argv(bins, keys, paths, c.name))
        self._spawn(c, "kube-scheduler", cp.scheduler_argv(bins, paths))
        await self._start_member_agents(c, spec, bins, paths)

    async def _start_member_agents(self, c: ClusterState, spec: ClusterSpec | None,
                                   bins: Binaries, paths: cp.ClusterPaths) -> None:
        """kwok plus the fake GPU nodes it drives, the AI CRDs and the operator simulator;
        wait until nodes and SA are ready."""
        paths.kwok_config.write_text(_dump_all(cp.kwok_config(bins)))
        self._spawn(c, "kwok", cp.kwok_argv(bins, paths))
        assert spec is not None
        client = await api_client(paths.admin_kubeconfig, c.context)
        try:
            await crds.install(client, crds.member_manifests(
                spec.simulate.workload_kinds if spec.simulate else WORKLOAD_KINDS, bins.crds))
            if self.operators_enabled:
                self._spawn(c, OPERATORS, cp.operators_argv(paths, c.context))
            await create_nodes(client, spec)
            expected = sum(p.count for p in spec.simulate.node_pools) if spec.simulate else 0
            await wait_until(lambda: _nodes_ready(client, expected), self.ready_timeout,
                             what=f"{c.name}: {expected} nodes Ready", procs_=c.procs)
            await wait_until(lambda: _default_sa(client), self.ready_timeout,
                             what=f"{c.name}: default ServiceAccount", procs_=c.procs)
        finally:
            await client.close()

    def _plan_registry(self, state: FleetState, store: str,
                       ports: PortAllocator) -> RegistryState:
        s3 = state.store(store).endpoint
        port = ports.take()
        return RegistryState(
            type="mlflow", url=f"http://127.0.0.1:{port}", port=port,
            data_dir=str(self.state_dir / "registry"), artifact_store=store,
            artifacts_destination=f"s3://{s3.bucket}/{mlf.ARTIFACTS_PREFIX}")

    def _registry_config(self, state: FleetState, r: RegistryState) -> mlf.ServerConfig:
        data = Path(r.data_dir)
        return mlf.ServerConfig(port=r.port, data_dir=data,
                                store=state.store(r.artifact_store).endpoint,
                                encryption_key=mlf.load_or_create_key(data / "webhook.key"))

    async def _start_registry(self, state: FleetState, r: RegistryState,
                              argv: list[str] | None = None) -> None:
        """Start MLflow (it needs MinIO only when artifacts move, so it starts alongside
        the stores) and wait for its /health."""
        cfg = self._registry_config(state, r)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        r.proc = procs.spawn("registry/mlflow",
                             argv or mlf.server_argv(mlf.require_installed(), cfg),
                             cfg.data_dir / "mlflow.log", env=mlf.server_env(cfg))
        await wait_http(mlf.health_url(r.url), r.proc, None, what="model registry (mlflow)",
                        timeout=self.ready_timeout)

    async def _start_store(self, state: FleetState, s: StoreState, bins: Binaries) -> None:
        ep = s.endpoint
        data = Path(s.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        logfile = data.parent / f"{ep.name}.log"
        if ep.provider == "s3":
            assert ep.access_key and ep.secret_key
            s.proc = procs.spawn(
                f"store/{ep.name}",
                ost.minio_argv(bins, data / "data", s.ports["api"], s.ports["console"]),
                logfile, env=ost.minio_env(ep.access_key, ep.secret_key, ep.region))
        elif ep.provider == "gcs":
            s.proc = procs.spawn(f"store/{ep.name}", ost.fake_gcs_argv(data / "data",
                                                                        s.ports["api"]),
                                 logfile)
        url = ost.health_url(ep)
        if url and s.proc:
            await wait_http(url, s.proc, None, what=f"object store {ep.name}",
                            timeout=self.ready_timeout)
        await ost.create_bucket(ep)

    # ---- down / status -----------------------------------------------------------------
    def _stop_all(self, state: FleetState) -> None:
        # Members' controllers first, then apiservers, then etcd, then stores.
        order = [OPERATORS, "kwok", "kube-scheduler", "kube-controller-manager", "apiserver",
                 "etcd"]
        for role in order:
            for c in state.clusters:
                if role in c.procs:
                    procs.stop(c.procs[role])
        if state.registry and state.registry.proc:
            procs.stop(state.registry.proc)
        for s in state.stores:
            if s.proc:
                procs.stop(s.proc)
        for c in state.clusters:
            if c.kind_cluster:
                kind.delete_cluster(c.kind_cluster)

    def down(self, *, purge: bool = True) -> list[str]:
        """Stop every recorded process; return names of any still alive (should be none)."""
        if not self.exists():
            return []
        state = self.load()
        self._stop_all(state)
        left = [p.name for p in state.all_procs() if procs.alive(p)]
        if not left and purge:
            self._wipe()
        return left

    # ---- faults ------------------------------------------------------------------------
    def _apiserver(self, name: str) -> procs.ProcRecord:
        c = self.load().cluster(name)
        if "apiserver" not in c.procs:
            raise FleetError(f"cluster {name!r} runs in kind; fault controls need the binary "
                             "runtime", hint="use `docker pause/kill` on its node container")
        return c.procs["apiserver"]

    def operators(self, name: str) -> procs.ProcRecord:
        """The member's operator simulator process."""
        c = self.load().cluster(name)
        if OPERATORS not in c.procs:
            raise FleetError(f"cluster {name!r} runs no operator simulator",
                             hint="only members have one")
        return c.procs[OPERATORS]

    def restart_operators(self, name: str) -> procs.ProcRecord:
        """Stop the member's operator simulator (if it runs) and start a new one."""
        old = self.operators(name)
        state = self.load()
        procs.stop(old)
        rec = self._spawn(state.cluster(name), OPERATORS, list(old.argv))
        self.save(state)
        return rec

    def pause_apiserver(self, name: str) -> None:
        procs.pause(self._apiserver(name))

    def resume_apiserver(self, name: str) -> None:
        procs.resume(self._apiserver(name))

    def kill_apiserver(self, name: str) -> None:
        procs.kill(self._apiserver(name))

    async def restart_apiserver(self, name: str) -> None:
        """Start the cluster's apiserver again (after kill) and wait until it is ready."""
        old = self._apiserver(name)
        state = self.load()
        c = state.cluster(name)
        procs.stop(old)
        rec = self._spawn(c, "apiserver", list(old.argv))
        self.save(state)
        await wait_http(f"{c.server}/readyz", rec, client_ssl(self._pki()),
                        what=f"{name} apiserver")

    def stop_store(self, name: str) -> None:
        s = self.load().store(name)
        if s.proc is None:
            raise InputError(f"object store {name!r} has no server process (file store)")
        procs.stop(s.proc)

    async def start_store(self, name: str) -> None:
        state = self.load()
        s = state.store(name)
        if s.proc is None:
            raise InputError(f"object store {name!r} has no server process (file store)")
        if procs.alive(s.proc):
            return
        env = (ost.minio_env(s.endpoint.access_key or "", s.endpoint.secret_key or "",
                             s.endpoint.region) if s.endpoint.provider == "s3" else None)
        s.proc = procs.spawn(s.proc.name, list(s.proc.argv), Path(s.proc.log), env=env)
        self.save(state)
        url = ost.health_url(s.endpoint)
        if url:
            await wait_http(url, s.proc, None, what=f"object store {name}")

    def _registry(self, state: FleetState) -> RegistryState:
        if state.registry is None:
            raise FleetError("the local fleet runs no model registry",
                             hint="add modelRegistry to the fleet file and restart the fleet")
        return state.registry

    def stop_registry(self) -> None:
        """Stop the model registry's server (a fault: the registry is down)."""
        r = self._registry(self.load())
        if r.proc:
            procs.stop(r.proc)

    async def start_registry(self) -> None:
        """Start the model registry's server again (same port and data) and wait for it."""
        state = self.load()
        r = self._registry(state)
        if r.proc and procs.alive(r.proc):
            return
        try:
            await self._start_registry(state, r, list(r.proc.argv) if r.proc else None)
        finally:
            # recorded even when it did not get ready, so `down` stops it
            self.save(state)

    def pause_store(self, name: str) -> None:
        s = self.load().store(name)
        if s.proc:
            procs.pause(s.proc)

    def resume_store(self, name: str) -> None:
        s = self.load().store(name)
        if s.proc:
            procs.resume(s.proc)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first user-facing error in a task group's failure (FleetError before others)."""
    flat: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            flat.append(e)

    walk(group)
    for e in flat:
        if isinstance(e, FleetError):
            return e
    return flat[0]


def _dump_all(docs: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False)


def client_ssl(keys: cp.Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(keys.ca.cert))
    ctx.load_cert_chain(str(keys.admin.cert), str(keys.admin.key))
    return ctx


async def _nodes_ready(client: Any, expected: int) -> bool:
    ready, total = await ready_node_count(client)
    return total >= expected and ready >= expected


async def _default_sa(client: Any) -> bool:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        await k8s.CoreV1Api(client).read_namespaced_service_account(
            "default", "default", _request_timeout=5)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def wait_http(url: str, proc: procs.ProcRecord, ssl_ctx: ssl.SSLContext | None, *,
                    what: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``url`` until HTTP 200; fail fast, with its log, if the process exits."""
    deadline = time.monotonic() + timeout
    last = ""
    conn = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else False)
    async with aiohttp.ClientSession(connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            if not procs.alive(proc):
                raise FleetError(f"{what} exited during start-up; last log lines:\n"
                                 f"{procs.log_tail(proc)}", hint=f"full log: {proc.log}")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = type(exc).__name__
            await asyncio.sleep(0.25)
    raise FleetError(f"{what} not ready after {timeout:.0f}s ({last}); last log lines:\n"
                     f"{procs.log_tail(proc)}", hint=f"full log: {proc.log}")


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, *, what: str,
                     procs_: dict[str, procs.ProcRecord]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in procs_.values():
            if not procs.alive(rec):
                raise FleetError(f"{rec.name} exited; last log lines:\n{procs.log_tail(rec)}",
                                 hint=f"full log: {rec.log}")
        with contextlib.suppress(Exception):
            if await check():
                return
        await asyncio.sleep(0.5)
    raise FleetError(f"timed out after {timeout:.0f}s waiting for {what}")
