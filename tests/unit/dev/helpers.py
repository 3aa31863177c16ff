"""Builders for the operator simulator's unit tests: objects as the API server returns them."""

from __future__ import annotations

import copy
from typing import Any

from federation.dev.opsim.common import Context, Obj, Observed, Result, kind_key, name_of
from federation.dev.opsim.registry import OPERATORS
from federation.interpreters.interpreter import Interpreters

NOW = "2026-11-23T10:00:00Z"
LATER = "2026-11-23T10:05:00Z"
INTERP = Interpreters()
ALL_SERVED = frozenset(OPERATORS)
OURS = {"app.kubernetes.io/managed-by": "fedctl", "fedctl.dev/binding": "ml.train"}


def ctx(now: str = NOW, served: frozenset[str] = ALL_SERVED) -> Context:
    return Context(INTERP, now, served)


def stored(obj: Obj, uid: str = "uid-1", generation: int = 1) -> Obj:
    """``obj`` as stored: namespace, uid, generation."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta.setdefault("namespace", "ml")
    meta.update(uid=uid, generation=generation, resourceVersion="1")
    return out


def reconcile(obj: Obj, observed: Observed | None = None, *, now: str = NOW,
              served: frozenset[str] = ALL_SERVED) -> Result:
    return OPERATORS[kind_key(obj)].reconcile(obj, observed or Observed(), ctx(now, served))


def with_status(obj: Obj, status: Obj) -> Obj:
    return {**obj, "status": status}


def observe(*children: Obj) -> Observed:
    out: dict[str, list[Obj]] = {}
    for c in children:
        out.setdefault(kind_key(c), []).append(c)
    return Observed({k: tuple(v) for k, v in out.items()})


def pod_in(pod: Obj, phase: str, *, ready: bool = True, node: str = "n1") -> Obj:
    out = copy.deepcopy(pod)
    out["spec"]["nodeName"] = node
    conds = [{"type": "Ready", "status": "True" if ready and phase == "Running" else "False"}]
    out["status"] = {"phase": phase, "conditions": conds, "podIP": "10.128.0.9"}
    return out


def job_done(job: Obj, ctype: str = "Complete", *, active: int = 0) -> Obj:
    out = copy.deepcopy(job)
    conds = [{"type": ctype, "status": "True"}] if ctype else []
    parallelism = int(out["spec"].get("parallelism") or 1)
    out["status"] = {"conditions": conds, "active": active,
                     "succeeded": parallelism if ctype == "Complete" else 0}
    return out


def deployment_state(dep: Obj, available: int, generation: int = 1) -> Obj:
    out = copy.deepcopy(dep)
    out["metadata"]["generation"] = generation
    out["status"] = {"observedGeneration": generation, "availableReplicas": available,
                     "updatedReplicas": available, "readyReplicas": available}
    return out


def named(objs: Any, kind: str | None = None) -> list[str]:
    return sorted(name_of(o) for o in objs if kind is None or o["kind"] == kind)
