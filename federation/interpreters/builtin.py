"""Built-in workload kinds, described with the same ``KindSpec`` data users write in YAML."""

from __future__ import annotations

from federation.interpreters.spec import ComponentRule, HealthRule, KindSpec

_POD_TEMPLATE = ComponentRule(name="main", replicas="spec.replicas",
                              pod_spec="spec.template.spec")
_REPLICA_HEALTH = HealthRule(ready_replicas="status.readyReplicas")
_KUBEFLOW_HEALTH = HealthRule(conditions=(("Running", "Running"), ("Succeeded", "Succeeded"),
                                          ("Failed", "Failed")))
_APPS_SUMS = ("status.replicas", "status.readyReplicas", "status.availableReplicas",
              "status.updatedReplicas")
_ISVC_FRAMEWORKS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
                    "huggingface", "lightgbm", "paddle", "pmml")


def _kubeflow(kind: str, key: str) -> KindSpec:
    return KindSpec(
        group="kubeflow.org", kind=kind, gang=True, health=_KUBEFLOW_HEALTH,
        components=(ComponentRule(each=f"spec.{key}.*", name="$key", replicas="replicas",
                                  pod_spec="template.spec"),),
    )


def _isvc_component(role: str) -> ComponentRule:
    return ComponentRule(
        each="", name=role, replicas=f"spec.{role}.minReplicas", pod_spec=f"spec.{role}",
        containers=tuple(f"spec.{role}.{fw}" for fw in _ISVC_FRAMEWORKS),
    )


def _ray_groups(root: str) -> tuple[ComponentRule, ...]:
    return (
        ComponentRule(name="head", pod_spec=f"{root}.headGroupSpec.template.spec"),
        ComponentRule(each=f"{root}.workerGroupSpecs[*]", name=".groupName",
                      replicas="replicas", pod_spec="template.spec"),
    )


BUILTIN: tuple[KindSpec, ...] = (
    KindSpec(group="apps", kind="Deployment", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, sum_fields=_APPS_SUMS),
    KindSpec(group="apps", kind="StatefulSet", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, sum_fields=_APPS_SUMS),
    KindSpec(group="apps", kind="ReplicaSet", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, sum_fields=_APPS_SUMS),
    KindSpec(group="batch", kind="Job",
             components=(ComponentRule(name="main", replicas="spec.parallelism",
                                       pod_spec="spec.template.spec"),),
             health=HealthRule(conditions=(("Complete", "Succeeded"), ("Failed", "Failed")),
                               active="status.active"),
             sum_fields=("status.active", "status.succeeded", "status.failed",
                         "status.ready"),
             prune=("spec.selector", "spec.manualSelector"),
             prune_template_labels=("controller-uid", "job-name",
                                    "batch.kubernetes.io/controller-uid",
                                    "batch.kubernetes.io/job-name")),
    KindSpec(group="", kind="Pod", components=(ComponentRule(name="main", pod_spec="spec"),),
             health=HealthRule(field="status.phase",
                               values=(("Pending", "Pending"), ("Running", "Running"),
                                       ("Succeeded", "Succeeded"), ("Failed", "Failed")))),
    _kubeflow("PyTorchJob", "pytorchReplicaSpecs"),
    _kubeflow("TFJob", "tfReplicaSpecs"),
    _kubeflow("MPIJob", "mpiReplicaSpecs"),
    _kubeflow("XGBoostJob", "xgbReplicaSpecs"),
    _kubeflow("PaddleJob", "paddleReplicaSpecs"),
    _kubeflow("JAXJob", "jaxReplicaSpecs"),
    KindSpec(
        group="trainer.kubeflow.org", kind="TrainJob", gang=True,
        components=(ComponentRule(name="node", replicas="spec.trainer.numNodes",
                                  containers=("spec.trainer",)),),
        # the trainer writes jobsStatus (the JobSet's replicated jobs) and no Running
        # condition; resources come from spec.trainer.resourcesPerNode (see demand.py)
        health=HealthRule(conditions=(("Complete", "Succeeded"), ("Failed", "Failed")),
                          active="status.jobsStatus[*].active"),
    ),
    KindSpec(
        group="jobset.x-k8s.io", kind="JobSet", gang=True,
        components=(ComponentRule(each="spec.replicatedJobs[*]", name=".name",
                                  replicas="replicas", pod_spec="template.spec.template.spec",
                                  pods_per_replica="template.spec.parallelism"),),
        # a running JobSet has no condition: its active Jobs say it runs
        health=HealthRule(conditions=(("Completed", "Succeeded"), ("Failed", "Failed")),
                          active="status.replicatedJobsStatus[*].active"),
    ),
    KindSpec(
        group="batch.volcano.sh", kind="Job", gang=True,
        components=(ComponentRule(each="spec.tasks[*]", name=".name", replicas="replicas",
                                  pod_spec="template.spec"),),
        # every phase Volcano's job controller writes
        health=HealthRule(field="status.state.phase",
                          values=(("Pending", "Pending"), ("Running", "Running"),
                                  ("Restarting", "Running"), ("Completing", "Running"),
                                  ("Completed", "Succeeded"), ("Failed", "Failed"),
                                  ("Aborting", "Failed"), ("Aborted", "Failed"),
                                  ("Terminating", "Failed"), ("Terminated", "Failed"))),
    ),
    KindSpec(
        group="serving.kserve.io", kind="InferenceService",
        components=tuple(_isvc_component(r) for r in ("predictor", "transformer",
                                                      "explainer")),
        health=HealthRule(conditions=(("Ready", "Ready"),)),
        storage_uris=tuple(f"spec.predictor.{fw}.storageUri" for fw in _ISVC_FRAMEWORKS),
    ),
    KindSpec(
        group="ray.io", kind="RayJob", gang=True, components=_ray_groups("spec.rayClusterSpec"),
        health=HealthRule(field="status.jobStatus",
                          values=(("PENDING", "Pending"), ("RUNNING", "Running"),
                                  ("SUCCEEDED", "Succeeded"), ("FAILED", "Failed"),
                                  ("STOPPED", "Failed"))),
    ),
    KindSpec(
        # serving: not a gang; Ready once the Serve applications are healthy
        group="ray.io", kind="RayService", components=_ray_groups("spec.rayClusterConfig"),
        health=HealthRule(conditions=(("Ready", "Ready"),), field="status.serviceStatus",
                          values=(("Running", "Ready"),)),
    ),
    KindSpec(
        group="ray.io", kind="RayCluster", components=_ray_groups("spec"),
        health=HealthRule(field="status.state", values=(("ready", "Ready"),
                                                        ("failed", "Failed"))),
    ),
    # kinds without replicas: copied whole to every selected cluster, never scheduled by
    # capacity; the member's own allocations (cluster IPs, node ports) are left to it
    KindSpec(group="", kind="Service", components=(), duplicated=True, write_status=False,
             health=HealthRule(present="Ready"),
             prune=("spec.clusterIP", "spec.clusterIPs", "spec.ports[*].nodePort",
                    "spec.healthCheckNodePort")),
    KindSpec(group="", kind="ConfigMap", components=(), duplicated=True, write_status=False,
             health=HealthRule(present="Ready")),
    KindSpec(group="", kind="Secret", components=(), duplicated=True, write_status=False,
             health=HealthRule(present="Ready")),
)
