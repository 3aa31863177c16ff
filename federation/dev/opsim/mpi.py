"""MPI operator v2 (MPIJob ``kubeflow.org/v2beta1``).

Worker pods ``<job>-worker-<i>`` (hostname = pod name, subdomain = the job's headless
Service ``<job>``) and the launcher as a batch Job ``<job>-launcher`` — kube-controller-
manager runs its pod and kwok completes it, so an MPIJob finishes as the launcher does.
Status: ``Created`` → ``Running`` (launcher active, every worker Running) →
``Succeeded``/``Failed`` from the launcher Job; ``replicaStatuses`` for Launcher and
Worker. With ``runPolicy.cleanPodPolicy`` Running or All, workers are deleted once the job
has finished (the default, None, keeps them).
"""

from __future__ import annotations

from typing import Any

from federation.dev.opsim.common import (
    JOB,
    POD,
    SERVICE,
    Context,
    Obj,
    Observed,
    Result,
    child_meta,
    condition_true,
    for_kube_scheduler,
    headless_service,
    job_finished,
    name_of,
    namespace_of,
    plan_children,
    pod_phase,
    pod_template,
    set_condition,
    template_annotations,
    template_labels,
)
from federation.dev.opsim.kubeflow import JOB_NAME, JOB_ROLE, OPERATOR_NAME, REPLICA_INDEX
from federation.interpreters.paths import get_at

OPERATOR = "mpi-operator"


def _labels(obj: Obj, role: str) -> dict[str, str]:
    return {OPERATOR_NAME: OPERATOR, JOB_NAME: name_of(obj), JOB_ROLE: role}


def children(obj: Obj, ctx: Context) -> list[Obj]:
    job = name_of(obj)
    out: list[Obj] = []
    for view in ctx.interpreters.components(obj):
        found = pod_template(obj, view)
        if found is None or view.pod_spec_path is None:
            continue
        tmeta, spec = found
        entry = get_at(obj, view.pod_spec_path[:-2]) or {}
        if view.name == "Launcher":
            restart = str(entry.get("restartPolicy") or "OnFailure")
            spec = for_kube_scheduler(spec)
            spec["restartPolicy"] = restart if restart in ("Never", "OnFailure") else "OnFailure"
            labels = {**template_labels(tmeta), **_labels(obj, "launcher")}
            run = (obj.get("spec") or {}).get("runPolicy") or {}
            job_spec: Obj = {"template": {"metadata": {"labels": labels,
                                                       "annotations": template_annotations(
                                                           tmeta)},
                                          "spec": spec}}
            for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
                if run.get(key) is not None:
                    job_spec[key] = run[key]
            out.append({"apiVersion": "batch/v1", "kind": "Job",
                        "metadata": child_meta(obj, f"{job}-launcher", labels),
                        "spec": job_spec})
        elif view.name == "Worker":
            restart = str(entry.get("restartPolicy") or "Never")
            for i in range(max(0, view.replicas)):
                name = f"{job}-worker-{i}"
                pod_spec = for_kube_scheduler(dict(spec))
                pod_spec.update(hostname=name, subdomain=job, restartPolicy=(
                    "Never" if restart == "ExitCode" else restart))
                labels = {**template_labels(tmeta), **_labels(obj, "worker"),
                          REPLICA_INDEX: str(i)}
                out.append({"apiVersion": "v1", "kind": "Pod",
                            "metadata": child_meta(obj, name, labels,
                                                   template_annotations(tmeta)),
                            "spec": pod_spec})
    out.append(headless_service(obj, job, {OPERATOR_NAME: OPERATOR, JOB_NAME: job},
                                labels={OPERATOR_NAME: OPERATOR, JOB_NAME: job}))
    return out


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    old: Obj = obj.get("status") or {}
    finished = condition_true(old, "Succeeded") or condition_true(old, "Failed")
    wanted = children(obj, ctx)
    clean = ((obj.get("spec") or {}).get("runPolicy") or {}).get("cleanPodPolicy") in (
        "Running", "All")
    if finished and clean:
        wanted = [c for c in wanted if c["kind"] != "Pod"]
    plan = plan_children(wanted, observed, prune=(POD, SERVICE), create=not finished)
    return Result(plan, status(obj, observed, ctx, wanted))


def status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Obj]) -> Obj:
    now = ctx.now
    old: Obj = obj.get("status") or {}
    who = f"MPIJob {namespace_of(obj)}/{name_of(obj)}"
    conds = set_condition(old.get("conditions") or [], "Created", "True", "MPIJobCreated",
                          f"{who} is created.", now, update_time=True)
    out: Obj = {"conditions": conds, "startTime": old.get("startTime") or now}
    if old.get("completionTime"):
        out["completionTime"] = old["completionTime"]
    launcher = observed.get(JOB, f"{name_of(obj)}-launcher")
    workers_wanted = sum(1 for c in wanted if c["kind"] == "Pod")
    workers = observed.of(POD)
    running = sum(1 for p in workers if pod_phase(p) == "Running")
    statuses: dict[str, Any] = {"Worker": {k: v for k, v in (
        ("active", running),
        ("failed", sum(1 for p in workers if pod_phase(p) == "Failed"))) if v}}
    launcher_status: Obj = {}
    out["replicaStatuses"] = statuses
    if launcher is None:
        return out
    statuses["Launcher"] = launcher_status
    done = job_finished(launcher)
    active = int((launcher.get("status") or {}).get("active") or 0)
    if condition_true(old, "Succeeded") or condition_true(old, "Failed"):
        launcher_status.update({"succeeded": 1} if condition_true(old, "Succeeded")
                               else {"failed": 1})
        return out
    if done == "Complete":
        launcher_status["succeeded"] = 1
        out["conditions"] = _finish(conds, "Succeeded", f"{who} successfully completed.", now)
        out["completionTime"] = (launcher.get("status") or {}).get("completionTime") or now
    elif done == "Failed":
        launcher_status["failed"] = 1
        out["conditions"] = _finish(conds, "Failed", f"{who} has failed: the launcher job "
                                    "failed.", now)
        out["completionTime"] = now
    elif active:
        launcher_status["active"] = active
        if running >= workers_wanted:
            out["conditions"] = set_condition(conds, "Running", "True", "MPIJobRunning",
                                              f"{who} is running.", now, update_time=True)
    return out


def _finish(conds: list[Obj], ctype: str, message: str, now: str) -> list[Obj]:
    out = set_condition(conds, ctype, "True", f"MPIJob{ctype}", message, now,
                        update_time=True)
    if any(c.get("type") == "Running" for c in out):
        out = set_condition(out, "Running", "False", f"MPIJob{ctype}", message, now,
                            update_time=True)
    return out
