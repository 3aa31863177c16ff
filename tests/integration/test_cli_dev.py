"""`fedctl dev` commands against the running test fleet, as a user types them."""

from __future__ import annotations

import json
import subprocess
import sys

from federation.dev.localfleet import LocalFleet


def fedctl(lf: LocalFleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli.main", "dev", "--state-dir", str(lf.state_dir),
         *args], capture_output=True, text=True, timeout=120, check=False)


def test_status_json_reports_every_cluster_and_store(local_fleet: LocalFleet) -> None:
    out = fedctl(local_fleet, "status", "-o", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    states = {c["name"]: c["state"] for c in data["clusters"]}
    assert states == {"hub": "Ready", "member1": "Ready", "member2": "Ready",
                      "member3": "Ready"}
    member1 = next(c for c in data["clusters"] if c["name"] == "member1")
    assert member1["gpusTotal"] == {"NVIDIA-H100-80GB-HBM3": 8}
    assert member1["processes"]["operators"] == "running"  # the operator simulator
    assert {s["name"] for s in data["stores"]} == {"s3-a", "gcs-a", "disk-a"}


def test_status_table_and_fault_commands(local_fleet: LocalFleet) -> None:
    table = fedctl(local_fleet, "status")
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0]
    assert header.split()[:3] == ["CLUSTER", "ROLE", "STATUS"]
    try:
        paused = fedctl(local_fleet, "fault", "pause", "member1")
        assert paused.returncode == 0, paused.stderr
        after = fedctl(local_fleet, "status", "-o", "json")
        states = {c["name"]: c["state"] for c in json.loads(after.stdout)["clusters"]}
        assert states["member1"] == "Paused"
        assert after.returncode == 0  # JSON output always exits 0
        table = fedctl(local_fleet, "status")
        assert table.returncode == 1  # the table exits non-zero when a cluster is not Ready
    finally:
        resumed = fedctl(local_fleet, "fault", "resume", "member1")
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(fedctl(local_fleet, "status", "-o", "json").stdout)
    assert {c["name"]: c["state"] for c in final["clusters"]}["member1"] == "Ready"


def test_unknown_cluster_is_a_clear_error(local_fleet: LocalFleet) -> None:
    out = fedctl(local_fleet, "fault", "kill", "nope")
    assert out.returncode == 1
    assert "no cluster named 'nope'" in out.stderr and "member1" in out.stderr
