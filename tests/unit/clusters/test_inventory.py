"""GPU inventory from node and pod dicts."""

from __future__ import annotations

from typing import Any

from federation.clusters.inventory import compute_inventory, pod_requests


def node(name: str, gpus: int = 0, product: str | None = None, ready: bool = True,
         cpu: str = "32", memory: str = "128Gi", unschedulable: bool = False) -> dict[str, Any]:
    labels = {"nvidia.com/gpu.product": product} if product else {}
    alloc = {"cpu": cpu, "memory": memory}
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"unschedulable": unschedulable},
            "status": {"allocatable": alloc, "capacity": dict(alloc),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(node_name: str | None, gpus: int = 0, cpu: str = "1", phase: str = "Running",
        init_gpus: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [
        {"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)} if gpus else {},
                                    "requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if init_gpus:
        spec["initContainers"] = [{"name": "i", "resources": {
            "requests": {"nvidia.com/gpu": str(init_gpus)}}}]
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def test_gpus_per_product_allocatable_and_requested() -> None:
    inv = compute_inventory(
        [node("a", 8, "NVIDIA-H100-80GB-HBM3"), node("b", 8, "NVIDIA-H100-80GB-HBM3"),
         node("c", 4, "NVIDIA-L4"), node("cpu")],
        [pod("a", 3), pod("a", 1), pod("c", 4), pod(None, 8), pod("b", 8, phase="Succeeded")],
    )
    assert inv.gpus["H100-80GB"].allocatable == 16
    assert inv.gpus["H100-80GB"].requested == 4  # pending and finished pods hold nothing
    assert inv.gpus["H100-80GB"].free == 12
    assert inv.gpus["L4-24GB"].free == 0
    assert set(inv.gpus) == {"H100-80GB", "L4-24GB"}
    h100 = {(g.gpus_free, g.count) for g in inv.node_groups if g.gpu_product == "H100-80GB"}
    assert h100 == {(4, 1), (8, 1)}  # per-node free GPUs are kept apart
    assert inv.nodes_total == 4 and inv.nodes_ready == 4


def test_identical_nodes_collapse_into_one_group() -> None:
    nodes = [node(f"n{i}", 8, "NVIDIA-A100-SXM4-80GB") for i in range(5)]
    inv = compute_inventory(nodes, [])
    assert len(inv.node_groups) == 1
    group = inv.node_groups[0]
    assert (group.count, group.gpus_free, group.gpu_memory_mib) == (5, 8, 81920)


def test_not_ready_and_cordoned_nodes_offer_nothing() -> None:
    inv = compute_inventory([node("a", 8, "Tesla-T4", ready=False),
                             node("b", 8, "Tesla-T4", unschedulable=True),
                             node("c", 1, "Tesla-T4")], [])
    assert inv.nodes_ready == 1
    assert sum(g.count * g.gpus_free for g in inv.node_groups) == 1
    assert inv.gpus["T4-16GB"].allocatable == 17  # still counted as installed


def test_pod_requests_take_the_largest_init_container() -> None:
    assert pod_requests(pod("a", gpus=1, init_gpus=4))[0] == 4
    assert pod_requests(pod("a", gpus=2, cpu="500m"))[:2] == (2, 500)


def test_unknown_product_label_is_kept_verbatim() -> None:
    inv = compute_inventory([node("a", 2, "NVIDIA-Future-GPU")], [])
    assert set(inv.gpus) == {"NVIDIA-Future-GPU"}


def test_records_give_the_same_inventory() -> None:
    from federation.clusters.inventory import NodeInfo, PodUsage, node_info, pod_usage

    nodes = [node("a", 8, "NVIDIA-H100-80GB-HBM3"), node("c", 4, "NVIDIA-L4", ready=False),
             node("d", 2, "NVIDIA-L4", unschedulable=True), node("cpu")]
    for n in nodes:
        n["metadata"]["managedFields"] = [{"manager": "kubelet"}]
        n["metadata"]["labels"]["kubernetes.io/hostname"] = n["metadata"]["name"]
        n["status"]["conditions"].append({"type": "MemoryPressure", "status": "False"})
    pods = [pod("a", 3), pod("a", 1, init_gpus=4), pod("cpu", cpu="2"), pod(None, 8),
            pod("a", 8, phase="Succeeded")]
    pods[0]["metadata"]["labels"] = {"fedctl.dev/binding": "ns.w", "app": "x"}
    for exclude in ((), ("ns.w",)):
        full = compute_inventory(nodes, pods, exclude)
        records = compute_inventory([node_info(n) for n in nodes],
                                    [pod_usage(p) for p in pods], exclude)
        assert records == full
    assert pod_usage(pods[0]) == PodUsage("a", "ns.w", 3, 1000, 0)
    assert pod_usage(pods[3]).node == ""  # unscheduled: holds nothing
    assert pod_usage(pods[4]).node == ""  # ended: holds nothing
    info = node_info(nodes[0])
    assert isinstance(info, NodeInfo)
    assert (info.product, info.gpus_allocatable, info.ready) == ("H100-80GB", 8, True)
    assert not node_info(nodes[2]).ready  # cordoned
