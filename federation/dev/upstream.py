"""The AI operators' own CustomResourceDefinitions: which Go module and version provides
each, and the pure steps that turn the upstream files into what the local fleet installs.

``federation.dev.build`` fetches each source with ``go mod download -json MODULE@VERSION``
(into a throw-away module cache) and keeps only the listed CRD files, converted to JSON
(fast to load), in ``<cache>/crds/<source>-<version>/``. Volcano's module is not served by
the Go module proxy: its Job CRD is a schema of our own (``data/crds``), written after
Volcano's published API types.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.errors import FedctlError

CRD_LABEL = "fedctl.dev/crd-source"  # which source (module@version) a CRD came from
OWN_CRDS = Path(__file__).parent / "data" / "crds"
OWN_SOURCE = "fedctl"  # the label value on CRDs of our own (Volcano)


class CrdError(FedctlError):
    """An upstream CRD file is missing or not what we expect."""


@dataclass(frozen=True, slots=True)
class CrdSource:
    """A Go module that ships CRDs, pinned by version, and the files we take from it."""

    name: str  # cache entry name
    module: str
    version: str  # as the module proxy knows it (with the leading "v")
    files: tuple[str, ...]  # paths inside the module

    @property
    def cached_names(self) -> tuple[str, ...]:
        """File names in the cache entry (the upstream base name, as JSON)."""
        return tuple(cached_name(f) for f in self.files)


def cached_name(path: str) -> str:
    return Path(path).stem + ".json"


_TRAINING = "manifests/base/crds/"
SOURCES: dict[str, CrdSource] = {s.name: s for s in (
    CrdSource("crds-training-operator", "github.com/kubeflow/training-operator", "v1.9.3",
              tuple(_TRAINING + f"kubeflow.org_{p}.yaml"
                    for p in ("pytorchjobs", "tfjobs", "mpijobs"))),
    CrdSource("crds-mpi-operator", "github.com/kubeflow/mpi-operator", "v0.6.0",
              ("manifests/base/kubeflow.org_mpijobs.yaml",)),
    CrdSource("crds-trainer", "github.com/kubeflow/trainer/v2", "v2.1.0",
              tuple(_TRAINING + f"trainer.kubeflow.org_{p}.yaml"
                    for p in ("trainjobs", "trainingruntimes", "clustertrainingruntimes"))),
    CrdSource("crds-jobset", "sigs.k8s.io/jobset", "v0.10.1",
              ("config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml",)),
    CrdSource("crds-kuberay", "github.com/ray-project/kuberay/ray-operator", "v1.4.2",
              tuple(f"config/crd/bases/ray.io_{p}.yaml"
                    for p in ("rayclusters", "rayjobs", "rayservices"))),
    CrdSource("crds-kserve", "github.com/kserve/kserve", "v0.16.0",
              ("config/crd/full/serving.kserve.io_inferenceservices.yaml",)),
)}


@dataclass(frozen=True, slots=True)
class CrdFile:
    source: str  # a SOURCES key, or OWN_SOURCE
    name: str  # file name in the cache entry (or in OWN_CRDS)


# (group, kind, version) -> the CRD serving that version, plus companion CRDs installed with
# it on members (a TrainJob names a TrainingRuntime or ClusterTrainingRuntime).
UPSTREAM: dict[tuple[str, str, str], CrdFile] = {
    ("kubeflow.org", "PyTorchJob", "v1"): CrdFile("crds-training-operator",
                                                  "kubeflow.org_pytorchjobs.json"),
    ("kubeflow.org", "TFJob", "v1"): CrdFile("crds-training-operator",
                                             "kubeflow.org_tfjobs.json"),
    ("kubeflow.org", "MPIJob", "v1"): CrdFile("crds-training-operator",
                                              "kubeflow.org_mpijobs.json"),
    ("kubeflow.org", "MPIJob", "v2beta1"): CrdFile("crds-mpi-operator",
                                                   "kubeflow.org_mpijobs.json"),
    ("trainer.kubeflow.org", "TrainJob", "v1alpha1"): CrdFile(
        "crds-trainer", "trainer.kubeflow.org_trainjobs.json"),
    ("jobset.x-k8s.io", "JobSet", "v1alpha2"): CrdFile("crds-jobset",
                                                       "jobset.x-k8s.io_jobsets.json"),
    ("ray.io", "RayCluster", "v1"): CrdFile("crds-kuberay", "ray.io_rayclusters.json"),
    ("ray.io", "RayJob", "v1"): CrdFile("crds-kuberay", "ray.io_rayjobs.json"),
    ("ray.io", "RayService", "v1"): CrdFile("crds-kuberay", "ray.io_rayservices.json"),
    ("serving.kserve.io", "InferenceService", "v1beta1"): CrdFile(
        "crds-kserve", "serving.kserve.io_inferenceservices.json"),
    ("batch.volcano.sh", "Job", "v1alpha1"): CrdFile(OWN_SOURCE, "batch.volcano.sh_jobs.yaml"),
}
COMPANIONS: dict[tuple[str, str], tuple[CrdFile, ...]] = {
    ("trainer.kubeflow.org", "TrainJob"): (
        CrdFile("crds-trainer", "trainer.kubeflow.org_trainingruntimes.json"),
        CrdFile("crds-trainer", "trainer.kubeflow.org_clustertrainingruntimes.json")),
}


def source_label(source: str) -> str:
    if source == OWN_SOURCE:
        return OWN_SOURCE
    s = SOURCES[source]
    return f"{s.name.removeprefix('crds-')}-{s.version}"


def prepared(crd: dict[str, Any], source: str, where: str) -> dict[str, Any]:
    """The CRD as we install it: only name, labels (plus ours) and annotations of the
    metadata, no status; checked to be a CustomResourceDefinition with versions."""
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise CrdError(f"{where}: not a CustomResourceDefinition")
    spec = crd.get("spec")
    if not isinstance(spec, dict) or not spec.get("versions"):
        raise CrdError(f"{where}: spec.versions is missing")
    meta = crd.get("metadata") or {}
    out_meta: dict[str, Any] = {"name": meta.get("name"),
                                "labels": {**(meta.get("labels") or {}),
                                           CRD_LABEL: source_label(source)}}
    if meta.get("annotations"):
        out_meta["annotations"] = dict(meta["annotations"])
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": out_meta, "spec": copy.deepcopy(spec)}


def merge_versions(crds: Sequence[dict[str, Any]], storage: str) -> dict[str, Any]:
    """One CRD serving every version of ``crds`` (same group, names and scope; versions
    from different files): ``storage`` is the stored version, conversion ``None`` (objects
    change only their apiVersion; each version keeps its own schema)."""
    if not crds:
        raise CrdError("no CRDs to merge")
    base = copy.deepcopy(crds[0])
    name = base["metadata"]["name"]
    versions: list[dict[str, Any]] = []
    sources: list[str] = []
    for crd in crds:
        spec = crd["spec"]
        for key in ("group", "scope"):
            if spec.get(key) != base["spec"].get(key):
                raise CrdError(f"CRD {name}: {key} differs between the files to merge "
                               f"({base['spec'].get(key)!r}, {spec.get(key)!r})")
        if spec["names"].get("kind") != base["spec"]["names"].get("kind") or (
                spec["names"].get("plural") != base["spec"]["names"].get("plural")):
            raise CrdError(f"CRD {name}: names differ between the files to merge")
        for v in spec["versions"]:
            if any(have["name"] == v["name"] for have in versions):
                raise CrdError(f"CRD {name}: version {v['name']} is in more than one file")
            versions.append({**copy.deepcopy(v), "served": True,
                             "storage": v["name"] == storage})
        label = (crd["metadata"].get("labels") or {}).get(CRD_LABEL)
        if label and label not in sources:
            sources.append(label)
    if not any(v["storage"] for v in versions):
        raise CrdError(f"CRD {name}: storage version {storage} is not among "
                       f"{[v['name'] for v in versions]}")
    base["spec"]["versions"] = versions
    base["spec"]["conversion"] = {"strategy": "None"}
    base["metadata"].setdefault("labels", {})[CRD_LABEL] = "_".join(sources)
    return base
