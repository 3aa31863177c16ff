"""Workload kinds fedctl knows beyond the built-in ones (the AI operators' CRDs).

Group, version, kind and plural are the real ones of each operator. ``WORKLOAD_KINDS`` has
one entry per kind, at the version the local fleet's hub stores; ``OTHER_VERSIONS`` lists
further versions a member may serve instead (MPIJob ``kubeflow.org/v1`` of the Kubeflow
training-operator, where ``v2beta1`` is the MPI operator's; the hub's CRD serves both). The
local fleet installs them as CRDs (``federation.dev.crds``); fleet files name them in
``simulate.workloadKinds`` as ``Kind`` or ``group/Kind``, with ``/version`` appended for
another version (``MPIJob/v1``).

The hub does not read this list: it watches every kind an interpreter knows, at every
version the hub serves it, as found by API discovery (``federation.hub.kinds``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs"),
    WorkloadKind("kubeflow.org", "v1", "TFJob", "tfjobs"),
    WorkloadKind("kubeflow.org", "v2beta1", "MPIJob", "mpijobs"),
    WorkloadKind("trainer.kubeflow.org", "v1alpha1", "TrainJob", "trainjobs"),
    WorkloadKind("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices",
                 ("isvc",)),
    WorkloadKind("jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets"),
    WorkloadKind("batch.volcano.sh", "v1alpha1", "Job", "jobs", ("vcjob", "vj")),
    WorkloadKind("ray.io", "v1", "RayJob", "rayjobs"),
    WorkloadKind("ray.io", "v1", "RayCluster", "rayclusters"),
    WorkloadKind("ray.io", "v1", "RayService", "rayservices"),
)


OTHER_VERSIONS: tuple[WorkloadKind, ...] = (
    WorkloadKind("kubeflow.org", "v1", "MPIJob", "mpijobs"),
)
_VERSION = re.compile(r"v\d+((alpha|beta)\d+)?")


def known_kind_names() -> list[str]:
    return [f"{k.group}/{k.kind}" for k in WORKLOAD_KINDS] + [
        f"{k.group}/{k.kind}/{k.version}" for k in OTHER_VERSIONS]


def kind_versions(group: str, kind: str) -> tuple[WorkloadKind, ...]:
    """Every version of one kind fedctl knows, the hub's first."""
    return tuple(k for k in (*WORKLOAD_KINDS, *OTHER_VERSIONS)
                 if k.group == group and k.kind == kind)


def resolve_kind(name: str) -> WorkloadKind | None:
    """``PyTorchJob``, ``kubeflow.org/PyTorchJob``, ``batch.volcano.sh/Job``; a trailing
    ``/version`` picks that version (``MPIJob/v1``), else the hub's version."""
    version = None
    head, _, last = name.rpartition("/")
    if head and _VERSION.fullmatch(last):
        name, version = head, last
    if "/" in name:
        group, kind = name.rsplit("/", 1)
        found = [k for k in WORKLOAD_KINDS if k.group == group and k.kind == kind]
    else:
        found = [k for k in WORKLOAD_KINDS if k.kind == name]
    if len(found) != 1:
        return None
    if version is None:
        return found[0]
    return next((k for k in kind_versions(found[0].group, found[0].kind)
                 if k.version == version), None)
