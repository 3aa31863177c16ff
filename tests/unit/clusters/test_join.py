"""Pure parts of `fedctl clusters join`: flattened kubeconfigs and MemberCluster objects."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from federation.clusters.join import flatten_kubeconfig, member_cluster_manifest
from federation.errors import InputError
from federation.fleet import parse_fleet
from policies.parse import load_policies

FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
objectStores:
  - {name: s1, provider: s3, region: r1, bucket: models, endpoint: "https://s3.r1.example"}
clusters:
  - name: c1
    provider: aws
    region: r1
    edge: true
    labels: {team: ml}
    taints: [{key: maintenance, effect: NoSchedule}]
    pricing: {gpuHourly: {H100: 3.5}, spotAvailable: true}
    objectStores: [s1]
"""


def test_flatten_inlines_files_and_keeps_one_context(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"CA")
    (tmp_path / "k.key").write_bytes(b"KEY")
    cfg = {
        "current-context": "b",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1",
                                               "certificate-authority": "ca.crt"}}],
        "users": [{"name": "u", "user": {"client-key": str(tmp_path / "k.key"),
                                         "token": "t"}}],
        "contexts": [{"name": "a", "context": {"cluster": "x", "user": "u"}},
                     {"name": "b", "context": {"cluster": "x", "user": "u"}}],
    }
    flat = flatten_kubeconfig(cfg, "a", source="k.yaml", base_dir=tmp_path)
    assert [c["name"] for c in flat["contexts"]] == ["a"] and flat["current-context"] == "a"
    cluster = flat["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert "certificate-authority" not in cluster
    assert base64.b64decode(flat["users"][0]["user"]["client-key-data"]) == b"KEY"
    with pytest.raises(InputError, match="context 'zz' not found"):
        flatten_kubeconfig(cfg, "zz", source="k.yaml", base_dir=tmp_path)


def test_member_cluster_manifest_is_a_valid_member_cluster() -> None:
    fleet = parse_fleet(FLEET)
    manifest = member_cluster_manifest(fleet.cluster("c1"), fleet, "https://127.0.0.1:6443",
                                       "c1-kubeconfig")
    import yaml

    (mc,) = load_policies(yaml.safe_dump(manifest), "generated.yaml")  # our own validator
    assert mc.spec.edge and mc.spec.provider == "aws"  # type: ignore[union-attr]
    assert mc.spec.pricing.gpu_hourly == (("H100-80GB", 3.5),)  # type: ignore[union-attr]
    assert mc.spec.secret_ref.name == "c1-kubeconfig"  # type: ignore[union-attr]
    assert manifest["metadata"]["labels"]["team"] == "ml"
    assert manifest["spec"]["objectStores"][0]["endpoint"] == "https://s3.r1.example"
