"""`fedctl hub run --prices/--egress/--prices-configmap`."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.cli.hub import price_config
from federation.errors import InputError
from federation.hub.prices import PriceConfig


def test_price_flags() -> None:
    assert price_config(None, None, "fedctl-system/fedctl-prices") == PriceConfig()
    assert price_config(Path("p.csv"), None, "ops/prices") == PriceConfig(
        Path("p.csv"), None, configmap="prices", namespace="ops")
    assert price_config(None, None, "").configmap == ""
    for bad in ("prices", "/prices", "ops/", "a/b/c"):
        with pytest.raises(InputError, match="use NAMESPACE/NAME"):
            price_config(None, None, bad)


def test_a_bad_prices_file_stops_hub_run_before_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from federation.cli.main import main

    bad = tmp_path / "p.csv"
    bad.write_text("provider,region,gpu,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour\n"
                   "aws,*,H999,1,\n")
    assert main(["hub", "run", "--kubeconfig", str(tmp_path / "none"), "--prices",
                 str(bad)]) == 1
    assert capsys.readouterr().err == f"error: {bad}:2: unknown GPU product 'H999'\n"
