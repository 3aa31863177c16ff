"""The prices the hub places with: GPU price catalog and egress matrix, live.

Each comes, in this order, from a file given to ``fedctl hub run`` (``--prices``,
``--egress``: read once at start), else from the ConfigMap ``fedctl-prices`` in namespace
``fedctl-system`` on the hub (keys ``prices.csv`` and ``egress.csv``, the formats of
``federation/catalog/prices.py`` and ``egress.py``), which the hub watches, else from the
sample data shipped with fedctl. A key removed from the ConfigMap (or the ConfigMap
deleted) goes back to the file or the sample.

Content that does not parse is reported (logged as an error naming the ConfigMap, key,
line and what to do) and the prices in use are kept. Versions are
``<header version>@<content digest>`` (``catalog_version``, ``egress_version``): stable
across restarts, so an unchanged catalog never rewrites a binding's status.

``PriceState`` is the pure part (ConfigMap data in, what to use and what to report out);
``PriceWatcher`` watches the ConfigMap and calls ``on_prices(catalog, version)`` and
``on_egress(matrix, version)`` when what is in use changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from federation.catalog.egress import (
    EgressMatrix,
    egress_version,
    load_egress_matrix,
    parse_egress_matrix,
)
from federation.catalog.prices import (
    PriceCatalog,
    catalog_version,
    load_price_catalog,
    parse_price_catalog,
)
from federation.errors import InputError

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

log = logging.getLogger(__name__)

CONFIGMAP = "fedctl-prices"
NAMESPACE = "fedctl-system"
PRICES_KEY = "prices.csv"
EGRESS_KEY = "egress.csv"


@dataclass(frozen=True, slots=True)
class PriceConfig:
    """Where the hub's prices come from; ``configmap=""`` disables the watch."""

    prices_file: Path | None = None
    egress_file: Path | None = None
    configmap: str = CONFIGMAP
    namespace: str = NAMESPACE


@dataclass(frozen=True, slots=True)
class Prices:
    catalog: PriceCatalog
    catalog_version: str
    catalog_source: str
    egress: EgressMatrix
    egress_version: str
    egress_source: str


def _catalog(catalog: PriceCatalog, source: str) -> tuple[PriceCatalog, str, str]:
    return catalog, catalog_version(catalog), source


def _egress(matrix: EgressMatrix, source: str) -> tuple[EgressMatrix, str, str]:
    return matrix, egress_version(matrix), source


def load_prices(config: PriceConfig) -> Prices:
    """The prices at start: the files given, else the shipped samples (the ConfigMap, if
    any, follows from the watch). A file that cannot be read or parsed raises
    ``InputError``."""
    cat = _catalog(load_price_catalog(config.prices_file),
                   f"file {config.prices_file}" if config.prices_file else "shipped sample")
    egr = _egress(load_egress_matrix(config.egress_file),
                  f"file {config.egress_file}" if config.egress_file else "shipped sample")
    return Prices(*cat, *egr)


