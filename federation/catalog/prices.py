"""The GPU price catalog: a versioned CSV of $/GPU-hour by provider, region and product.

The shipped catalog (``data/gpu-prices.csv``) is labelled sample data with its date; pass
your own file with the same columns to replace it. Per-cluster overrides from the fleet
file or a MemberCluster (``pricing.gpuHourly``: on-prem amortised cost, negotiated rates)
take precedence over the catalog (``cluster_prices``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from federation.catalog.csvdata import parse_csv, parse_price, read_package_data
from federation.catalog.gpus import lookup
from federation.errors import InputError
from federation.model.cluster import GpuPrice

COLUMNS = ("provider", "region", "gpu", "on_demand_usd_per_gpu_hour", "spot_usd_per_gpu_hour")
VCPU = "vCPU"
DEFAULT_FILE = "gpu-prices.csv"


@dataclass(frozen=True, slots=True)
class PriceRow:
    provider: str
    region: str  # "*" = provider-wide default
    product: str  # catalog short name, or "vCPU"
    on_demand: float
    spot: float | None


@dataclass(frozen=True, slots=True)
class PriceCatalog:
    version: str
    as_of: str
    status: str
    rows: tuple[PriceRow, ...]
    _index: Mapping[tuple[str, str, str], PriceRow] = field(init=False, repr=False,
                                                           compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index",
                           {(r.provider, r.region, r.product): r for r in self.rows})

    def row(self, provider: str, region: str, product: str) -> PriceRow | None:
        """The region's row, else the provider-wide ``*`` row, else None."""
        return self._index.get((provider, region, product)) or self._index.get(
            (provider, "*", product))

    def products(self, provider: str, region: str) -> list[str]:
        names = {r.product for r in self.rows
                 if r.provider == provider and r.region in (region, "*") and r.product != VCPU}
        return sorted(names)


def parse_price_catalog(text: str, file: str = "<catalog>") -> PriceCatalog:
    meta, rows = parse_csv(text, file, COLUMNS)
    out: list[PriceRow] = []
    seen: set[tuple[str, str, str]] = set()
    for line, row in rows:
        product = row["gpu"]
        if product != VCPU:
            found = lookup(product)
            if found is None:
                raise InputError(f"unknown GPU product {product!r}", file=file, line=line)
            product = found.name
        if not row["provider"] or not row["region"]:
            raise InputError("provider and region must not be empty", file=file, line=line)
        key = (row["provider"], row["region"], product)
        if key in seen:
            raise InputError(f"duplicate row for {'/'.join(key)}", file=file, line=line)
        seen.add(key)
        on_demand = parse_price(row["on_demand_usd_per_gpu_hour"], file, line, "on-demand")
        assert on_demand is not None
        spot = parse_price(row["spot_usd_per_gpu_hour"], file, line, "spot", optional=True)
        out.append(PriceRow(row["provider"], row["region"], product, on_demand, spot))
    return PriceCatalog(
        version=meta.get("version", "unversioned"),
        as_of=meta.get("as-of", "unknown"),
        status=meta.get("status", "").split(".")[0],
        rows=tuple(out),
    )


def catalog_version(catalog: PriceCatalog) -> str:
    """``<header version>@<digest of the rows>``: names the prices a decision used. The
    digest covers the parsed rows only (not comments or layout), so it is the same for one
    catalog read from a file, a ConfigMap or the shipped data, and across restarts; a file
    edited without bumping its ``# version:`` header still gets a new version."""
    rows = hashlib.sha256(repr(catalog.rows).encode()).hexdigest()[:8]
    return f"{catalog.version}@{rows}"


def load_price_catalog(path: str | Path | None = None) -> PriceCatalog:
    """The shipped sample catalog, or the CSV at ``path``."""
    if path is None:
        return parse_price_catalog(read_package_data(DEFAULT_FILE), DEFAULT_FILE)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read price catalog: {exc.strerror or exc}", file=str(p),
                         hint="pass a CSV with columns " + ",".join(COLUMNS)) from None
    return parse_price_catalog(text, str(p))


def cluster_prices(
    catalog: PriceCatalog,
    provider: str,
    region: str,
    products: frozenset[str] | set[str],
    *,
    on_demand_overrides: Mapping[str, float] | None = None,
    spot_overrides: Mapping[str, float] | None = None,
) -> dict[str, GpuPrice]:
    """$/GPU-hour for each product a cluster has: overrides first, then the catalog.

    A product with neither an override nor a catalog row is priced 0 (unknown); the
    diagnosis shows $0.00 so an operator notices and adds an override.
    """
    on_demand_overrides = on_demand_overrides or {}
    spot_overrides = spot_overrides or {}
    out: dict[str, GpuPrice] = {}
    for product in sorted(products):
        row = catalog.row(provider, region, product)
        od = on_demand_overrides.get(product, row.on_demand if row else 0.0)
        spot = spot_overrides.get(product, row.spot if row else None)
        out[product] = GpuPrice(product, od, spot)
    return out


def vcpu_price(catalog: PriceCatalog, provider: str, region: str) -> float:
    row = catalog.row(provider, region, VCPU)
    return row.on_demand if row else 0.0
