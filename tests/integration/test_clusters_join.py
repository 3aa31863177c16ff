"""`fedctl clusters join|list` against the real hub and members of the test fleet."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import yaml
from kubernetes_asyncio import client as k8s

from federation.dev.localfleet import LocalFleet

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
