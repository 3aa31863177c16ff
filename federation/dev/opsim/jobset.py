"""JobSet (``jobset.x-k8s.io/v1alpha2``).

Per replicated job and index, a batch Job ``<jobset>-<replicatedJob>-<index>`` from the
replicated job's template, labelled and annotated (Job and pod template) with JobSet's
keys, pods in the subdomain of the headless Service ``<jobset>`` (DNS hostnames are on by
default). kube-controller-manager runs the Jobs' pods and kwok completes them.

Status as the JobSet controller writes it: ``replicatedJobsStatus`` (ready, succeeded,
failed, active, suspended Jobs per replicated job); a ``Completed`` condition (reason
``AllJobsCompleted``) once every Job succeeded, ``Failed`` (``FailedJobs``) when one failed
(no restarts are simulated), and ``terminalState``. A running JobSet has no condition.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from federation.dev.opsim.common import (
    JOB,
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
    set_condition,
)
from federation.interpreters.paths import get_at

PREFIX = "jobset.sigs.k8s.io/"
JOBSET_NAME = PREFIX + "jobset-name"
REPLICATED_JOB = PREFIX + "replicatedjob-name"


def subdomain(obj: Obj) -> str | None:
    network = (obj.get("spec") or {}).get("network") or {}
    if network.get("enableDNSHostnames") is False:
        return None
    return str(network.get("subdomain") or name_of(obj))


def jobs(obj: Obj, ctx: Context) -> list[Obj]:
    js, ns = name_of(obj), namespace_of(obj)
    views = [v for v in ctx.interpreters.components(obj) if v.pod_spec_path is not None]
    global_replicas = sum(max(0, v.replicas) for v in views)
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    restarts = int((obj.get("status") or {}).get("restarts") or 0)
    out = []
    offset = 0
    for view in views:
        assert view.pod_spec_path is not None
        template = get_at(obj, view.pod_spec_path[:-3])
        if not isinstance(template, dict):
            continue
        for idx in range(max(0, view.replicas)):
            name = f"{js}-{view.name}-{idx}"
            keys = {JOBSET_NAME: js, REPLICATED_JOB: view.name,
                    PREFIX + "restart-attempt": str(restarts),
                    PREFIX + "replicatedjob-replicas": str(view.replicas),
                    PREFIX + "global-replicas": str(global_replicas),
                    PREFIX + "job-index": str(idx),
                    PREFIX + "job-key": hashlib.sha1(f"{ns}/{name}".encode()).hexdigest(),
                    PREFIX + "job-global-index": str(offset + idx)}
            spec = copy.deepcopy(template.get("spec") or {})
            pod = spec.setdefault("template", {})
            pod_meta = pod.setdefault("metadata", {})
            pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **keys}
            pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **keys}
            pod_spec = for_kube_scheduler(pod.setdefault("spec", {}))
            pod_spec.setdefault("restartPolicy", "OnFailure")  # JobSet's webhook default
            if subdomain(obj):
                pod_spec["subdomain"] = subdomain(obj)
            spec["suspend"] = suspended
            tmeta = template.get("metadata") or {}
            out.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": child_meta(
                obj, name, {**(tmeta.get("labels") or {}), **keys},
                {**(tmeta.get("annotations") or {}), **keys}), "spec": spec})
        offset += max(0, view.replicas)
    return out


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    wanted = jobs(obj, ctx)
    children = list(wanted)
    sub = subdomain(obj)
    if sub:
        children.append(headless_service(obj, sub, {JOBSET_NAME: name_of(obj)},
                                         labels={JOBSET_NAME: name_of(obj)},
                                         publish_not_ready=True))
    old: Obj = obj.get("status") or {}
    finished = condition_true(old, "Completed") or condition_true(old, "Failed")
    plan = plan_children(children, observed, prune=(SERVICE,), create=not finished)
    return Result(plan, status(obj, observed, ctx, wanted))


def status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Obj]) -> Obj:
    old: Obj = obj.get("status") or {}
    per: dict[str, dict[str, int]] = {}
    for view in ctx.interpreters.components(obj):
        per.setdefault(view.name, {"ready": 0, "succeeded": 0, "failed": 0, "active": 0,
                                   "suspended": 0})
    succeeded = failed = 0
    for want in wanted:
        rjob = want["metadata"]["labels"][REPLICATED_JOB]
        counts = per.setdefault(rjob, {"ready": 0, "succeeded": 0, "failed": 0,
                                       "active": 0, "suspended": 0})
        job = observed.get(JOB, name_of(want))
        if job is None:
            continue
        st: dict[str, Any] = job.get("status") or {}
        done = job_finished(job)
        if done == "Complete":
            counts["succeeded"] += 1
            succeeded += 1
        elif done == "Failed":
            counts["failed"] += 1
            failed += 1
        elif (job.get("spec") or {}).get("suspend"):
            counts["suspended"] += 1
        else:
            counts["active"] += 1
            parallelism = int((job.get("spec") or {}).get("parallelism") or 1)
            if int(st.get("ready") or 0) + int(st.get("succeeded") or 0) >= parallelism:
                counts["ready"] += 1
    out: Obj = {"replicatedJobsStatus": [{"name": n, **c} for n, c in per.items()],
                "restarts": int(old.get("restarts") or 0)}
    conds: list[Obj] = list(old.get("conditions") or [])
    terminal = old.get("terminalState")
    if not terminal and failed:
        conds = set_condition(conds, "Failed", "True", "FailedJobs",
                              "jobset failed due to one or more job failures", ctx.now)
        terminal = "Failed"
    elif not terminal and wanted and succeeded == len(wanted):
        conds = set_condition(conds, "Completed", "True", "AllJobsCompleted",
                              "jobset completed successfully", ctx.now)
        terminal = "Completed"
    if conds:
        out["conditions"] = conds
    if terminal:
        out["terminalState"] = terminal
    return out
