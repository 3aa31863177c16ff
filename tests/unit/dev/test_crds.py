"""Upstream CRDs: which file serves which kind, preparing, merging versions, caching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.catalog.kinds import OTHER_VERSIONS, WORKLOAD_KINDS, resolve_kind
from federation.dev import build, crds, upstream
from federation.dev.upstream import CRD_LABEL, CrdError, CrdFile
from federation.errors import ToolchainError


def crd(version: str, *, kind: str = "MPIJob", group: str = "kubeflow.org",
        field: str = "x") -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", "creationTimestamp": None,
                         "annotations": {"controller-gen.kubebuilder.io/version": "v0.16"}},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": version, "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "properties": {field: {"type": "string"}}}}}]},
            "status": {"acceptedNames": {"kind": ""}}}


def test_every_kind_and_version_has_a_crd_file() -> None:
    for k in (*WORKLOAD_KINDS, *OTHER_VERSIONS):
        f = crds.crd_file(k.group, k.kind, k.version)
        if f.source == upstream.OWN_SOURCE:
            assert (upstream.OWN_CRDS / f.name).exists()
        else:  # the file is one the source fetches
            assert f.name in upstream.SOURCES[f.source].cached_names
    with pytest.raises(CrdError, match=r"no CRD is known for kubeflow\.org/v9 MPIJob"):
        crds.crd_file("kubeflow.org", "MPIJob", "v9")


def test_each_source_is_a_build_component_under_crds(tmp_path: Path) -> None:
    comp = build.COMPONENTS["crds-kserve"]
    assert build.component_dir(comp, tmp_path) == tmp_path / "crds" / "crds-kserve-v0.16.0"
    assert comp.binaries == ("serving.kserve.io_inferenceservices.json",)


def test_prepared_keeps_spec_and_labels_the_source() -> None:
    out = upstream.prepared(crd("v1"), "crds-training-operator", "f.json")
    assert "status" not in out
    assert out["metadata"] == {
        "name": "mpijobs.kubeflow.org",
        "labels": {CRD_LABEL: "training-operator-v1.9.3"},
        "annotations": {"controller-gen.kubebuilder.io/version": "v0.16"}}
    assert out["spec"] == crd("v1")["spec"]
    with pytest.raises(CrdError, match=r"f\.json: not a CustomResourceDefinition"):
        upstream.prepared({"kind": "ConfigMap"}, "crds-jobset", "f.json")
    with pytest.raises(CrdError, match=r"f\.json: spec\.versions is missing"):
        upstream.prepared({"kind": "CustomResourceDefinition", "spec": {}}, "crds-jobset",
                          "f.json")


def test_merged_crd_serves_both_versions_with_their_own_schemas() -> None:
    v1 = upstream.prepared(crd("v1", field="old"), "crds-training-operator", "a")
    v2 = upstream.prepared(crd("v2beta1", field="new"), "crds-mpi-operator", "b")
    merged = upstream.merge_versions([v2, v1], storage="v2beta1")
    versions = {v["name"]: v for v in merged["spec"]["versions"]}
    assert {n: (v["served"], v["storage"]) for n, v in versions.items()} == {
        "v2beta1": (True, True), "v1": (True, False)}
    assert list(versions["v1"]["schema"]["openAPIV3Schema"]["properties"]) == ["old"]
    assert list(versions["v2beta1"]["schema"]["openAPIV3Schema"]["properties"]) == ["new"]
    assert merged["spec"]["conversion"] == {"strategy": "None"}
    assert merged["metadata"]["labels"][CRD_LABEL] == (
        "mpi-operator-v0.6.0_training-operator-v1.9.3")
    assert v1["spec"]["versions"][0]["storage"] is True  # inputs are not changed


def test_merge_refuses_files_that_do_not_fit() -> None:
    with pytest.raises(CrdError, match="storage version v3 is not among"):
        upstream.merge_versions([crd("v1"), crd("v2beta1")], storage="v3")
    with pytest.raises(CrdError, match="version v1 is in more than one file"):
        upstream.merge_versions([crd("v1"), crd("v1")], storage="v1")
    with pytest.raises(CrdError, match="group differs"):
        upstream.merge_versions([crd("v1"), crd("v2", group="other.org")], storage="v1")
    with pytest.raises(CrdError, match="names differ"):
        upstream.merge_versions([crd("v1"), crd("v2", kind="TFJob")], storage="v1")


def _cache(tmp_path: Path) -> dict[str, Path]:
    """A fake build cache: every upstream file a minimal CRD of its kind and versions."""
    dirs: dict[str, Path] = {}
    for (group, kind, version), f in upstream.UPSTREAM.items():
        if f.source == upstream.OWN_SOURCE:
            continue
        d = dirs.setdefault(f.source, tmp_path / f.source)
        d.mkdir(exist_ok=True)
        (d / f.name).write_text(json.dumps(crd(version, kind=kind, group=group)))
    for companions in upstream.COMPANIONS.values():
        for c in companions:
            name = c.name.split("_", 1)[1].split(".")[0]
            (dirs[c.source] / c.name).write_text(json.dumps(
                crd("v1alpha1", kind=name.capitalize()[:-1], group="trainer.kubeflow.org")))
    return dirs


def test_member_gets_the_listed_version_and_companions(tmp_path: Path) -> None:
    dirs = _cache(tmp_path)
    mpi_v1, trainjob = resolve_kind("MPIJob/v1"), resolve_kind("TrainJob")
    assert mpi_v1 is not None and trainjob is not None
    out = crds.member_manifests([mpi_v1, trainjob], dirs)
    assert [(m["metadata"]["name"], [v["name"] for v in m["spec"]["versions"]])
            for m in out] == [
        ("mpijobs.kubeflow.org", ["v1"]),
        ("trainjobs.trainer.kubeflow.org", ["v1alpha1"]),
        ("trainingruntimes.trainer.kubeflow.org", ["v1alpha1"]),
        ("clustertrainingruntimes.trainer.kubeflow.org", ["v1alpha1"])]
    assert out[0]["metadata"]["labels"][CRD_LABEL] == "training-operator-v1.9.3"


def test_hub_gets_every_kind_once_and_mpijob_at_both_versions(tmp_path: Path) -> None:
    out = crds.hub_manifests(_cache(tmp_path))
    names = [m["metadata"]["name"] for m in out]
    assert sorted(names) == sorted(k.crd_name for k in WORKLOAD_KINDS)
    (mpi,) = [m for m in out if m["metadata"]["name"] == "mpijobs.kubeflow.org"]
    assert [(v["name"], v["storage"]) for v in mpi["spec"]["versions"]] == [
        ("v2beta1", True), ("v1", False)]


def test_missing_cache_says_to_build(tmp_path: Path) -> None:
    with pytest.raises(CrdError, match="fedctl dev build"):
        crds.load(CrdFile("crds-jobset", "jobset.x-k8s.io_jobsets.json"), {})
    with pytest.raises(CrdError, match="is missing"):
        crds.load(CrdFile("crds-jobset", "jobset.x-k8s.io_jobsets.json"),
                  {"crds-jobset": tmp_path})


def _props(node: dict[str, Any]) -> list[str]:
    return sorted(node["properties"])


def test_volcano_job_schema_is_ours_and_has_the_published_fields() -> None:
    raw = (upstream.OWN_CRDS / "batch.volcano.sh_jobs.yaml").read_text()
    assert "a schema of fedctl's own" in raw
    vcjob = resolve_kind("batch.volcano.sh/Job")
    assert vcjob is not None
    out = crds.for_kind(vcjob, {})
    assert out["metadata"]["labels"][CRD_LABEL] == "fedctl"
    (version,) = out["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert _props(schema["spec"]) == sorted([
        "schedulerName", "minAvailable", "volumes", "tasks", "policies", "plugins",
        "runningEstimate", "queue", "maxRetry", "ttlSecondsAfterFinished",
        "priorityClassName", "minSuccess", "networkTopology"])
    assert _props(schema["spec"]["properties"]["tasks"]["items"]) == sorted([
        "name", "replicas", "minAvailable", "template", "policies", "topologyPolicy",
        "maxRetry", "dependsOn"])
    assert _props(schema["status"]) == sorted([
        "state", "minAvailable", "taskStatusCount", "pending", "running", "succeeded",
        "failed", "terminating", "unknown", "version", "retryCount", "runningDuration",
        "controlledResources", "conditions"])
    assert version["subresources"] == {"status": {}}


def test_copy_crds_converts_to_json_and_names_a_missing_file(tmp_path: Path) -> None:
    src = upstream.SOURCES["crds-jobset"]
    module = tmp_path / "mod"
    (module / Path(src.files[0]).parent).mkdir(parents=True)
    (module / src.files[0]).write_text(yaml.safe_dump(crd("v1alpha2", kind="JobSet")))
    out = tmp_path / "out"
    out.mkdir()
    build.copy_crds(src, module, out)
    assert json.loads((out / "jobset.x-k8s.io_jobsets.json").read_text())["spec"][
        "versions"][0]["name"] == "v1alpha2"
    (module / src.files[0]).write_text("kind: ConfigMap\n")
    with pytest.raises(ToolchainError, match="is not a CustomResourceDefinition"):
        build.copy_crds(src, module, out)
    (module / src.files[0]).unlink()
    with pytest.raises(ToolchainError, match="has no config/components/crd/bases/"):
        build.copy_crds(src, module, out)
