"""Built-in workload kinds, described with the same ``KindSpec`` data users write in YAML.

Status fields are those the upstream operators write (training-operator and mpi-operator
``JobStatus``, Kubeflow Trainer's TrainJob, JobSet, KubeRay, KServe, Volcano), so the hub's
aggregated status reads like a single cluster's.
"""

from __future__ import annotations

from federation.interpreters.spec import (
    ComponentRule,
    ConditionMerge,
    HealthRule,
    KindSpec,
    StatusAggregation,
    WorstRule,
)

_POD_TEMPLATE = ComponentRule(name="main", replicas="spec.replicas",
                              pod_spec="spec.template.spec")
_REPLICA_HEALTH = HealthRule(ready_replicas="status.readyReplicas")
_KUBEFLOW_HEALTH = HealthRule(conditions=(("Running", "Running"), ("Succeeded", "Succeeded"),
                                          ("Failed", "Failed")))
_APPS_STATUS = StatusAggregation(sum=("status.replicas", "status.readyReplicas",
                                      "status.availableReplicas", "status.updatedReplicas"))
# kubeflow.org JobStatus (training-operator v1, mpi-operator v2beta1): conditions
# Created/Running/Restarting/Succeeded/Suspended/Failed, replicaStatuses per replica type
_KUBEFLOW_STATUS = StatusAggregation(
    sum=("status.replicaStatuses",),
    conditions=ConditionMerge(any=("Running", "Restarting", "Failed"),
                              order=("Created", "Suspended", "Running", "Restarting",
                                     "Succeeded", "Failed")),
    earliest=("status.startTime",), latest=("status.completionTime",),
)
_ISVC_FRAMEWORKS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
                    "huggingface", "lightgbm", "paddle", "pmml")


def _kubeflow(kind: str, key: str, divisible: bool = True) -> KindSpec:
    # a copy without a replica type drops its entry (a Master must be 1 when present)
    return KindSpec(
        group="kubeflow.org", kind=kind, gang=True, divisible=divisible,
        health=_KUBEFLOW_HEALTH, aggregation=_KUBEFLOW_STATUS,
        components=(ComponentRule(each=f"spec.{key}.*", name="$key", replicas="replicas",
                                  pod_spec="template.spec", absent="remove"),),
    )


def _isvc_component(role: str) -> ComponentRule:
    # a copy without a transformer or explainer has none (the predictor is required)
    return ComponentRule(
        each="", name=role, replicas=f"spec.{role}.minReplicas", pod_spec=f"spec.{role}",
        containers=tuple(f"spec.{role}.{fw}" for fw in _ISVC_FRAMEWORKS),
        absent="zero" if role == "predictor" else "remove",
    )


def _ray_groups(root: str) -> tuple[ComponentRule, ...]:
    # every copy is a Ray cluster with its own head; a multi-host group's replica is
    # numOfHosts pods
    return (
        ComponentRule(name="head", pod_spec=f"{root}.headGroupSpec.template.spec",
                      absent="keep"),
        ComponentRule(each=f"{root}.workerGroupSpecs[*]", name=".groupName",
                      replicas="replicas", pod_spec="template.spec",
                      pods_per_replica=("numOfHosts",), clamp=("minReplicas",)),
    )


