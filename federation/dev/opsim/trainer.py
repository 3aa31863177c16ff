"""Kubeflow Trainer v2 (TrainJob ``trainer.kubeflow.org/v1alpha1``).

The fleet has no TrainingRuntimes: every TrainJob runs as the ``torch-distributed`` runtime
shapes it — a JobSet ``<trainjob>`` with one replicated job ``node`` whose Job runs
``numNodes`` pods (parallelism = completions) of the trainer container (``image``,
``command``, ``args``, ``env``, ``resourcesPerNode``), with ``podTemplateOverrides`` for
the ``node`` job applied (pod labels and annotations; node selector, tolerations, affinity,
service account, scheduling gates, image pull secrets, volumes). The simulated JobSet
controller takes it from there. Needs the JobSet kind on the member, as the real
trainer does.

Status as the trainer writes it: ``jobsStatus`` mirrors the JobSet's replicated jobs;
``Complete``/``Failed`` conditions follow the JobSet's ``Completed``/``Failed``. A running
TrainJob has no condition.
"""

from __future__ import annotations

import copy
from typing import Any

from federation.dev.opsim.common import (
    Context,
    Obj,
    Observed,
    Result,
    child_meta,
    condition,
    condition_true,
    name_of,
    plan_children,
    set_condition,
)

JOBSET = "jobset.x-k8s.io/JobSet"
STEP_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
DEFAULT_IMAGE = "pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime"


def jobset(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    trainer: dict[str, Any] = spec.get("trainer") or {}
    nodes = trainer.get("numNodes")
    nodes = nodes if isinstance(nodes, int) and not isinstance(nodes, bool) else 1
    container: Obj = {"name": "node", "image": trainer.get("image") or DEFAULT_IMAGE}
    for key in ("command", "args", "env"):
        if trainer.get(key):
            container[key] = copy.deepcopy(trainer[key])
    resources = trainer.get("resourcesPerNode") or trainer.get("resources")
    if isinstance(resources, dict):
        container["resources"] = copy.deepcopy(resources)
    env = [e for e in container.get("env") or [] if isinstance(e, dict)]
    env.append({"name": "PET_NNODES", "value": str(nodes)})
    container["env"] = env
    pod_spec: Obj = {"restartPolicy": "OnFailure", "containers": [container]}
    pod_labels = {STEP_LABEL: "trainer"}
    pod_annotations: dict[str, str] = {}
    for override in spec.get("podTemplateOverrides") or []:
        targets = {t.get("name") for t in override.get("targetJobs") or []
                   if isinstance(t, dict)}
        if "node" not in targets:
            continue
        over_spec = override.get("spec") or {}
        for key in ("nodeSelector", "tolerations", "serviceAccountName", "affinity",
                    "schedulingGates", "imagePullSecrets", "volumes"):
            if over_spec.get(key):
                pod_spec[key] = copy.deepcopy(over_spec[key])
        over_meta = override.get("metadata") or {}
        pod_labels = {**{str(k): str(v) for k, v in (over_meta.get("labels") or {}).items()},
                      **pod_labels}
        pod_annotations.update({str(k): str(v)
                                for k, v in (over_meta.get("annotations") or {}).items()})
    step = {STEP_LABEL: "trainer"}
    pod_meta: Obj = {"labels": pod_labels}
    if pod_annotations:
        pod_meta["annotations"] = pod_annotations
    labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (spec.get("annotations") or {}).items()}
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": child_meta(obj, name_of(obj), labels, annotations),
            "spec": {"replicatedJobs": [{"name": "node", "replicas": 1, "template": {
                "metadata": {"labels": step},
                "spec": {"parallelism": nodes, "completions": nodes, "backoffLimit": 0,
                         "completionMode": "Indexed",
                         "template": {"metadata": pod_meta, "spec": pod_spec}}}}],
                "suspend": bool(spec.get("suspend"))}}


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    old: Obj = obj.get("status") or {}
    finished = condition_true(old, "Complete") or condition_true(old, "Failed")
    wanted = [jobset(obj)] if JOBSET in ctx.served else []
    plan = plan_children(wanted, observed, prune=(), create=not finished)
    child = observed.get(JOBSET, name_of(obj))
    status: Obj = {}
    conds: list[Obj] = list(old.get("conditions") or [])
    if child is not None:
        js: Obj = child.get("status") or {}
        status["jobsStatus"] = copy.deepcopy(js.get("replicatedJobsStatus") or [])
        for theirs, ours in (("Completed", "Complete"), ("Failed", "Failed")):
            c = condition(js, theirs)
            if c is not None and c.get("status") == "True" and not finished:
                conds = set_condition(conds, ours, "True", str(c.get("reason") or theirs),
                                      str(c.get("message") or ""), ctx.now)
    elif old.get("jobsStatus"):
        status["jobsStatus"] = old["jobsStatus"]
    if conds:
        status["conditions"] = conds
    return Result(plan, status)
