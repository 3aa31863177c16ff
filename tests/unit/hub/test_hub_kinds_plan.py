"""Which kinds the hub watches and members are found to serve (discovery, pure)."""

from __future__ import annotations

from federation.hub.crd_watch import crd_summary
from federation.hub.kinds import (
    ServedKind,
    authored_version,
    installed_idents,
    is_versioned,
    parse_resources,
    plan_watches,
    split_ident,
)
from federation.model.cluster import ClusterSnapshot

MPI_V1 = ServedKind("kubeflow.org", "v1", "MPIJob", "mpijobs")
MPI_V2 = ServedKind("kubeflow.org", "v2beta1", "MPIJob", "mpijobs")
PYTORCH = ServedKind("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs")
POD = ServedKind("", "v1", "Pod", "pods")
NODE = ServedKind("", "v1", "Node", "nodes", namespaced=False)


def test_resources_skip_subresources() -> None:
    doc = {"resources": [
        {"name": "mpijobs", "kind": "MPIJob", "namespaced": True},
        {"name": "mpijobs/status", "kind": "MPIJob", "namespaced": True},
        {"name": "nodes", "kind": "Node", "namespaced": False}]}
    assert parse_resources("kubeflow.org", "v1", doc) == [
        MPI_V1, ServedKind("kubeflow.org", "v1", "Node", "nodes", namespaced=False)]


def test_installed_kinds_name_every_served_version() -> None:
    member1 = installed_idents([MPI_V1, PYTORCH, POD])
    assert member1 == {"kubeflow.org/MPIJob", "kubeflow.org/v1/MPIJob",
                       "kubeflow.org/PyTorchJob", "kubeflow.org/v1/PyTorchJob",
                       "Pod", "v1/Pod"}
    snap = ClusterSnapshot("m1", "onprem", "r", "z", installed_kinds=member1)
    assert snap.kind_versions["kubeflow.org/MPIJob"] == {"v1"}
    assert snap.kind_versions["Pod"] == {"v1"}
    both = ClusterSnapshot("hub", "p", "r", "z",
                           installed_kinds=installed_idents([MPI_V1, MPI_V2]))
    assert both.kind_versions["kubeflow.org/MPIJob"] == {"v1", "v2beta1"}


def test_every_interpretable_served_kind_is_watched_at_each_version() -> None:
    plan = plan_watches(
        [MPI_V1, MPI_V2, PYTORCH, POD, NODE,
         ServedKind("example.com", "v1", "Widget", "widgets")],
        [("kubeflow.org", "MPIJob"), ("kubeflow.org", "PyTorchJob"), ("", "Pod"),
         ("", "Node"), ("kubeflow.org", "XGBoostJob")],
        {"kubeflow.org": "v2beta1"})
    assert plan.watches == tuple(sorted([MPI_V1, MPI_V2, PYTORCH, POD]))
    assert plan.default_version == {("kubeflow.org", "MPIJob"): "v2beta1"}
    assert plan.missing == ("kubeflow.org/XGBoostJob",)
    assert plan.cluster_scoped == ("Node",)


def test_default_version_falls_back_when_preferred_is_not_served_for_the_kind() -> None:
    plan = plan_watches([MPI_V1, MPI_V2], [("kubeflow.org", "MPIJob")],
                        {"kubeflow.org": "v2"})
    assert plan.default_version == {("kubeflow.org", "MPIJob"): "v1"}


def _entry(manager: str, api_version: str, time: str, sub: str = "") -> dict[str, str]:
    e = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": time}
    if sub:
        e["subresource"] = sub
    return e


def test_authored_version_is_the_users_newest_write_not_the_hubs() -> None:
    obj = {"metadata": {"managedFields": [
        _entry("kubectl", "kubeflow.org/v1", "2026-01-01T00:00:00Z"),
        _entry("fedctl", "kubeflow.org/v2beta1", "2026-01-02T00:00:00Z"),
        _entry("opsim", "kubeflow.org/v2beta1", "2026-01-03T00:00:00Z", sub="status")]}}
    assert authored_version(obj, "kubeflow.org", "fedctl", "v2beta1") == "v1"
    later = {"metadata": {"managedFields": [
        *obj["metadata"]["managedFields"],
        _entry("kubectl-edit", "kubeflow.org/v2beta1", "2026-01-04T00:00:00Z")]}}
    assert authored_version(later, "kubeflow.org", "fedctl", "v1") == "v2beta1"
    assert authored_version({"metadata": {}}, "kubeflow.org", "fedctl", "v2beta1") == (
        "v2beta1")


def test_split_ident() -> None:
    assert split_ident("kubeflow.org/PyTorchJob") == ("kubeflow.org", "PyTorchJob")
    assert split_ident("Pod") == ("", "Pod")


def test_crd_summary_keeps_what_discovery_depends_on() -> None:
    crd = {"metadata": {"name": "mxjobs.kubeflow.org", "resourceVersion": "7"},
           "spec": {"group": "kubeflow.org", "names": {"kind": "MXJob"},
                    "versions": [{"name": "v1", "served": True, "schema": {"x": 1}},
                                 {"name": "v1alpha1", "served": False}]},
           "status": {"conditions": [{"type": "Established", "status": "True"}],
                      "storedVersions": ["v1"]}}
    assert crd_summary(crd) == ("mxjobs.kubeflow.org", "kubeflow.org", "MXJob", ("v1",),
                                True)
    fresh = {**crd, "status": {}}
    assert crd_summary(fresh)[4] is False


def test_versioned_idents_are_told_apart() -> None:
    assert [is_versioned(i) for i in ("kubeflow.org/v1/MPIJob", "v1/Pod", "apps/Deployment",
                                      "Pod", "velero.io/Backup")] == [
        True, True, False, False, False]
