"""Kubeflow training-operator v1 (PyTorchJob, TFJob, XGBoostJob, PaddleJob, JAXJob).

Per replica type and index, a pod ``<job>-<type>-<index>`` (type lower-cased) from the
replica's template — its labels kept, the operator's labels added, the replica's
``restartPolicy`` applied — and a headless Service of the same name; the framework's
environment (PyTorch ``MASTER_ADDR``/``RANK``…, TensorFlow ``TF_CONFIG``). Status:
conditions ``Created`` → ``Running`` (every pod Running) → ``Succeeded`` (the leading
replica type — Master/Chief, else all Workers — succeeded) or ``Failed`` (a pod failed),
``replicaStatuses`` with active/succeeded/failed per type, ``startTime``, ``completionTime``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.dev.opsim.common import (
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
    labels_of,
    name_of,
    namespace_of,
    plan_children,
    pod_phase,
    pod_template,
    set_condition,
    template_annotations,
    template_labels,
)
from federation.interpreters.paths import get_at

JOB_NAME = "training.kubeflow.org/job-name"
OPERATOR_NAME = "training.kubeflow.org/operator-name"
REPLICA_TYPE = "training.kubeflow.org/replica-type"
REPLICA_INDEX = "training.kubeflow.org/replica-index"
JOB_ROLE = "training.kubeflow.org/job-role"
LEADERS = ("Master", "Chief", "Launcher")


@dataclass(frozen=True, slots=True)
class Framework:
    container: str  # the framework's default container name
    port_name: str
    port: int
    restart_policy: str  # the replica default


FRAMEWORKS = {
    "PyTorchJob": Framework("pytorch", "pytorchjob-port", 23456, "OnFailure"),
    "TFJob": Framework("tensorflow", "tfjob-port", 2222, "Never"),
    "XGBoostJob": Framework("xgboost", "xgboostjob-port", 9999, "Never"),
    "PaddleJob": Framework("paddle", "master", 36543, "Never"),
    "JAXJob": Framework("jax", "jaxjob-port", 6666, "Never"),
}


@dataclass(frozen=True, slots=True)
class Replica:
    rtype: str  # as in the spec: Master, Worker, PS, Chief
    index: int
    pod: Obj


def job_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return {OPERATOR_NAME: f"{str(obj['kind']).lower()}-controller",
            JOB_NAME: name_of(obj).replace("/", "-")}


def pod_name(job: str, rtype: str, index: int) -> str:
    return f"{job}-{rtype.lower()}-{index}".replace("/", "-")


def replicas(obj: Obj, ctx: Context) -> list[Replica]:
    """The pods the operator creates, from the interpreter's components."""
    fw = FRAMEWORKS[str(obj["kind"])]
    views = [v for v in ctx.interpreters.components(obj) if pod_template(obj, v)]
    types = {v.name: v.replicas for v in views}
    out = []
    for view in views:
        found = pod_template(obj, view)
        assert found is not None and view.pod_spec_path is not None
        tmeta, spec = found
        entry = get_at(obj, view.pod_spec_path[:-2]) or {}
        restart = str(entry.get("restartPolicy") or fw.restart_policy)
        for i in range(max(0, view.replicas)):
            labels = {**template_labels(tmeta), **job_labels(obj),
                      REPLICA_TYPE: view.name.lower(), REPLICA_INDEX: str(i)}
            if _is_master(view.name, i, types):
                labels[JOB_ROLE] = "master"
            pod_spec = for_kube_scheduler(dict(spec))
            pod_spec["restartPolicy"] = "Never" if restart == "ExitCode" else restart
            _add_env(pod_spec, fw, _cluster_env(obj, fw, view.name, i, types))
            name = pod_name(name_of(obj), view.name, i)
            out.append(Replica(view.name, i, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": child_meta(obj, name, labels, template_annotations(tmeta)),
                "spec": pod_spec}))
    return out


def _is_master(rtype: str, index: int, types: Mapping[str, int]) -> bool:
    if rtype in LEADERS:
        return True
    return rtype == "Worker" and index == 0 and not any(t in types for t in LEADERS)


def _cluster_env(obj: Obj, fw: Framework, rtype: str, index: int,
                 types: Mapping[str, int]) -> list[Obj]:
    job, ns = name_of(obj), namespace_of(obj)
    kind = str(obj["kind"])
    if kind == "PyTorchJob":
        world = sum(types.values())
        master = pod_name(job, "Master", 0) if "Master" in types else pod_name(job, rtype, 0)
        rank = index + (1 if rtype != "Master" and "Master" in types else 0)
        return [{"name": "MASTER_ADDR", "value": master},
                {"name": "MASTER_PORT", "value": str(fw.port)},
                {"name": "WORLD_SIZE", "value": str(world)},
                {"name": "RANK", "value": str(rank)},
                {"name": "PYTHONUNBUFFERED", "value": "1"}]
    if kind == "TFJob":
        cluster = {t.lower(): [f"{pod_name(job, t, i)}.{ns}.svc:{fw.port}" for i in range(n)]
                   for t, n in types.items()}
        config = {"cluster": cluster, "task": {"type": rtype.lower(), "index": index},
                  "environment": "cloud"}
        return [{"name": "TF_CONFIG", "value": json.dumps(config, sort_keys=True)}]
    return []


