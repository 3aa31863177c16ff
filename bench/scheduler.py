"""Scheduler benchmark: decisions/s and latency percentiles at 100 and 1,000 clusters.

    python bench/scheduler.py [--decisions 2000] [--clusters 100,1000] [--profile]

Builds a synthetic fleet (clusters across providers, regions and GPU products, priced
from the shipped catalog, some not ready, some edge sites), then times
``Scheduler.schedule`` on a realistic demand mix: 80% 1-GPU inference services
(2-8 replicas, L4/T4/A10G, spread over two regions, free-capacity division) and 20%
training gangs of 8 replicas x 8 GPUs (H100 or A100, near a 20 TiB dataset, with a
budget). One process, one core. Prints JSON; it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from federation.catalog.egress import load_egress_matrix
from federation.catalog.prices import cluster_prices, load_price_catalog, vcpu_price
from federation.model.cluster import ClusterSnapshot, NodeGroup, Taint
from federation.model.demand import Component, Demand
from federation.scheduling.runtime import Scheduler
from policies.models import (
    CostPolicy,
    DataPolicy,
    Dataset,
    Gang,
    GpuPolicy,
    Placement,
    ReplicaScheduling,
    SpreadConstraint,
)

GiB = 1024**3
SITES = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-west-1"),
         ("gcp", "us-central1"), ("gcp", "europe-west4"), ("gcp", "asia-northeast1"),
         ("azure", "eastus"), ("azure", "westeurope"), ("onprem", "dc1"), ("onprem", "dc2")]
TRAIN_GPUS = ["H100-80GB", "A100-80GB", "H200-141GB"]
SERVE_GPUS = ["L4-24GB", "T4-16GB", "A10G-24GB", "L40S-48GB"]


def fleet(n: int, rnd: random.Random) -> list[ClusterSnapshot]:
    catalog = load_price_catalog()
    out = []
    for i in range(n):
        provider, region = SITES[i % len(SITES)]
        edge = i % 10 == 9
        groups = []
        if not edge and rnd.random() < 0.6:
            product = rnd.choice(TRAIN_GPUS)
            nodes = rnd.randint(1, 16)
            free = rnd.choice([8, 8, 8, 4, 0])
            groups.append(NodeGroup(nodes, product, 81920, free, 8, 192_000 - free * 20_000,
                                    2048 * GiB, ))
        product = rnd.choice(SERVE_GPUS)
        groups.append(NodeGroup(rnd.randint(1, 20), product, 23034, rnd.randint(0, 4), 4,
                                48_000, 192 * GiB))
        groups.append(NodeGroup(rnd.randint(2, 10), None, 0, 0, 0, 32_000, 128 * GiB))
        products = {g.gpu_product for g in groups if g.gpu_product}
        taints = (Taint("fedctl.dev/edge", "true"),) if edge else ()
        out.append(ClusterSnapshot(
            name=f"{provider}-{region}-{i:04d}", provider="edge" if edge else provider,
            region=f"edge-{i % 7}" if edge else region, zone=f"{region}-{'abc'[i % 3]}",
            labels={"fedctl.dev/tier": "edge" if edge else (
                "onprem" if provider == "onprem" else "cloud")},
            taints=taints, ready=rnd.random() > 0.03, edge=edge, node_groups=tuple(groups),
            prices=cluster_prices(catalog, provider, region, products,
                                  on_demand_overrides={p: 1.9 for p in products}
                                  if provider == "onprem" else None),
            vcpu_hourly=vcpu_price(catalog, provider, region),
            spot_available=provider != "onprem" and rnd.random() < 0.5,
            store_regions=(region,),
            cached=frozenset({"s3://models/chat-8b/"}) if rnd.random() < 0.2 else frozenset(),
        ))
    return out


INFERENCE = Placement(
    spread_constraints=(SpreadConstraint(spread_by="region", min_groups=2, max_groups=2),),
    replica_scheduling=ReplicaScheduling(division="FreeCapacity"),
    gpu=GpuPolicy(products=("L4", "T4", "A10G"), preference=("L4", "A10G", "T4")),
    score_weights=(("artifactCached", 2.0),),
)
TRAINING = Placement(
    gpu=GpuPolicy(products=("H100", "A100*"), preference=("H100", "A100-80GB")),
    cost=CostPolicy(budget_per_hour=400.0, spot_allowed=False),
    data=DataPolicy(datasets=(Dataset(name="corpus", uri="s3://data/corpus/",
                                      size=20 * 1024**4, region="us-east-1",
                                      provider="aws"),)),
    gang=Gang(mode="SingleCluster"),
    score_weights=(("cost", 2.0), ("dataLocality", 2.0)),
)


def workload(i: int, rnd: random.Random) -> tuple[Demand, Placement]:
    if i % 5 == 4:
        gang = (Component("Master", 1, 8, 16_000, 256 * GiB),
                Component("Worker", 7, 8, 16_000, 256 * GiB))
        return Demand("kubeflow.org/v1", "PyTorchJob", f"train-{i}", "ml", gang), TRAINING
    comps = (Component("predictor", rnd.randint(2, 8), 1, 4000, 24 * GiB),)
    return (Demand("serving.kserve.io/v1beta1", "InferenceService", f"chat-{i}", "serving",
                   comps, artifacts=("s3://models/chat-8b/",)), INFERENCE)


def run(n_clusters: int, n_decisions: int, seed: int, profile: bool) -> dict[str, object]:
    rnd = random.Random(seed)
    clusters = fleet(n_clusters, rnd)
    work = [workload(i, rnd) for i in range(n_decisions)]
    scheduler = Scheduler(load_egress_matrix())
    for d, p in work[:50]:  # warm-up
        scheduler.schedule(clusters, d, p)
    prof = cProfile.Profile() if profile else None
    lat: list[int] = []
    cpu: list[int] = []
    ok = 0
    if prof:
        prof.enable()
    start = time.perf_counter()
    cpu_start = time.thread_time()
    for d, p in work:
        t0 = time.perf_counter_ns()
        c0 = time.thread_time_ns()
        dec = scheduler.schedule(clusters, d, p)
        cpu.append(time.thread_time_ns() - c0)
        lat.append(time.perf_counter_ns() - t0)
        ok += dec.schedulable
    wall = time.perf_counter() - start
    cpu_total = time.thread_time() - cpu_start
    if prof:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "clusters": n_clusters,
        "decisions": n_decisions,
        "schedulable": ok,
        # wall clock: what a caller sees, including time the OS gave to other processes
        "decisions_per_s": round(n_decisions / wall, 1),
        **_percentiles("", lat),
        # CPU time of this thread: the algorithm's cost, less sensitive to a busy machine
        "cpu_decisions_per_s": round(n_decisions / cpu_total, 1),
        **_percentiles("cpu_", cpu),
    }


def _percentiles(prefix: str, samples_ns: list[int]) -> dict[str, float]:
    ms = sorted(x / 1e6 for x in samples_ns)
    return {
        f"{prefix}p50_ms": round(statistics.median(ms), 3),
        f"{prefix}p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        f"{prefix}max_ms": round(ms[-1], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", default="100,1000")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile to stderr")
    parser.add_argument("--gc", choices=["hub", "default"], default="hub",
                        help="hub: the GC thresholds `fedctl hub run` sets at start-up "
                             "(federation.tuning); default: CPython's")
    args = parser.parse_args()
    if args.gc == "hub":
        from federation.tuning import tune_process_gc

        tune_process_gc()
    import gc
    results = [run(int(n), args.decisions if int(n) <= 100 else max(200, args.decisions // 5),
                   args.seed, args.profile) for n in args.clusters.split(",")]
    print(json.dumps({
        "benchmark": "scheduler",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "mix": "80% 1-GPU inference (2-8 replicas, spread 2 regions), "
               "20% 8x8-GPU training gangs",
        "gc_thresholds": list(gc.get_threshold()),
        "results": results,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
