"""What a workload asks for: components x replicas x per-replica resources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Component:
    """Replicas that share one pod template (a PyTorchJob Master, its Workers…).

    ``replicas`` counts in the unit the kind's replica field counts (a JobSet's replicated
    job counts Jobs); each replica runs ``pods_per_replica`` pods (a Job's parallelism, a
    Ray multi-host group's ``numOfHosts``), and the resources are per pod. The scheduler
    places whole replicas: a share is written back into the same field.
    """

    name: str
    replicas: int
    gpus: int = 0  # per pod (nvidia.com/gpu)
    cpu_millis: int = 0  # per pod
    memory_bytes: int = 0  # per pod
    gpu_product: str | None = None  # pinned by the template's node selector
    pods_per_replica: int = 1

    @property
    def pods(self) -> int:
        return self.replicas * self.pods_per_replica


@dataclass(frozen=True, slots=True)
class Demand:
    api_version: str
    kind: str
    name: str
    namespace: str
    components: tuple[Component, ...]
    labels: tuple[tuple[str, str], ...] = ()
    artifacts: tuple[str, ...] = ()  # model URIs the pods load (storageUri…)
    # no replicas (Service, ConfigMap, Secret): one copy on every selected cluster
    duplicated: bool = False
    # the kind's gang default (its KindSpec): all replicas in one cluster unless the policy
    # sets another gang mode; None = not known (a hand-built demand: by kind name)
    gang: bool | None = None
    # False: a copy with part of the replicas is not valid on its own (an MPIJob needs its
    # one Launcher in every copy), so the workload is never divided
    divisible: bool = True

    @property
    def total_replicas(self) -> int:
        return sum(c.replicas for c in self.components)

    @property
    def total_pods(self) -> int:
        return sum(c.pods for c in self.components)

    @property
    def total_gpus(self) -> int:
        return sum(c.pods * c.gpus for c in self.components)

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"