def _add_env(spec: Obj, fw: Framework, env: list[Obj]) -> None:
    if not env:
        return
    containers = [dict(c) for c in spec.get("containers") or []]
    spec["containers"] = containers
    targets = [c for c in containers if c.get("name") == fw.container] or containers[:1]
    for c in targets:
        have = {e.get("name") for e in c.get("env") or [] if isinstance(e, dict)}
        c["env"] = [*(c.get("env") or []), *(e for e in env if e["name"] not in have)]


def reconcile(obj: Obj, observed: Observed, ctx: Context) -> Result:
    fw = FRAMEWORKS[str(obj["kind"])]
    wanted = replicas(obj, ctx)
    old = obj.get("status") or {}
    finished = condition_true(old, "Succeeded") or condition_true(old, "Failed")
    services = [headless_service(obj, name_of(r.pod), _selector(r.pod),
                                 [(fw.port_name, fw.port)], labels=_selector(r.pod))
                for r in wanted]
    plan = plan_children([r.pod for r in wanted] + services, observed,
                         prune=() if finished else (POD, SERVICE), create=not finished)
    return Result(plan, status(obj, observed, ctx, wanted))


def _selector(pod: Obj) -> dict[str, str]:
    labels = labels_of(pod)
    return {k: labels[k] for k in (OPERATOR_NAME, JOB_NAME, REPLICA_TYPE, REPLICA_INDEX)}


def status(obj: Obj, observed: Observed, ctx: Context, wanted: list[Replica]) -> Obj:
    kind, now = str(obj["kind"]), ctx.now
    old: Obj = obj.get("status") or {}
    who = f"{kind} {namespace_of(obj)}/{name_of(obj)}"
    pods = {name_of(p): p for p in observed.of(POD)}
    counts: dict[str, dict[str, int]] = {}
    for r in wanted:
        c = counts.setdefault(r.rtype, {"active": 0, "succeeded": 0, "failed": 0})
        phase = pod_phase(pods.get(name_of(r.pod)) or {"status": {"phase": "Missing"}})
        key = {"Running": "active", "Succeeded": "succeeded", "Failed": "failed"}.get(phase)
        if key:
            c[key] += 1
    types = {r.rtype for r in wanted}
    replica_statuses = {}
    for rtype in sorted(types):
        selector = {**job_labels(obj), REPLICA_TYPE: rtype.lower()}
        entry: Obj = {k: v for k, v in counts[rtype].items() if v}
        entry["selector"] = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        replica_statuses[rtype] = entry
    conds = set_condition(old.get("conditions") or [], "Created", "True", f"{kind}Created",
                          f"{who} is created.", now, update_time=True)
    out: Obj = {"conditions": conds, "replicaStatuses": replica_statuses,
                "startTime": old.get("startTime") or now}
    if old.get("completionTime"):
        out["completionTime"] = old["completionTime"]
    if condition_true(old, "Succeeded") or condition_true(old, "Failed"):
        return out  # terminal: the operator only keeps counting
    leaders = [t for t in LEADERS if t in types] or [t for t in ("Worker",) if t in types]
    expected = {t: sum(1 for r in wanted if r.rtype == t) for t in types}
    if any(c["failed"] for c in counts.values()):
        out["conditions"] = _terminal(conds, "Failed", f"{who} has failed because a pod "
                                      "failed.", kind, now)
        out.setdefault("completionTime", now)
    elif leaders and all(counts[t]["succeeded"] >= expected[t] for t in leaders):
        out["conditions"] = _terminal(conds, "Succeeded", f"{who} successfully completed.",
                                      kind, now)
        out.setdefault("completionTime", now)
    elif wanted and sum(c["active"] for c in counts.values()) == len(wanted):
        out["conditions"] = set_condition(conds, "Running", "True", f"{kind}Running",
                                          f"{who} is running.", now, update_time=True)
    return out


def _terminal(conds: list[Obj], ctype: str, message: str, kind: str, now: str) -> list[Obj]:
    out = set_condition(conds, ctype, "True", f"{kind}{ctype}", message, now, update_time=True)
    if any(c.get("type") == "Running" for c in out):
        out = set_condition(out, "Running", "False", f"{kind}{ctype}", message, now,
                            update_time=True)
    return out