BUILTIN: tuple[KindSpec, ...] = (
    KindSpec(group="apps", kind="Deployment", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, aggregation=_APPS_STATUS),
    KindSpec(group="apps", kind="StatefulSet", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, aggregation=_APPS_STATUS),
    KindSpec(group="apps", kind="ReplicaSet", components=(_POD_TEMPLATE,),
             health=_REPLICA_HEALTH, aggregation=_APPS_STATUS),
    KindSpec(group="batch", kind="Job",
             components=(ComponentRule(name="main", replicas="spec.parallelism",
                                       pod_spec="spec.template.spec"),),
             health=HealthRule(conditions=(("Complete", "Succeeded"), ("Failed", "Failed")),
                               active="status.active"),
             # counters only: a hub Job's conditions and times are validated against
             # its own (absent) Job controller's rules
             aggregation=StatusAggregation(sum=("status.active", "status.succeeded",
                                                "status.failed", "status.ready")),
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
    # kubeflow.org/v1 (training-operator) and v2beta1 (mpi-operator) alike: Launcher and
    # Worker under mpiReplicaSpecs. Never divided: every copy would need the one Launcher
    # (a second MPI master), and Workers without one do nothing
    _kubeflow("MPIJob", "mpiReplicaSpecs", divisible=False),
    _kubeflow("XGBoostJob", "xgbReplicaSpecs"),
    _kubeflow("PaddleJob", "paddleReplicaSpecs"),
    _kubeflow("JAXJob", "jaxReplicaSpecs"),
    KindSpec(
        group="trainer.kubeflow.org", kind="TrainJob", gang=True,
        components=(ComponentRule(name="node", replicas="spec.trainer.numNodes",
                                  containers=("spec.trainer",)),),
        aggregation=StatusAggregation(
            sum=("status.jobsStatus",),
            conditions=ConditionMerge(any=("Failed",),
                                      order=("Suspended", "Complete", "Failed"))),
        # the trainer writes jobsStatus (the JobSet's replicated jobs) and no Running
        # condition; resources come from spec.trainer.resourcesPerNode (see demand.py)
        health=HealthRule(conditions=(("Complete", "Succeeded"), ("Failed", "Failed")),
                          active="status.jobsStatus[*].active"),
    ),
    KindSpec(
        group="jobset.x-k8s.io", kind="JobSet", gang=True,
        components=(ComponentRule(each="spec.replicatedJobs[*]", name=".name",
                                  replicas="replicas", pod_spec="template.spec.template.spec",
                                  # a replica is a Job: parallelism pods (at most
                                  # completions); a copy without it gets replicas 0
                                  pods_per_replica=("template.spec.parallelism",
                                                    "template.spec.completions")),),
        aggregation=StatusAggregation(
            sum=("status.replicatedJobsStatus", "status.restarts",
                 "status.restartsCountTowardsMax"),
            conditions=ConditionMerge(any=("Failed", "StartupPolicyInProgress"),
                                      order=("StartupPolicyInProgress",
                                             "StartupPolicyCompleted", "Suspended",
                                             "Completed", "Failed")),
            worst=(WorstRule("status.terminalState", order=("Failed", "", "Completed")),)),
        # a running JobSet has no condition: its active Jobs say it runs
        health=HealthRule(conditions=(("Completed", "Succeeded"), ("Failed", "Failed")),
                          active="status.replicatedJobsStatus[*].active"),
    ),
    KindSpec(
        group="batch.volcano.sh", kind="Job", gang=True,
        components=(ComponentRule(each="spec.tasks[*]", name=".name", replicas="replicas",
                                  pod_spec="template.spec", clamp=("minAvailable",)),),
        clamp_total=("spec.minAvailable",),
        # state (phase, reason, message) from the copy in the worst phase
        aggregation=StatusAggregation(
            sum=("status.minAvailable", "status.pending", "status.running",
                 "status.succeeded", "status.failed", "status.terminating", "status.unknown",
                 "status.retryCount", "status.taskStatusCount"),
            worst=(WorstRule("status.state.phase", copy="status.state"),)),
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
        # every condition (Ready, PredictorReady, IngressReady...) True only when True in
        # every copy; url/address: the first Ready copy's by cluster name (each member
        # serves on its own ingress; the others are on the ResourceBinding's clusters)
        aggregation=StatusAggregation(
            conditions=ConditionMerge(order=("Ready",)),
            first=("status.url", "status.address", "status.components",
                   "status.modelStatus")),
    ),
    KindSpec(
        group="ray.io", kind="RayJob", gang=True, components=_ray_groups("spec.rayClusterSpec"),
        health=HealthRule(field="status.jobStatus",
                          values=(("PENDING", "Pending"), ("RUNNING", "Running"),
                                  ("SUCCEEDED", "Succeeded"), ("FAILED", "Failed"),
                                  ("STOPPED", "Failed"))),
        aggregation=StatusAggregation(
            sum=("status.succeeded", "status.failed"),
            worst=(WorstRule("status.jobStatus"),
                   WorstRule("status.jobDeploymentStatus",
                             order=("Failed", "ValidationFailed", "Retrying", "Suspending",
                                    "Suspended", "Waiting", "New", "", "Initializing",
                                    "Running", "Complete"))),
            first=("status.jobId", "status.rayClusterName", "status.dashboardURL"),
            earliest=("status.startTime",), latest=("status.endTime",)),
    ),
    KindSpec(
        # serving: not a gang; Ready once the Serve applications are healthy
        group="ray.io", kind="RayService", components=_ray_groups("spec.rayClusterConfig"),
        health=HealthRule(conditions=(("Ready", "Ready"),), field="status.serviceStatus",
                          values=(("Running", "Ready"),)),
        aggregation=StatusAggregation(
            sum=("status.numServeEndpoints",),
            conditions=ConditionMerge(any=("UpgradeInProgress",), order=("Ready",)),
            worst=(WorstRule("status.serviceStatus"),),
            first=("status.activeServiceStatus", "status.pendingServiceStatus")),
    ),
    KindSpec(
        group="ray.io", kind="RayCluster", components=_ray_groups("spec"),
        health=HealthRule(field="status.state", values=(("ready", "Ready"),
                                                        ("failed", "Failed"))),
        # desiredCPU/GPU/memory are quantities of one copy: not summed, left out
        aggregation=StatusAggregation(
            sum=("status.desiredWorkerReplicas", "status.availableWorkerReplicas",
                 "status.readyWorkerReplicas", "status.minWorkerReplicas",
                 "status.maxWorkerReplicas"),
            conditions=ConditionMerge(any=("RayClusterReplicaFailure",
                                           "RayClusterSuspending"),
                                      order=("RayClusterProvisioned", "HeadPodReady")),
            worst=(WorstRule("status.state", order=("failed", "suspended", "", "ready")),),
            first=("status.head", "status.endpoints")),
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