class PriceState:
    """The prices in use and how a new version of the ConfigMap changes them (pure)."""

    def __init__(self, config: PriceConfig, start: Prices) -> None:
        self.config = config
        self.start = start  # files or samples: what a missing key falls back to
        self.current = start

    @property
    def where(self) -> str:
        return f"configmap {self.config.namespace}/{self.config.configmap}"

    def update(self, data: Mapping[str, Any] | None) -> tuple[Prices, list[str]]:
        """The prices to use once the ConfigMap's ``data`` is ``data`` (None: no
        ConfigMap), and the errors to report. A key whose content does not parse keeps
        the prices in use for that key."""
        data = data or {}
        errors: list[str] = []
        cur, start = self.current, self.start
        cat = (cur.catalog, cur.catalog_version, cur.catalog_source)
        egr = (cur.egress, cur.egress_version, cur.egress_source)
        fix = f"fix it with `kubectl -n {self.config.namespace} edit configmap " \
              f"{self.config.configmap}`"
        if self.config.prices_file is None:
            text = data.get(PRICES_KEY)
            if text is None:
                cat = (start.catalog, start.catalog_version, start.catalog_source)
            else:
                source = f"{self.where} key {PRICES_KEY}"
                try:
                    cat = _catalog(parse_price_catalog(str(text), source), source)
                except InputError as exc:
                    errors.append(f"{exc}; {fix}; the hub keeps the price catalog "
                                  f"{cur.catalog_version} ({cur.catalog_source})")
        if self.config.egress_file is None:
            text = data.get(EGRESS_KEY)
            if text is None:
                egr = (start.egress, start.egress_version, start.egress_source)
            else:
                source = f"{self.where} key {EGRESS_KEY}"
                try:
                    egr = _egress(parse_egress_matrix(str(text), source), source)
                except InputError as exc:
                    errors.append(f"{exc}; {fix}; the hub keeps the egress matrix "
                                  f"{cur.egress_version} ({cur.egress_source})")
        unknown = sorted(str(k) for k in data if k not in (PRICES_KEY, EGRESS_KEY))
        if unknown:
            errors.append(f"{self.where}: unknown key(s) {', '.join(unknown)} ignored; the "
                          f"keys read are {PRICES_KEY} and {EGRESS_KEY}")
        self.current = Prices(*cat, *egr)
        return self.current, errors


class PriceWatcher:
    """Watches the prices ConfigMap on the hub and reports what changes."""

    def __init__(self, state: PriceState,
                 on_prices: Callable[[PriceCatalog, str], None],
                 on_egress: Callable[[EgressMatrix, str], None]) -> None:
        self.state = state
        self._on_prices = on_prices
        self._on_egress = on_egress
        self._reported: tuple[str, ...] = ()
        # set once the ConfigMap was first read (or there is none to read): the hub may
        # wait for it before deciding anything, so no decision uses the samples by mistake
        self.synced = asyncio.Event()

    def changed(self, data: Mapping[str, Any] | None) -> None:
        """The ConfigMap's data is now ``data`` (None: deleted)."""
        before = self.state.current
        after, errors = self.state.update(data)
        if tuple(errors) != self._reported:  # each problem once, not on every resync
            for text in errors:
                log.error("prices: %s", text)
            self._reported = tuple(errors)
        if after.catalog_version != before.catalog_version:
            log.info("prices: price catalog %s from %s", after.catalog_version,
                     after.catalog_source)
            self._on_prices(after.catalog, after.catalog_version)
        if after.egress_version != before.egress_version:
            log.info("prices: egress matrix %s from %s", after.egress_version,
                     after.egress_source)
            self._on_egress(after.egress, after.egress_version)

    async def run(self, hub: ApiClient) -> None:
        """Watch the ConfigMap on ``hub`` until cancelled (returns at once when there is
        nothing to watch: both prices come from files, or the ConfigMap is disabled)."""
        cfg = self.state.config
        if not cfg.configmap or (cfg.prices_file is not None and cfg.egress_file is not None):
            self.synced.set()
            return
        from kubernetes_asyncio import client as k8s

        from federation.clusters.watch import Reflector

        def on_change(event: str, obj: dict[str, Any]) -> None:
            if (obj.get("metadata") or {}).get("name") != cfg.configmap:
                return
            self.changed(None if event == "DELETED" else obj.get("data") or {})

        refl: Reflector[dict[str, Any]] = Reflector(
            f"hub/configmap/{cfg.namespace}/{cfg.configmap}",
            k8s.CoreV1Api(hub).list_namespaced_config_map,
            list_kwargs={"namespace": cfg.namespace,
                         "field_selector": f"metadata.name={cfg.configmap}"},
            on_change=on_change)
        task = asyncio.ensure_future(refl.run())
        try:
            await refl.synced.wait()
            if not refl.store:  # listed and absent: the files or samples stay
                self.changed(None)
            self.synced.set()
            await task
        finally:
            task.cancel()
