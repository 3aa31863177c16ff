"""The AI workload kinds' CustomResourceDefinitions, as the local fleet installs them.

These are the operators' own CRDs (structural schemas: pruning, defaults, CEL rules), taken
from their Go modules at pinned versions (``federation.dev.upstream``; fetched and cached
by ``fedctl dev build``), except Volcano's Job, whose module the Go proxy does not serve:
its schema is our own (``data/crds/batch.volcano.sh_jobs.yaml``).

* Each member gets the CRD of each kind its fleet entry lists in ``simulate.workloadKinds``
  (all by default), at the version listed (MPIJob: ``v2beta1`` of the MPI operator, or
  ``MPIJob/v1`` for the training-operator's ``kubeflow.org/v1``), plus the companions a
  kind needs (TrainJob: the TrainingRuntime and ClusterTrainingRuntime CRDs). API discovery
  on a member tells which kinds, at which version, it can run.
* The hub gets every kind. ``mpijobs.kubeflow.org`` is one CRD per cluster, so the hub's
  serves both MPIJob versions, each with its upstream schema: ``v2beta1`` is stored,
  conversion is ``None`` (an object read at the other version only changes its apiVersion;
  fields that version's schema lacks are pruned).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client as k8s

from federation.catalog.kinds import WORKLOAD_KINDS, WorkloadKind, kind_versions
from federation.clusters.crds import ensure_crds
from federation.dev.upstream import (
    COMPANIONS,
    OWN_CRDS,
    OWN_SOURCE,
    UPSTREAM,
    CrdError,
    CrdFile,
    merge_versions,
    prepared,
)

CrdDirs = Mapping[str, Path]  # CRD source name -> its cache directory (Binaries.crds)


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CrdError(f"CRD file {path} is missing",
                       hint="run `fedctl dev build` to fetch the operators' CRDs")
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise CrdError(f"{path}: not a YAML/JSON object")
    return doc


def crd_file(group: str, kind: str, version: str) -> CrdFile:
    found = UPSTREAM.get((group, kind, version))
    if found is None:
        raise CrdError(f"no CRD is known for {group}/{version} {kind}",
                       hint="add it to federation/dev/upstream.py")
    return found


def load(f: CrdFile, dirs: CrdDirs) -> dict[str, Any]:
    """One CRD file, prepared for installing."""
    if f.source == OWN_SOURCE:
        path = OWN_CRDS / f.name
    elif f.source in dirs:
        path = dirs[f.source] / f.name
    else:
        raise CrdError(f"CRD source {f.source} is not in the build cache",
                       hint="run `fedctl dev build`")
    return prepared(_read(path), f.source, str(path))


def for_kind(k: WorkloadKind, dirs: CrdDirs) -> dict[str, Any]:
    """The CRD of one kind at one version (a member's)."""
    return load(crd_file(k.group, k.kind, k.version), dirs)


def member_manifests(kinds: Iterable[WorkloadKind], dirs: CrdDirs) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k in kinds:
        out.append(for_kind(k, dirs))
        out += [load(c, dirs) for c in COMPANIONS.get((k.group, k.kind), ())]
    return out


def hub_manifests(dirs: CrdDirs, kinds: Iterable[WorkloadKind] = WORKLOAD_KINDS
                  ) -> list[dict[str, Any]]:
    """Every kind; a kind with several known versions gets one CRD serving them all,
    stored at the hub's version (the one in ``WORKLOAD_KINDS``)."""
    out: list[dict[str, Any]] = []
    for k in kinds:
        versions = kind_versions(k.group, k.kind)
        if len(versions) == 1:
            out.append(for_kind(k, dirs))
            continue
        out.append(merge_versions([for_kind(v, dirs) for v in versions], storage=k.version))
    return out


async def install(api: k8s.ApiClient, manifests: list[dict[str, Any]],
                  timeout: float = 60.0) -> None:
    """Create the CRDs (replace existing ones) and wait until each is Established."""
    await ensure_crds(api, manifests, timeout)
