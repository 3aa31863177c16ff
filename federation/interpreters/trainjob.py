"""Kubeflow Trainer's TrainJob: where its overrides put the trainer's pods (pure).

A TrainJob has no pod template: its pods come from a training runtime, whose replicated
job ``node`` runs the trainer (``spec.trainer``: numNodes, resourcesPerNode). The user
constrains those pods with overrides that target ``node``:

* Trainer v2.1: ``spec.podTemplateOverrides[].spec`` (nodeSelector, affinity,
  tolerations, ...; its containers carry env and volume mounts only, no resources);
* Trainer v2.0: ``spec.podSpecOverrides[]``, the same fields at the entry's top level.

The trainer applies the overrides in order and merges node selectors key by key, so for
one key the last override that sets it wins. ``trainer_node_selector`` gives that value
and its field path, so the demand reader can take a GPU product pin
(``nvidia.com/gpu.product``) from it as it does from a pod template's ``nodeSelector``.
Malformed entries (not mappings, no list) are skipped: the member's schema rejects them
with its own message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from federation.interpreters.paths import Concrete

GROUP, KIND = "trainer.kubeflow.org", "TrainJob"
TRAINER_JOB = "node"  # the replicated job of a training runtime that runs the trainer
NEWER = "podTemplateOverrides"  # v2.1: the pod fields under each entry's ``spec``
OLDER = "podSpecOverrides"  # v2.0: the pod fields at each entry's top level


def is_trainjob(obj: Mapping[str, Any]) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/", 1)[0] == GROUP and obj.get("kind") == KIND


def overrides_for(obj: Mapping[str, Any], job: str = TRAINER_JOB
                  ) -> Iterator[tuple[Concrete, Mapping[str, Any]]]:
    """(path, pod fields) of every override that targets ``job``, in the order the
    trainer applies them: the older field's entries, then the newer's."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return
    for key in (OLDER, NEWER):
        entries = spec.get(key)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not _targets(entry, job):
                continue
            if key == OLDER:
                yield ("spec", key, i), entry
                continue
            fields = entry.get("spec")
            if isinstance(fields, Mapping):
                yield ("spec", key, i, "spec"), fields


def _targets(entry: Mapping[str, Any], job: str) -> bool:
    targets = entry.get("targetJobs")
    return isinstance(targets, list) and any(
        isinstance(t, Mapping) and t.get("name") == job for t in targets)


def trainer_node_selector(obj: Mapping[str, Any], label: str,
                          job: str = TRAINER_JOB) -> tuple[Concrete, Any] | None:
    """The value of node selector ``label`` that ``job``'s pods get from the overrides,
    with its field path (the last override that sets it wins); None when none sets it."""
    found: tuple[Concrete, Any] | None = None
    for path, fields in overrides_for(obj, job):
        selector = fields.get("nodeSelector")
        if isinstance(selector, Mapping) and selector.get(label) is not None:
            found = ((*path, "nodeSelector", label), selector[label])
    return found
