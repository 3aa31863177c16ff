"""`fedctl clusters join|list` against the real hub and members of the test fleet."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client as k8s

from federation.clusters.join import join
from federation.dev.localfleet import LocalFleet
from federation.fleet import load_fleet_file

from .conftest import FLEET_FILE


def fedctl(lf: LocalFleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli.main", "clusters", "--state-dir",
         str(lf.state_dir), *args], capture_output=True, text=True, timeout=120, check=False)


async def test_join_registers_members_and_list_probes_them(
        local_fleet: LocalFleet, member_api: dict[str, Any]) -> None:
    out = fedctl(local_fleet, "join", "-f", str(FLEET_FILE))
    assert out.returncode == 0, out.stderr
    rows = [line.split()[:2] for line in out.stdout.splitlines()[1:]]
    # "updated" when an earlier test of the session (e.g. the fence test) joined them
    assert [r[0] for r in rows] == ["member1", "member2", "member3"], out.stdout
    assert all(r[1] in ("created", "updated") for r in rows), out.stdout
    again = fedctl(local_fleet, "join", "-f", str(FLEET_FILE))
    assert again.returncode == 0 and "updated" in again.stdout  # idempotent

    hub = member_api["hub"]
    mc = await k8s.CustomObjectsApi(hub).get_cluster_custom_object(
        "fedctl.dev", "v1alpha1", "memberclusters", "member3")
    assert mc["spec"]["edge"] is True and mc["spec"]["region"] == "europe-west4"
    assert mc["spec"]["objectStores"][0]["name"] == "gcs-a"
    secret = await k8s.CoreV1Api(hub).read_namespaced_secret("member3-kubeconfig",
                                                             "fedctl-system")
    cfg = yaml.safe_load(base64.b64decode(secret.data["kubeconfig"]))
    user = cfg["users"][0]["user"]
    assert "client-key-data" in user and "client-key" not in user  # self-contained
    assert cfg["clusters"][0]["cluster"]["server"] == mc["spec"]["endpoint"]

    listed = fedctl(local_fleet, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    live = {m["name"]: m["live"] for m in json.loads(listed.stdout)}
    assert all(v["ready"] for v in live.values())
    assert live["member1"]["gpus"]["H100-80GB"]["allocatable"] == 8
    assert live["member1"]["version"] == "v1.35.4"
    table = fedctl(local_fleet, "list")
    assert table.stdout.splitlines()[0].split()[:5] == ["NAME", "PROVIDER", "REGION", "EDGE",
                                                        "READY"]


async def test_join_writes_local_store_endpoints_and_credentials(
        local_fleet: LocalFleet, member_api: dict[str, Any]) -> None:
    hub = member_api["hub"]
    local = {s.endpoint.name: s.endpoint for s in local_fleet.load().stores}
    await join(hub, load_fleet_file(str(FLEET_FILE)), local_fleet.state_dir, local)
    custom = k8s.CustomObjectsApi(hub)

    async def store(member: str) -> dict[str, Any]:
        mc = await custom.get_cluster_custom_object("fedctl.dev", "v1alpha1",
                                                    "memberclusters", member)
        first: dict[str, Any] = mc["spec"]["objectStores"][0]
        return first

    s3 = await store("member2")
    assert s3["name"] == "s3-a" and s3["endpoint"] == local["s3-a"].endpoint
    assert s3["secretRef"] == {"name": "fedctl-store-s3-a", "namespace": "fedctl-system"}
    assert s3["pathStyle"] is True and s3["checksumMode"] == "when_supported"
    creds = await k8s.CoreV1Api(hub).read_namespaced_secret("fedctl-store-s3-a",
                                                            "fedctl-system")
    assert set(creds.data) == {"accessKey", "secretKey"}
    assert base64.b64decode(creds.data["accessKey"]).decode() == local["s3-a"].access_key
    gcs = await store("member3")  # fake-gcs-server: an endpoint, no credentials
    assert gcs["endpoint"] == local["gcs-a"].endpoint and "secretRef" not in gcs
    disk = await store("member1")
    assert disk["name"] == "disk-a"
    assert disk["root"] == str(Path(str(local["disk-a"].root)).resolve())
