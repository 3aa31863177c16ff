"""Checkpoint hand-over for training jobs that fail over (pure).

A training gang that moves off a failed cluster is started again elsewhere; it should
resume from its last checkpoint, not from step 0. The location comes from the template:
the ``fedctl.dev/checkpoint`` annotation, or else the value of a container env var (the
policy's ``failover.checkpointEnv``, ``CHECKPOINT_DIR`` by default). The new copy gets it
as ``FEDCTL_RESUME_FROM`` in every container and as the ``fedctl.dev/resume-from``
annotation, with ``FEDCTL_FAILOVER_FROM`` naming the cluster it left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.interpreters import paths
from federation.interpreters.interpreter import Interpreters

CHECKPOINT_ANNOTATION = "fedctl.dev/checkpoint"
RESUME_ANNOTATION = "fedctl.dev/resume-from"
FAILOVER_FROM_ANNOTATION = "fedctl.dev/failover-from"
RESUME_ENV = "FEDCTL_RESUME_FROM"
FAILOVER_FROM_ENV = "FEDCTL_FAILOVER_FROM"


def checkpoint_location(template: Mapping[str, Any], interpreters: Interpreters,
                        env_name: str) -> str | None:
    """Where the job writes checkpoints, or None when the template does not say."""
    ann = ((template.get("metadata") or {}).get("annotations") or {}).get(
        CHECKPOINT_ANNOTATION)
    if isinstance(ann, str) and ann.strip():
        return ann.strip()
    if not env_name or not interpreters.supports(template):
        return None
    for cpath in interpreters.container_paths(template):
        container = paths.get_at(template, cpath)
        if not isinstance(container, Mapping):
            continue
        for env in container.get("env") or []:
            if (isinstance(env, Mapping) and env.get("name") == env_name
                    and isinstance(env.get("value"), str) and env["value"].strip()):
                return str(env["value"]).strip()
    return None


def add_resume(obj: dict[str, Any], interpreters: Interpreters, location: str,
               from_cluster: str) -> None:
    """Tell a member copy to resume from ``location`` (in place; idempotent)."""
    meta = obj.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations[RESUME_ANNOTATION] = location
    annotations[FAILOVER_FROM_ANNOTATION] = from_cluster
    meta["annotations"] = annotations
    if not interpreters.supports(obj):
        return
    for cpath in interpreters.container_paths(obj):
        container = paths.get_at(obj, cpath)
        if not isinstance(container, dict):
            continue
        env = [e for e in container.get("env") or []
               if not (isinstance(e, Mapping)
                       and e.get("name") in (RESUME_ENV, FAILOVER_FROM_ENV))]
        env.append({"name": RESUME_ENV, "value": location})
        env.append({"name": FAILOVER_FROM_ENV, "value": from_cluster})
        container["env"] = env
