"""The fleet file: parsing, defaults and errors with file, line and field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import InputError, InputErrors
from federation.fleet import load_fleet_file, parse_fleet

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
metadata: {name: t}
objectStores:
  - {name: s1, provider: s3, region: r1, bucket: b}
clusters:
  - name: c1
    provider: aws
    region: r1
    objectStores: [s1]
    simulate:
      nodePools:
        - name: p
          count: 2
          gpu: {product: H100, count: 8}
"""


def test_example_fleet_parses() -> None:
    fleet = load_fleet_file(ROOT / "clusters.example.yaml")
    names = [c.name for c in fleet.clusters]
    assert names == ["onprem-h100", "aws-use1", "gcp-euw4", "edge-nyc", "edge-bos", "edge-sfo"]
    edge = [c.name for c in fleet.clusters if c.edge]
    assert edge == ["edge-nyc", "edge-bos", "edge-sfo"]
    onprem = fleet.cluster("onprem-h100")
    assert onprem.pricing.on_demand == (("H100-80GB", 1.85),)
    assert fleet.cluster("aws-use1").pricing.spot_available
    pools = {p.name: p for p in onprem.simulate.node_pools}  # type: ignore[union-attr]
    assert pools["h100"].gpu is not None and pools["h100"].gpu.gfd_product == (
        "NVIDIA-H100-80GB-HBM3")
    assert pools["cpu"].gpu is None and pools["cpu"].gpus_per_node == 0


def test_defaults_and_aliases() -> None:
    fleet = parse_fleet(MINIMAL, "m.yaml")
    c = fleet.cluster("c1")
    assert c.zone == "r1"  # zone defaults to the region
    pool = c.simulate.node_pools[0]  # type: ignore[union-attr]
    assert pool.gpu is not None and pool.gpu.name == "H100-80GB"  # family alias resolved
    assert pool.cpu_millis == 32000 and pool.memory_bytes == 256 * 2**30
    assert fleet.store("s1").checksum_mode == "when_supported"


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "needle"),
    [
        ("product: H100,", "product: H200X,", 15, "clusters[0].simulate.nodePools[0].gpu.product",
         "unknown GPU product 'H200X'"),
        ("    region: r1\n    objectStores", "    regoin: r1\n    objectStores", 9,
         "clusters[0].regoin", "did you mean 'region'?"),
        ("count: 2", "count: -1", 14, "clusters[0].simulate.nodePools[0].count", ">= 1"),
        ("count: 2", "count: two", 14, "clusters[0].simulate.nodePools[0].count",
         "expected an integer"),
        ("objectStores: [s1]", "objectStores: [s2]", 10, "clusters[0].objectStores[0]",
         "unknown object store 's2'"),
        ("provider: s3", "provider: azure", 5, "objectStores[0].provider", "one of: s3, gcs"),
        ("name: c1", "name: C_1", 7, "clusters[0].name", "invalid name"),
    ],
)
def test_errors_name_file_line_and_field(old: str, new: str, line: int, path: str,
                                         needle: str) -> None:
    assert old in MINIMAL
    with pytest.raises(InputErrors) as err:
        parse_fleet(MINIMAL.replace(old, new, 1), "fleet.yaml")
    first = err.value.errors[0]
    assert (first.file, first.line, first.path) == ("fleet.yaml", line, path)
    assert needle in str(first)
    assert str(first).startswith(f"fleet.yaml:{line}: {path}: ")


def test_unknown_product_lists_known_products() -> None:
    with pytest.raises(InputErrors) as err:
        parse_fleet(MINIMAL.replace("product: H100,", "product: H10,"), "f.yaml")
    text = str(err.value)
    assert "did you mean 'H100-80GB'?" in text
    assert "known products:" in text and "T4-16GB" in text


def test_every_error_is_reported_at_once() -> None:
    bad = MINIMAL.replace("provider: aws", "provider: 3").replace("count: 2", "count: 0")
    with pytest.raises(InputErrors) as err:
        parse_fleet(bad, "f.yaml")
    assert len(err.value.errors) == 2


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(InputError) as err:
        parse_fleet("apiVersion: x\nkind: [unclosed\n", "broken.yaml")
    assert err.value.file == "broken.yaml" and err.value.line is not None
    assert "invalid YAML" in str(err.value)


def test_duplicate_names_rejected() -> None:
    doubled = MINIMAL + """\
  - name: c1
    provider: gcp
    region: r2
"""
    with pytest.raises(InputErrors, match="duplicate cluster name 'c1'"):
        parse_fleet(doubled, "f.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="fleet file not found"):
        load_fleet_file(tmp_path / "nope.yaml")


def test_workload_kinds_default_to_all_and_are_validated() -> None:
    fleet = parse_fleet(MINIMAL, "m.yaml")
    kinds = fleet.cluster("c1").simulate.workload_kinds  # type: ignore[union-attr]
    assert {k.kind for k in kinds} >= {"PyTorchJob", "InferenceService", "JobSet", "RayJob"}
    only = parse_fleet(MINIMAL.replace("      nodePools:",
                                       "      workloadKinds: [InferenceService, ray.io/RayJob]\n"
                                       "      nodePools:"), "m.yaml")
    chosen = only.cluster("c1").simulate.workload_kinds  # type: ignore[union-attr]
    assert [k.kind for k in chosen] == ["InferenceService", "RayJob"]
    with pytest.raises(InputErrors, match="unknown workload kind 'PytorchJob'"):
        parse_fleet(MINIMAL.replace("      nodePools:",
                                    "      workloadKinds: [PytorchJob]\n      nodePools:"))


def _kinds(listing: str) -> str:
    return MINIMAL.replace("      nodePools:", f"      workloadKinds: {listing}\n      nodePools:")


def test_workload_kind_version_is_chosen_per_cluster() -> None:
    fleet = parse_fleet(_kinds("[MPIJob/v1, kubeflow.org/PyTorchJob]"), "m.yaml")
    chosen = fleet.cluster("c1").simulate.workload_kinds  # type: ignore[union-attr]
    assert [(k.kind, k.version) for k in chosen] == [("MPIJob", "v1"), ("PyTorchJob", "v1")]
    default = parse_fleet(_kinds("[kubeflow.org/MPIJob]"), "m.yaml")
    assert [k.version for k in default.cluster("c1").simulate.workload_kinds] == [  # type: ignore[union-attr]
        "v2beta1"]
    with pytest.raises(InputErrors, match="unknown workload kind 'MPIJob/v3'"):
        parse_fleet(_kinds("[MPIJob/v3]"), "m.yaml")
    with pytest.raises(InputErrors, match="MPIJob is listed at two versions") as err:
        parse_fleet(_kinds("[MPIJob, MPIJob/v1]"), "m.yaml")
    assert "workloadKinds[1]" in str(err.value)
