"""Benchmark: warm start-up of the local fleet, RSS per member, largest member count.

Prints one JSON document. Binaries must be built (`fedctl dev build`); their build time is
not part of this benchmark. Usage:

    python bench/fleet_startup.py [--members 3] [--scale 3,10,20,30] [--repeat 3]

For each size in --scale the fleet is started (hub + N members, two GPU node pools each),
measured when every cluster is Ready, and stopped; the largest size that came up is
reported. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from federation.dev import procs
from federation.dev.build import ensure_binaries
from federation.dev.localfleet import LocalFleet
from federation.dev.status import fleet_status
from federation.fleet import Fleet, parse_fleet

PRODUCTS = ["H100-80GB", "A100-80GB", "L4-24GB", "T4-16GB"]


def fleet_of(members: int) -> Fleet:
    lines = ["apiVersion: fedctl.dev/v1alpha1", "kind: Fleet", "metadata: {name: bench}",
             "clusters:"]
    for i in range(members):
        product = PRODUCTS[i % len(PRODUCTS)]
        lines += [
            f"  - name: m{i}",
            "    provider: bench",
            f"    region: r{i % 3}",
            "    simulate:",
            "      nodePools:",
            f"        - {{name: gpu, count: 2, gpu: {{product: {product}, count: 8}}}}",
            "        - {name: cpu, count: 1}",
        ]
    return parse_fleet("\n".join(lines) + "\n", f"<bench fleet of {members}>")


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release()}


async def run_once(members: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fedctl-bench-") as tmp:
        lf = LocalFleet(Path(tmp) / "state")
        started = time.monotonic()
        try:
            state = await lf.up(fleet_of(members))
            elapsed = time.monotonic() - started
            clusters, _ = await fleet_status(state)
            ready = sum(1 for c in clusters if c.state == "Ready")
            per_member = []
            for c in state.members:
                per_member.append(sum(procs.rss_bytes(p) for p in c.procs.values()))
            hub = sum(procs.rss_bytes(p) for p in state.cluster("hub").procs.values())
            per_component: dict[str, list[int]] = {}
            for c in state.members:
                for role, p in c.procs.items():
                    per_component.setdefault(role, []).append(procs.rss_bytes(p))
            return {
                "members": members,
                "ok": ready == members + 1,
                "startup_seconds": round(elapsed, 2),
                "clusters_ready": ready,
                "hub_rss_mib": round(hub / 2**20, 1),
                "member_rss_mib_mean": round(statistics.mean(per_member) / 2**20, 1),
                "member_rss_mib_max": round(max(per_member) / 2**20, 1),
                "member_component_rss_mib_mean": {
                    k: round(statistics.mean(v) / 2**20, 1) for k, v in per_component.items()},
                "total_rss_gib": round((hub + sum(per_member)) / 2**30, 2),
            }
        except Exception as exc:
            return {"members": members, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:800],
                    "after_seconds": round(time.monotonic() - started, 1)}
        finally:
            left = lf.down()
            if left:
                raise SystemExit(f"processes left behind: {left}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", default="3,10,20",
                    help="comma-separated member counts to try for the largest fleet")
    args = ap.parse_args()
    ensure_binaries()
    warm = [await run_once(args.members) for _ in range(args.repeat)]
    ok = [r for r in warm if r.get("ok")]
    scale = []
    largest = 0
    for n in (int(x) for x in args.scale.split(",") if x):
        r = await run_once(n)
        scale.append(r)
        if not r.get("ok"):
            break
        largest = n
    print(json.dumps({
        "benchmark": "fleet_startup",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "warm_start": {
            "members": args.members,
            "runs": warm,
            "startup_seconds_median": (statistics.median(r["startup_seconds"] for r in ok)
                                       if ok else None),
            "goal_seconds": 60,
        },
        "scale": scale,
        "largest_member_count_started": largest,
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
