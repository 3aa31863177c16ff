"""What a workload asks for: components x replicas x per-replica resources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Component:
    """Replicas that share one pod template (a PyTorchJob Master, its Workers…)."""

    name: str
    replicas: int
    gpus: int = 0  # per replica (nvidia.com/gpu)
    cpu_millis: int = 0  # per replica
    memory_bytes: int = 0  # per replica
    gpu_product: str | None = None  # pinned by the template's node selector


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

    @property
    def total_replicas(self) -> int:
        return sum(c.replicas for c in self.components)

    @property
    def total_gpus(self) -> int:
        return sum(c.replicas * c.gpus for c in self.components)

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"
