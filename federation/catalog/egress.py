"""The egress matrix: $/GB and planning bandwidth between providers and regions.

Moving data inside one region is free and local. Otherwise the most specific matching
row wins: endpoints are ``provider:region`` with globs; specificity counts exact parts.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path

from federation.catalog.csvdata import parse_csv, parse_price, read_package_data
from federation.errors import InputError

COLUMNS = ("from", "to", "usd_per_gb", "gbps")
DEFAULT_FILE = "egress.csv"
LOCAL_GBPS = 100.0  # inside a region: treated as free and fast


@dataclass(frozen=True, slots=True)
class Endpoint:
    provider: str
    region: str

    def matches(self, provider: str, region: str) -> bool:
        return fnmatch.fnmatchcase(provider, self.provider) and fnmatch.fnmatchcase(
            region, self.region)

    @property
    def specificity(self) -> int:
        return sum(2 if "*" not in part else (1 if part != "*" else 0)
                   for part in (self.provider, self.region))


@dataclass(frozen=True, slots=True)
class EgressRule:
    src: Endpoint
    dst: Endpoint
    usd_per_gb: float
    gbps: float


@dataclass(frozen=True, slots=True)
class Transfer:
    usd_per_gb: float
    gbps: float

    def cost(self, size_bytes: int) -> float:
        return self.usd_per_gb * size_bytes / 1e9

    def hours(self, size_bytes: int) -> float:
        return size_bytes * 8 / (self.gbps * 1e9) / 3600


LOCAL = Transfer(0.0, LOCAL_GBPS)
UNKNOWN = Transfer(0.09, 1.0)  # no rule matched: assume internet egress


@dataclass(frozen=True, slots=True)
class EgressMatrix:
    version: str
    as_of: str
    rules: tuple[EgressRule, ...]

    def transfer(self, src_provider: str, src_region: str, dst_provider: str,
                 dst_region: str) -> Transfer:
        if src_region == dst_region:
            return LOCAL
        best: EgressRule | None = None
        best_rank = -1
        for rule in self.rules:
            if rule.src.matches(src_provider, src_region) and rule.dst.matches(
                    dst_provider, dst_region):
                rank = rule.src.specificity * 10 + rule.dst.specificity
                if rank > best_rank:
                    best, best_rank = rule, rank
        if best is None:
            return UNKNOWN
        return Transfer(best.usd_per_gb, best.gbps)


def _endpoint(text: str, file: str, line: int) -> Endpoint:
    if text == "*":
        return Endpoint("*", "*")
    provider, sep, region = text.partition(":")
    if not sep or not provider or not region:
        raise InputError(f"invalid endpoint {text!r}", file=file, line=line,
                         hint="use provider:region, globs allowed (aws:*, gcp:europe-*)")
    return Endpoint(provider, region)


def parse_egress_matrix(text: str, file: str = "<egress>") -> EgressMatrix:
    meta, rows = parse_csv(text, file, COLUMNS)
    rules = []
    for line, row in rows:
        usd = parse_price(row["usd_per_gb"], file, line, "usd_per_gb")
        gbps = parse_price(row["gbps"], file, line, "gbps")
        assert usd is not None and gbps is not None
        if gbps <= 0:
            raise InputError("gbps must be greater than zero", file=file, line=line)
        rules.append(EgressRule(_endpoint(row["from"], file, line),
                                _endpoint(row["to"], file, line), usd, gbps))
    return EgressMatrix(meta.get("version", "unversioned"), meta.get("as-of", "unknown"),
                        tuple(rules))


def egress_version(matrix: EgressMatrix) -> str:
    """``<header version>@<digest of the rules>`` (as ``prices.catalog_version``)."""
    rules = hashlib.sha256(repr(matrix.rules).encode()).hexdigest()[:8]
    return f"{matrix.version}@{rules}"


def load_egress_matrix(path: str | Path | None = None) -> EgressMatrix:
    if path is None:
        return parse_egress_matrix(read_package_data(DEFAULT_FILE), DEFAULT_FILE)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read egress matrix: {exc.strerror or exc}",
                         file=str(p)) from None
    return parse_egress_matrix(text, str(p))
