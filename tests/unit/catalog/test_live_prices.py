"""The hub's live prices: versions, the ConfigMap's content, bad content kept out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from federation.catalog.egress import EgressMatrix, egress_version, load_egress_matrix
from federation.catalog.prices import PriceCatalog, catalog_version, load_price_catalog
from federation.errors import InputError
from federation.hub.prices import (
    EGRESS_KEY,
    PRICES_KEY,
    PriceConfig,
    PriceState,
    PriceWatcher,
    load_prices,
)
from federation.scheduling.runtime import Scheduler

PRICES = """\
# version: team.7
provider,region,gpu,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour
onprem,*,H100-80GB,2.10,
"""
EGRESS = """\
# version: net.3
from,to,usd_per_gb,gbps
*,*,0.01,10
"""


def test_versions_name_the_header_and_the_content() -> None:
    cat = load_price_catalog()
    assert catalog_version(cat) == catalog_version(load_price_catalog())
    assert catalog_version(cat).startswith(cat.version + "@")
    assert len(catalog_version(cat).split("@")[1]) == 8
    from federation.catalog.prices import parse_price_catalog

    a = parse_price_catalog(PRICES)
    # comments and layout do not count; the rows do, even under the same header version
    assert catalog_version(parse_price_catalog("# note\n" + PRICES.replace(",", ", "))) == \
        catalog_version(a)
    b = parse_price_catalog(PRICES.replace("2.10", "2.20"))
    assert b.version == a.version and catalog_version(b) != catalog_version(a)
    m = load_egress_matrix()
    assert egress_version(m).startswith(m.version + "@")


def test_scheduler_set_egress() -> None:
    from federation.catalog.egress import parse_egress_matrix

    s = Scheduler(load_egress_matrix())
    assert s.egress_version == egress_version(load_egress_matrix())
    new = parse_egress_matrix(EGRESS)
    s.set_egress(new)
    assert s.egress is new and s.egress_version.startswith("net.3@")
    assert s.egress.transfer("aws", "a", "gcp", "b").usd_per_gb == 0.01


def state(prices_file: Path | None = None) -> PriceState:
    cfg = PriceConfig(prices_file=prices_file)
    return PriceState(cfg, load_prices(cfg))


def test_configmap_keys_replace_the_samples_and_go_back_when_removed() -> None:
    s = state()
    sample = s.current
    assert sample.catalog_source == "shipped sample"
    now, errors = s.update({PRICES_KEY: PRICES, EGRESS_KEY: EGRESS})
    assert errors == []
    assert now.catalog_version.startswith("team.7@") and now.egress_version.startswith("net.3@")
    assert now.catalog_source == "configmap fedctl-system/fedctl-prices key prices.csv"
    now, _ = s.update({EGRESS_KEY: EGRESS})
    assert now.catalog_version == sample.catalog_version
    assert now.egress_version.startswith("net.3@")
    now, _ = s.update(None)
    assert now == sample


def test_bad_content_is_reported_and_the_prices_in_use_kept() -> None:
    s = state()
    good, _ = s.update({PRICES_KEY: PRICES})
    now, errors = s.update({PRICES_KEY: PRICES.replace("H100-80GB", "H999"),
                            EGRESS_KEY: EGRESS, "prices.yaml": "x"})
    assert now.catalog_version == good.catalog_version  # kept
    assert now.egress_version.startswith("net.3@")  # the good key still applies
    assert errors == [
        "configmap fedctl-system/fedctl-prices key prices.csv:3: unknown GPU product "
        "'H999'; fix it with `kubectl -n fedctl-system edit configmap fedctl-prices`; the "
        f"hub keeps the price catalog {good.catalog_version} (configmap "
        "fedctl-system/fedctl-prices key prices.csv)",
        "configmap fedctl-system/fedctl-prices: unknown key(s) prices.yaml ignored; the "
        "keys read are prices.csv and egress.csv"]
    _, errors = s.update({EGRESS_KEY: "from,to\n"})
    assert errors[0].startswith("configmap fedctl-system/fedctl-prices key egress.csv:1: "
                                "unexpected columns from, to (expected from,to,usd_per_gb,"
                                "gbps); fix it")


def test_files_win_over_the_configmap(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(PRICES)
    s = state(prices_file=f)
    assert s.current.catalog_source == f"file {f}"
    now, errors = s.update({PRICES_KEY: PRICES.replace("2.10", "9"), EGRESS_KEY: EGRESS})
    assert errors == [] and now.catalog_source == f"file {f}"
    assert now.egress_source.endswith("key egress.csv")
    with pytest.raises(InputError, match="cannot read price catalog"):
        load_prices(PriceConfig(prices_file=tmp_path / "missing.csv"))


def test_watcher_calls_back_on_changes_only_and_logs_each_problem_once(
        caplog: pytest.LogCaptureFixture) -> None:
    got: list[tuple[str, str]] = []

    def on_prices(cat: PriceCatalog, version: str) -> None:
        assert catalog_version(cat) == version
        got.append(("prices", version))

    def on_egress(m: EgressMatrix, version: str) -> None:
        got.append(("egress", version))

    w = PriceWatcher(state(), on_prices=on_prices, on_egress=on_egress)
    w.changed(None)
    assert got == []
    w.changed({PRICES_KEY: PRICES})
    assert [k for k, _ in got] == ["prices"]
    w.changed({PRICES_KEY: PRICES})  # a resync: nothing new
    assert len(got) == 1
    with caplog.at_level(logging.ERROR, logger="federation.hub.prices"):
        for _ in range(3):
            w.changed({PRICES_KEY: "junk"})
    assert len(got) == 1
    assert len([r for r in caplog.records if "prices.csv" in r.getMessage()]) == 1
    w.changed({EGRESS_KEY: EGRESS})  # prices key removed: back to the sample
    assert [k for k, _ in got] == ["prices", "prices", "egress"]
