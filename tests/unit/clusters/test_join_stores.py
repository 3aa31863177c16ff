"""`fedctl clusters join`: object store references and credentials Secrets for local-fleet
stores (pure parts)."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from federation.clusters.join import (
    member_cluster_manifest,
    store_secret_name,
    store_secrets,
)
from federation.fleet import parse_fleet
from policies.models import MemberCluster
from policies.parse import load_policies

FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
objectStores:
  - {name: s3-a, provider: s3, region: r1, bucket: models}
  - {name: far, provider: s3, region: r2, bucket: m, endpoint: "https://s3.r2.example",
     pathStyle: false, checksumMode: when_required}
  - {name: disk, provider: file, region: r1}
  - {name: edge-s3, provider: s3, region: e1, bucket: models, edge: true}
clusters:
  - {name: c1, provider: onprem, region: r1, objectStores: [s3-a, far, disk]}
  - {name: e1, provider: edge, region: e1, edge: true, objectStores: [edge-s3]}
"""


@dataclass(frozen=True)
class Endpoint:  # the shape of federation.dev.objectstores.StoreEndpoint join reads
    endpoint: str | None
    root: str | None
    access_key: str | None = None
    secret_key: str | None = None


LOCAL = {
    "s3-a": Endpoint("http://127.0.0.1:9100", None, "ak", "sk"),
    "far": Endpoint("http://127.0.0.1:9200", None, "ak2", "sk2"),  # the file's endpoint wins
    "disk": Endpoint(None, "/tmp/fleet/disk"),
}


def test_local_stores_get_endpoint_root_and_secret_ref() -> None:
    fleet = parse_fleet(FLEET)
    manifest = member_cluster_manifest(fleet.cluster("c1"), fleet, "https://127.0.0.1:6443",
                                       "c1-kubeconfig", LOCAL)
    s3, far, disk = manifest["spec"]["objectStores"]
    assert s3["endpoint"] == "http://127.0.0.1:9100"
    assert s3["secretRef"] == {"name": "fedctl-store-s3-a", "namespace": "fedctl-system"}
    assert (s3["pathStyle"], s3["checksumMode"], s3["edge"]) == (True, "when_supported", False)
    assert far["endpoint"] == "https://s3.r2.example" and "secretRef" not in far
    assert (far["pathStyle"], far["checksumMode"]) == (False, "when_required")
    assert disk["root"] == "/tmp/fleet/disk" and "endpoint" not in disk
    assert "secretRef" not in disk
    (mc,) = load_policies(yaml.safe_dump(manifest), "generated.yaml")  # our own validator
    assert isinstance(mc, MemberCluster)
    ref = mc.spec.object_stores[0].secret_ref
    assert ref is not None and ref.name == store_secret_name("s3-a")


def test_store_not_in_the_local_fleet_is_written_as_the_file_has_it() -> None:
    fleet = parse_fleet(FLEET)
    manifest = member_cluster_manifest(fleet.cluster("e1"), fleet, "https://127.0.0.1:6443",
                                       "e1-kubeconfig", LOCAL)
    (edge,) = manifest["spec"]["objectStores"]
    assert edge == {"name": "edge-s3", "provider": "s3", "region": "e1", "bucket": "models",
                    "pathStyle": True, "checksumMode": "when_supported", "edge": True}


def test_store_secrets_only_for_local_stores_with_credentials() -> None:
    fleet = parse_fleet(FLEET)
    assert store_secrets(fleet, LOCAL) == {
        "fedctl-store-s3-a": {"accessKey": "ak", "secretKey": "sk"}}
    assert store_secrets(fleet, {}) == {}
