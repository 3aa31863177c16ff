"""Workload kinds fedctl knows beyond the built-in ones (the AI operators' CRDs).

Group, version, kind and plural are the real ones of each operator. The local fleet
installs them as CRDs (``federation.dev.crds``); fleet files name them in
``simulate.workloadKinds`` as ``Kind`` or ``group/Kind``.
"""

from __future__ import annotations

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


def known_kind_names() -> list[str]:
    return [f"{k.group}/{k.kind}" for k in WORKLOAD_KINDS]


def resolve_kind(name: str) -> WorkloadKind | None:
    """``PyTorchJob``, ``kubeflow.org/PyTorchJob`` or ``batch.volcano.sh/Job``."""
    if "/" in name:
        group, kind = name.rsplit("/", 1)
        return next((k for k in WORKLOAD_KINDS if k.group == group and k.kind == kind), None)
    matches = [k for k in WORKLOAD_KINDS if k.kind == name]
    return matches[0] if len(matches) == 1 else None
