"""The scheduler with per-kind knowledge from the interpreters: replicas in the kind's own
unit (a JobSet's Jobs, each of ``parallelism`` pods), gangs from ``KindSpec.gang``, kinds
that cannot be divided, and installed kinds matched by API version."""

from __future__ import annotations

from typing import Any

from federation.interpreters import extract_demand
from federation.interpreters.interpreter import Interpreters
from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context
from federation.scheduling.registry import FILTERS
from federation.scheduling.reservations import holds_for
from policies.models import Gang, Placement, ReplicaScheduling
from tests.unit.scheduling.fixtures import EGRESS, cluster, schedule

INTERP = Interpreters()
DIVIDE = Placement(replica_scheduling=ReplicaScheduling(division="FreeCapacity"),
                   gang=Gang(mode="None"))


def pod(gpus: int) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "image": "i", "resources": {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"nvidia.com/gpu": str(gpus)}}}]}}


def jobset(replicas: int, parallelism: int, gpus: int = 1,
           completions: int | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {"parallelism": parallelism, "template": pod(gpus)}
    if completions is not None:
        job["completions"] = completions
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": "js", "namespace": "ml"},
            "spec": {"replicatedJobs": [{"name": "workers", "replicas": replicas,
                                         "template": {"spec": job}}]}}


def vcjob(workers: int = 4, gpus: int = 8) -> dict[str, Any]:
    return {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": "v", "namespace": "ml"},
            "spec": {"minAvailable": 1 + workers, "schedulerName": "volcano", "tasks": [
                {"name": "master", "replicas": 1, "minAvailable": 1, "template": pod(0)},
                {"name": "worker", "replicas": workers, "minAvailable": workers,
                 "template": pod(gpus)}]}}


def mpijob(api: str, workers: int = 4) -> dict[str, Any]:
    return {"apiVersion": api, "kind": "MPIJob", "metadata": {"name": "m", "namespace": "ml"},
            "spec": {"slotsPerWorker": 8, "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": pod(0)},
                "Worker": {"replicas": workers, "template": pod(8)}}}}


def copies(obj: dict[str, Any], placement: Any) -> dict[str, dict[str, Any]]:
    return {a.cluster: INTERP.with_replicas(obj, dict(a.replicas))
            for a in placement.assignments}


def pods_of_jobset(copy: dict[str, Any]) -> int:
    return sum(rj["replicas"] * rj["template"]["spec"]["parallelism"]
               for rj in copy["spec"]["replicatedJobs"])


# -- replicas in the kind's unit ----------------------------------------------------------

def test_a_jobset_is_placed_in_jobs_and_its_copy_runs_the_pods_the_binding_holds() -> None:
    obj = jobset(replicas=1, parallelism=4)
    d = extract_demand(obj)
    (comp,) = d.components
    assert (comp.replicas, comp.pods_per_replica, d.total_gpus) == (1, 4, 4)
    decision = schedule([cluster("a", nodes=1, per_node=8)], d)
    assert decision.placement.replicas("a", "workers") == 1
    (copy,) = copies(obj, decision.placement).values()
    assert copy["spec"]["replicatedJobs"][0]["replicas"] == 1  # 1 Job, not 4
    assert pods_of_jobset(copy) == 4
    held = holds_for(decision.placement, d, {"a": "H100-80GB"})
    assert held["a"].gpus == 4 == pods_of_jobset(copy) * 1


def test_a_divided_jobset_shares_jobs_and_every_copy_is_whole_jobs() -> None:
    obj = jobset(replicas=4, parallelism=2, gpus=4)  # 4 Jobs x 2 pods x 4 GPUs
    d = extract_demand(obj)
    # each cluster: 2 nodes x 8 GPUs = 4 pods = 2 Jobs
    decision = schedule([cluster("a"), cluster("b")], d, DIVIDE)
    assert decision.schedulable, decision.message
    out = copies(obj, decision.placement)
    assert {c: x["spec"]["replicatedJobs"][0]["replicas"] for c, x in out.items()} == {
        "a": 2, "b": 2}
    assert sum(pods_of_jobset(x) for x in out.values()) == 8


def test_pods_of_one_replica_count_against_capacity() -> None:
    d = extract_demand(jobset(replicas=1, parallelism=4, gpus=8))  # 32 GPUs in one Job
    assert not schedule([cluster("a", nodes=3)], d).schedulable  # 24 GPUs
    assert schedule([cluster("a", nodes=4)], d).schedulable  # one pod per node


def test_completions_cap_the_pods_a_job_runs_at_once() -> None:
    (comp,) = extract_demand(jobset(replicas=2, parallelism=4, completions=2)).components
    assert (comp.replicas, comp.pods_per_replica) == (2, 2)


def test_a_ray_multi_host_group_is_num_of_hosts_pods_per_replica() -> None:
    obj = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "r"},
           "spec": {"headGroupSpec": {"template": pod(0)}, "workerGroupSpecs": [
               {"groupName": "tpu", "replicas": 3, "numOfHosts": 2, "template": pod(1)}]}}
    d = extract_demand(obj)
    assert [(c.name, c.replicas, c.pods_per_replica) for c in d.components] == [
        ("head", 1, 1), ("tpu", 3, 2)]
    assert d.total_gpus == 6


