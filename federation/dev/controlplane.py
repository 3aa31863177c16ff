"""Command lines and config files for one cluster's control plane on loopback.

A cluster is etcd + kube-apiserver (the hub stops there, so Deployments and Jobs created on
it stay templates) and, for members, kube-controller-manager + kube-scheduler + kwok, which
drives the fake GPU nodes and their pods, + the operator simulator
(``federation.dev.operators``), which does what the AI operators would. Everything binds
127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from federation.dev.build import Binaries
from federation.dev.pki import CertPair

# Fake address ranges handed to the apiserver and kwok as configuration only: Services get a
# ClusterIP and pods get an IP from them, but nothing ever connects to these addresses.
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.128.0.1/14"


@dataclass(frozen=True, slots=True)
class ClusterPaths:
    root: Path

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def kcm_kubeconfig(self) -> Path:
        return self.root / "kube-controller-manager.kubeconfig"

    @property
    def scheduler_kubeconfig(self) -> Path:
        return self.root / "kube-scheduler.kubeconfig"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


@dataclass(frozen=True, slots=True)
class Pki:
    ca: CertPair
    serving: CertPair
    admin: CertPair
    kcm: CertPair
    scheduler: CertPair
    service_account: CertPair


def kubeconfig_dict(
    *, name: str, server: str, ca: Path, client: CertPair, user: str = "admin"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server,
                                                 "certificate-authority": str(ca)}}],
        "users": [{"name": f"{name}-{user}", "user": {
            "client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-{user}"}}],
        "current-context": name,
    }


def merge_kubeconfigs(configs: list[dict[str, Any]], current: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [c for cfg in configs for c in cfg["clusters"]],
        "users": [u for cfg in configs for u in cfg["users"]],
        "contexts": [x for cfg in configs for x in cfg["contexts"]],
        "current-context": current,
    }


def write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)


def etcd_argv(bins: Binaries, name: str, paths: ClusterPaths, client_port: int,
              peer_port: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(bins["etcd"]),
        f"--name={name}",
        f"--data-dir={paths.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={name}={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=4294967296",
        "--snapshot-count=10000",
        "--log-level=error",
    ]


# Go processes of the fleet (everything but the operator simulators)
GO_ROLES = frozenset({"etcd", "apiserver", "kube-controller-manager", "kube-scheduler",
                      "kwok"})
# A local fleet runs six control planes on one machine, where memory is plentiful and
# CPU is not. Go's default (GOGC=100: collect when the heap doubles) had the hub's and
# the busiest member's apiservers spend 6.2 and 5.8 CPU-s in their garbage collectors
# while 1,000 workloads failed over; at 400 they spent 1.4 and 1.0 (bench/propagation.py,
# docs/benchmarks.md), for a few hundred MiB more heap each. GOGC in the environment wins.
FLEET_GOGC = "400"


def go_runtime_env(role: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment additions for a fleet process in ``role``."""
    env = os.environ if environ is None else environ
    if role not in GO_ROLES or "GOGC" in env:
        return {}
    return {"GOGC": FLEET_GOGC}


def apiserver_argv(bins: Binaries, pki: Pki, *, port: int, etcd_port: int,
                   hub: bool) -> list[str]:
    argv = [
        str(bins["kube-apiserver"]),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        f"--secure-port={port}",
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--tls-cert-file={pki.serving.cert}",
        f"--tls-private-key-file={pki.serving.key}",
        f"--client-ca-file={pki.ca.cert}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.service_account.cert}",
        f"--service-account-signing-key-file={pki.service_account.key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--profiling=false",
        "--event-ttl=1h",
        "--v=0",
    ]
    if hub:
        # No controller-manager on the hub: nothing creates default ServiceAccounts, and
        # workload objects stay templates.
        argv.append("--disable-admission-plugins=ServiceAccount")
    return argv


def controller_manager_argv(bins: Binaries, pki: Pki, paths: ClusterPaths,
                            name: str) -> list[str]:
    kc = str(paths.kcm_kubeconfig)
    return [
        str(bins["kube-controller-manager"]),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        f"--service-account-private-key-file={pki.service_account.key}",
        f"--root-ca-file={pki.ca.cert}",
        "--use-service-account-credentials=true",
        f"--cluster-name={name}",
        "--leader-elect=false",
        "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
        "--node-monitor-grace-period=40s",
        # the defaults (20 requests/s per controller, 5 Deployments and ReplicaSets synced
        # at a time) made a member take ~4 new Deployments/s: a failover of hundreds of
        # workloads then waited on the members' own controllers, not on fedctl. At 100/s
        # the Deployment controller of a member taking 850 moved workloads (ReplicaSet,
        # ~3 status updates and an Event each) still ran at its limit
        "--kube-api-qps=300",
        "--kube-api-burst=600",
        "--concurrent-deployment-syncs=10",
        "--concurrent-replicaset-syncs=10",
        "--v=0",
    ]


def scheduler_argv(bins: Binaries, paths: ClusterPaths) -> list[str]:
    kc = str(paths.scheduler_kubeconfig)
    return [
        str(bins["kube-scheduler"]),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        # the default 50 requests/s (a bind and an Event per pod) held a member to ~25
        # new pods/s, the slowest step once hundreds of workloads moved there
        "--kube-api-qps=300",
        "--kube-api-burst=600",
        "--v=0",
    ]


def kwok_config(bins: Binaries) -> list[dict[str, Any]]:
    """A KwokConfiguration plus every Stage document, for kwok's --config."""
    docs: list[dict[str, Any]] = [{
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "cidr": POD_CIDR,
            "nodeIP": "127.0.0.1",
            "manageAllNodes": False,
            "manageNodesWithAnnotationSelector": "kwok.x-k8s.io/node=fake",
            "nodeLeaseDurationSeconds": 40,
            # kwok applies no defaults to options given in a config file: set them all.
            "nodeLeaseParallelism": 4,
            "podPlayStageParallelism": 4,
            "nodePlayStageParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enablePodsOnNodeSyncStreamWatch": False,
            "enableDebuggingHandlers": False,
            "enableProfilingHandler": False,
            "enableContentionProfiling": False,
            "enableCRDs": [],
        },
    }]
    for stage in sorted(bins.kwok_stages.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(stage.read_text()) if d)
    return docs


def kwok_argv(bins: Binaries, paths: ClusterPaths) -> list[str]:
    return [
        str(bins["kwok"]),
        f"--kubeconfig={paths.admin_kubeconfig}",
        f"--config={paths.kwok_config}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
        "--v=ERROR",
    ]


def operators_argv(paths: ClusterPaths, context: str) -> list[str]:
    """The operator simulator for one member, run by this Python interpreter."""
    return [sys.executable, "-m", "federation.dev.operators",
            f"--kubeconfig={paths.admin_kubeconfig}", f"--context={context}"]
