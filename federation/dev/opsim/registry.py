"""Which simulated operator reconciles which kind (keys as the interpreters name kinds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from federation.dev.opsim import jobset, kserve, kubeflow, mpi, ray, trainer, volcano
from federation.dev.opsim.common import Context, Obj, Observed, Result

Reconcile = Callable[[Obj, Observed, Context], Result]


@dataclass(frozen=True, slots=True)
class Operator:
    kind: str  # group/Kind
    operator: str  # the real operator this stands for
    reconcile: Reconcile


def _table() -> dict[str, Operator]:
    ops = [Operator(f"kubeflow.org/{k}", "training-operator", kubeflow.reconcile)
           for k in kubeflow.FRAMEWORKS]
    ops += [
        Operator("kubeflow.org/MPIJob", "mpi-operator", mpi.reconcile),
        Operator("trainer.kubeflow.org/TrainJob", "kubeflow-trainer", trainer.reconcile),
        Operator("jobset.x-k8s.io/JobSet", "jobset-controller", jobset.reconcile),
        Operator("batch.volcano.sh/Job", "volcano-controllers", volcano.reconcile),
        Operator("serving.kserve.io/InferenceService", "kserve-controller", kserve.reconcile),
        Operator("ray.io/RayCluster", "kuberay-operator", ray.reconcile_cluster),
        Operator("ray.io/RayJob", "kuberay-operator", ray.reconcile_job),
        Operator("ray.io/RayService", "kuberay-operator", ray.reconcile_service),
    ]
    return {op.kind: op for op in ops}


OPERATORS: Mapping[str, Operator] = MappingProxyType(_table())
