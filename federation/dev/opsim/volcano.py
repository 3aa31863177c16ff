"""Volcano Job (``batch.volcano.sh/v1alpha1``).

Per task and index, a pod ``<job>-<task>-<index>`` from the task's template, labelled and
annotated as Volcano does (``volcano.sh/job-name``, ``volcano.sh/task-spec``, queue,
PodGroup name). The fleet has no Volcano scheduler: kube-scheduler places the pods, without
gang semantics. kwok completes pods owned by a ``Job`` kind, so Volcano jobs finish.

Status: ``state.phase`` Pending → Running (``minAvailable`` pods running or done) →
Completed (all pods done, at least ``minSuccess``/``minAvailable`` succeeded) or Failed,
pod counters, ``taskStatusCount`` and Volcano's phase-history ``conditions``.
"""

from __future__ import annotations

from typing import Any

from federation.dev.opsim.common import (
    POD,
    Context,
    Obj,
    Observed,
    Result,
    child_meta,
    for_kube_scheduler,
    meta,
    name_of,
    namespace_of,
    plan_children,
    pod_phase,
    pod_template,
    template_annotations,
    template_labels,
)

TERMINAL = ("Completed", "Failed", "Aborted", "Terminated")


def pods(obj: Obj, ctx: Context) -> list[Obj]:
    job, ns = name_of(obj), namespace_of(obj)
    spec = obj.get("spec") or {}
    queue = str(spec.get("queue") or "default")
    group = f"{job}-{meta(obj).get('uid', '')}"
    out = []
    for view in ctx.interpreters.components(obj):
        found = pod_template(obj, view)
        if found is None:
            continue
        tmeta, pod_spec = found
        for i in range(max(0, view.replicas)):
            keys = {"volcano.sh/job-name": job, "volcano.sh/job-namespace": ns,
                    "volcano.sh/queue-name": queue, "volcano.sh/task-spec": view.name,
                    "volcano.sh/task-index": str(i), "volcano.sh/job-version": "0"}
            annotations = {**template_annotations(tmeta), **keys,
                           "scheduling.k8s.io/group-name": group,
                           "volcano.sh/template-uid": f"{job}-{view.name}"}
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": child_meta(obj, f"{job}-{view.name}-{i}",
                                               {**template_labels(tmeta), **keys},
                                               annotations),
                        "spec": for_kube_scheduler(dict(pod_spec))})
    return out


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    wanted = pods(obj, ctx)
    old = obj.get("status") or {}
    finished = ((old.get("state") or {}).get("phase")) in TERMINAL
    plan = plan_children(wanted, observed, prune=() if finished else (POD,),
                         create=not finished)
    return Result(plan, status(obj, observed, ctx, wanted))


def status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Obj]) -> Obj:
    old: Obj = obj.get("status") or {}
    spec = obj.get("spec") or {}
    have = {name_of(p): p for p in observed.of(POD)}
    counts = {"Pending": 0, "Running": 0, "Succeeded": 0, "Failed": 0}
    tasks: dict[str, dict[str, dict[str, int]]] = {}
    for want in wanted:
        phase = pod_phase(have.get(name_of(want)) or {})
        counts[phase] = counts.get(phase, 0) + 1
        task = want["metadata"]["labels"]["volcano.sh/task-spec"]
        per = tasks.setdefault(task, {"phase": {}})["phase"]
        per[phase] = per.get(phase, 0) + 1
    total = len(wanted)
    min_available = int(spec.get("minAvailable") or total)
    min_success = int(spec.get("minSuccess") or min_available)
    phase = str((old.get("state") or {}).get("phase") or "Pending")
    if phase not in TERMINAL and total:
        done = counts["Succeeded"] + counts["Failed"]
        if done == total:
            phase = "Completed" if counts["Succeeded"] >= min_success else "Failed"
        elif counts["Running"] + counts["Succeeded"] >= min_available:
            phase = "Running"
        else:
            phase = "Pending"
    old_state = old.get("state") or {}
    state: Obj = {"phase": phase, "lastTransitionTime": (
        old_state.get("lastTransitionTime") if old_state.get("phase") == phase
        and old_state.get("lastTransitionTime") else ctx.now)}
    conditions: list[Any] = list(old.get("conditions") or [])
    if not conditions or conditions[-1].get("status") != phase:
        conditions.append({"status": phase, "lastTransitionTime": ctx.now})
    return {"state": state, "minAvailable": min_available, "pending": counts["Pending"],
            "running": counts["Running"], "succeeded": counts["Succeeded"],
            "failed": counts["Failed"], "taskStatusCount": tasks, "version": 0,
            "retryCount": int(old.get("retryCount") or 0), "conditions": conditions}