# -- gangs from KindSpec ------------------------------------------------------------------

def test_a_volcano_job_is_a_gang_by_its_kind_spec() -> None:
    d = extract_demand(vcjob())
    assert d.gang is True and Context(d, Placement(), EGRESS).gang == "SingleCluster"
    # 32 GPUs: no cluster holds them all (16 each), so it is not divided over two
    decision = schedule([cluster("a"), cluster("b")], d)
    assert not decision.schedulable
    assert "whole gang" in decision.diagnosis.summary
    assert schedule([cluster("a", nodes=4), cluster("b")], d).placement.clusters == ("a",)


def test_a_deployment_is_no_gang_by_its_kind_spec() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": 4, "template": pod(8)}}
    d = extract_demand(obj)
    assert d.gang is False and Context(d, Placement(), EGRESS).gang == "None"


def test_a_policy_may_divide_a_volcano_job_and_every_copy_is_valid_alone() -> None:
    obj = vcjob(workers=4)
    d = extract_demand(obj)
    decision = schedule([cluster("a"), cluster("b")], d, DIVIDE)
    assert decision.schedulable, decision.message
    out = copies(obj, decision.placement)
    assert set(out) == {"a", "b"}
    masters = 0
    for name, copy in out.items():
        tasks = {t["name"]: t for t in copy["spec"]["tasks"]}
        total = sum(t["replicas"] for t in tasks.values())
        assert total == decision.placement.replicas(name)
        assert copy["spec"]["minAvailable"] <= total
        for t in tasks.values():
            assert t["minAvailable"] <= t["replicas"]
        masters += tasks["master"]["replicas"]
    assert masters == 1  # the master task runs in one copy only, 0 elsewhere


def test_an_mpijob_is_never_divided_even_when_the_policy_allows_it() -> None:
    for api in ("kubeflow.org/v1", "kubeflow.org/v2beta1"):
        obj = mpijob(api, workers=3)
        d = extract_demand(obj)
        assert not d.divisible
        assert Context(d, DIVIDE, EGRESS).gang == "SingleCluster"
        decision = schedule([cluster("a", nodes=3), cluster("b", nodes=2)], d, DIVIDE)
        assert decision.placement.clusters == ("a",)  # whole: one Launcher, one copy
        (copy,) = copies(obj, decision.placement).values()
        assert copy["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] == 1
        assert copy["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
        # Duplicated is a whole copy per cluster: each valid (its own Launcher)
        dup = Placement(replica_scheduling=ReplicaScheduling(type="Duplicated"))
        assert Context(d, dup, EGRESS).gang == "None"


def test_a_divided_pytorchjob_runs_its_master_in_one_copy_only() -> None:
    obj = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "p", "namespace": "ml"},
           "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": pod(8)},
                                            "Worker": {"replicas": 3, "template": pod(8)}}}}
    decision = schedule([cluster("a"), cluster("b")], extract_demand(obj), DIVIDE)
    assert decision.schedulable and len(decision.placement.clusters) == 2
    out = copies(obj, decision.placement)
    with_master = [c for c, x in out.items() if "Master" in x["spec"]["pytorchReplicaSpecs"]]
    assert len(with_master) == 1
    assert all(x["spec"]["pytorchReplicaSpecs"].get("Master", {"replicas": 1})["replicas"]
               == 1 for x in out.values())


# -- installed kinds, by version ----------------------------------------------------------

def _kind_filter(c: ClusterSnapshot, api: str) -> Any:
    ctx = Context(extract_demand(mpijob(api)), Placement(), EGRESS)
    return FILTERS["kindInstalled"].filter(ctx, c)


def test_installed_kinds_tell_mpijob_versions_apart() -> None:
    v1_only = cluster("a", kinds=frozenset({"kubeflow.org/MPIJob",
                                            "kubeflow.org/v1/MPIJob"}))
    v2_only = cluster("b", kinds=frozenset({"kubeflow.org/MPIJob",
                                            "kubeflow.org/v2beta1/MPIJob"}))
    unversioned = cluster("c", kinds=frozenset({"kubeflow.org/MPIJob"}))
    assert _kind_filter(v1_only, "kubeflow.org/v1") is None
    assert _kind_filter(v2_only, "kubeflow.org/v2beta1") is None
    wrong = _kind_filter(v1_only, "kubeflow.org/v2beta1")
    assert wrong is not None and "only as v1" in wrong.detail
    assert _kind_filter(v2_only, "kubeflow.org/v1") is not None
    # group/Kind alone (versions unknown): any version passes, as before
    assert _kind_filter(unversioned, "kubeflow.org/v2beta1") is None
    assert _kind_filter(cluster("d", kinds=frozenset()), "kubeflow.org/v1") is not None
