"""Price catalog and egress matrix: loading, lookups, overrides, errors."""

from __future__ import annotations

import pytest

from federation.catalog.egress import LOCAL, load_egress_matrix, parse_egress_matrix
from federation.catalog.prices import (
    cluster_prices,
    load_price_catalog,
    parse_price_catalog,
    vcpu_price,
)
from federation.errors import InputError
from federation.fleet import parse_fleet
from federation.scheduling.fleet_snapshot import snapshot_from_fleet

HEADER = "provider,region,gpu,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour\n"


def test_shipped_catalog_is_labelled_sample_data_with_a_date() -> None:
    cat = load_price_catalog()
    assert cat.status == "SAMPLE DATA"
    assert cat.as_of == "2026-11-23" and cat.version.startswith("2026.11")
    assert len(cat.rows) > 30


@pytest.mark.parametrize(("provider", "region", "product", "on_demand"), [
    ("aws", "us-east-1", "H100-80GB", 6.88),  # provider-wide row
    ("aws", "eu-west-1", "H100-80GB", 7.57),  # region row wins
    ("gcp", "europe-west4", "L4-24GB", 0.78),
])
def test_lookup_prefers_region_rows(provider: str, region: str, product: str,
                                    on_demand: float) -> None:
    row = load_price_catalog().row(provider, region, product)
    assert row is not None and row.on_demand == on_demand


def test_missing_rows_and_overrides() -> None:
    cat = load_price_catalog()
    assert cat.row("onprem", "dc1", "H100-80GB") is None
    prices = cluster_prices(cat, "aws", "us-east-1", {"H100-80GB", "L4-24GB"},
                            on_demand_overrides={"H100-80GB": 5.0})
    assert prices["H100-80GB"].on_demand == 5.0
    assert prices["H100-80GB"].spot == 2.95  # spot still from the catalog
    assert prices["L4-24GB"].on_demand == 0.80
    onprem = cluster_prices(cat, "onprem", "dc1", {"H100-80GB"})
    assert onprem["H100-80GB"].on_demand == 0.0 and onprem["H100-80GB"].spot is None
    assert vcpu_price(cat, "aws", "us-east-1") == 0.05


@pytest.mark.parametrize(("body", "message"), [
    ("aws,*,H999,1,\n", "unknown GPU product 'H999'"),
    ("aws,*,H100,abc,\n", "on-demand: not a number"),
    ("aws,*,H100,-1,\n", "on-demand: must be a non-negative number"),
    ("aws,*,H100,1\n", "expected 5 values, got 4"),
    ("aws,*,H100,1,\naws,*,H100-80GB,2,\n", "duplicate row for aws/*/H100-80GB"),
])
def test_catalog_errors_have_lines(body: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_price_catalog("# version: t\n" + HEADER + body, "p.csv")
    assert message in str(info.value) and str(info.value).startswith("p.csv:")


def test_wrong_columns() -> None:
    with pytest.raises(InputError, match="unexpected columns"):
        parse_price_catalog("a,b\n1,2\n", "p.csv")


@pytest.mark.parametrize(("src", "dst", "usd", "gbps"), [
    (("aws", "us-east-1"), ("aws", "us-east-1"), 0.0, LOCAL.gbps),
    (("aws", "us-east-1"), ("aws", "eu-west-1"), 0.02, 10),
    (("aws", "us-east-1"), ("gcp", "us-central1"), 0.09, 5),
    (("gcp", "europe-west4"), ("gcp", "us-central1"), 0.05, 5),  # more specific row wins
    (("gcp", "europe-west4"), ("gcp", "europe-west1"), 0.02, 10),
    (("onprem", "dc1"), ("aws", "us-east-1"), 0.0, 10),
    (("azure", "eastus"), ("edge", "edge-east"), 0.087, 5),
    (("other", "x"), ("edge", "edge-east"), 0.09, 1),
    (("other", "x"), ("other", "y"), 0.09, 2),
])
def test_egress_most_specific_row(src, dst, usd: float, gbps: float) -> None:
    t = load_egress_matrix().transfer(*src, *dst)
    assert (t.usd_per_gb, t.gbps) == (usd, gbps)


def test_egress_transfer_math_and_errors() -> None:
    m = parse_egress_matrix("from,to,usd_per_gb,gbps\n*,*,0.1,8\n")
    t = m.transfer("a", "r1", "b", "r2")
    assert t.cost(10**12) == pytest.approx(100.0)
    assert t.hours(10**12) == pytest.approx(1000 / 3600)
    with pytest.raises(InputError, match="invalid endpoint"):
        parse_egress_matrix("from,to,usd_per_gb,gbps\naws,*,0.1,8\n")
    with pytest.raises(InputError, match="gbps must be greater than zero"):
        parse_egress_matrix("from,to,usd_per_gb,gbps\n*,*,0.1,0\n")


FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
objectStores:
  - {name: s, provider: s3, region: dc1, bucket: b}
clusters:
  - name: onprem
    provider: onprem
    region: dc1
    pricing: {gpuHourly: {H100: 1.85}}
    objectStores: [s]
    simulate:
      nodePools:
        - {name: h, count: 2, gpu: {product: H100, count: 8}, cpu: "96", memory: 1Ti}
  - name: cloud
    provider: aws
    region: us-east-1
    edge: true
    pricing: {spotAvailable: true, spotGpuHourly: {A100-80GB: 1.0}}
    simulate:
      nodePools:
        - {name: a, count: 3, gpu: {product: A100-80GB, count: 8}}
        - {name: c, count: 1}
"""


def test_snapshot_from_fleet_file() -> None:
    onprem, cloud = snapshot_from_fleet(parse_fleet(FLEET, "f.yaml"), load_price_catalog())
    assert onprem.gpus_free == 16 and onprem.gpus_allocatable == 16
    assert onprem.prices["H100-80GB"].on_demand == 1.85
    assert onprem.store_regions == ("dc1",)
    assert cloud.prices["A100-80GB"].on_demand == 3.43
    assert cloud.prices["A100-80GB"].spot == 1.0 and cloud.spot_available
    assert [g.gpu_product for g in cloud.node_groups] == ["A100-80GB", None]
    assert cloud.node_groups[0].count == 3 and cloud.node_groups[0].gpus_free == 8
    assert any(t.key == "fedctl.dev/edge" for t in cloud.taints)
    assert not onprem.taints
