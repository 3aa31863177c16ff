"""``StoreRegistry``: model versions as distributor manifests under an object-store prefix.

A version exists when its manifest ``.fedctl/manifests/<model>/<version>.json`` does (the
distributors publish it last), so listing manifests lists versions. ``latest`` is the highest
version (numbers by value, then other names lexically); aliases do not exist here.
The store SDKs block, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from distributors import manifest as mf
from distributors.base import Store, StoreConfig
from distributors.errors import (
    ManifestError,
    ObjectNotFound,
    RetryableStoreError,
    StoreError,
    UnsafeKey,
)
from distributors.store import open_store
from federation.registry.ports import (
    LATEST,
    ModelVersionInfo,
    NotFound,
    RegistryError,
    RegistryUnavailable,
    version_order,
)


class StoreRegistry:
    def __init__(self, config: StoreConfig, *,
                 opener: Callable[[StoreConfig], Store] = open_store) -> None:
        self.config = config
        self._opener = opener
        self._store: Store | None = None

    def __repr__(self) -> str:
        return f"StoreRegistry({self.config!r})"

    async def resolve(self, model: str, channel: str) -> ModelVersionInfo:
        if channel != LATEST:
            raise RegistryError(f"object-store source {self.config.name}: no alias "
                                f"{channel!r}: object-store sources have no aliases",
                                hint="use channel: latest")
        return await self._call(self._latest, model)

    async def get_version(self, model: str, version: str) -> ModelVersionInfo:
        return await self._call(self._version, model, version)

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.to_thread(store.close)

    # ---- blocking parts (run in a thread) -----------------------------------------------
    async def _call(self, fn: Callable[..., ModelVersionInfo], *args: str) -> ModelVersionInfo:
        try:
            return await asyncio.to_thread(fn, *args)
        except RetryableStoreError as exc:
            raise RegistryUnavailable(str(exc), hint="fedctl retries") from None
        except (UnsafeKey, ManifestError) as exc:
            raise RegistryError(str(exc), hint=exc.hint) from None
        except StoreError as exc:
            if isinstance(exc, ObjectNotFound):
                raise NotFound(str(exc)) from None
            raise RegistryError(str(exc), hint=exc.hint) from None

    def _open(self) -> Store:
        if self._store is None:
            self._store = self._opener(self.config)
        return self._store

    def _latest(self, model: str) -> ModelVersionInfo:
        store = self._open()
        prefix = mf.manifests_prefix(model) + "/"
        versions = []
        for meta in store.list(prefix):
            rest = meta.key[len(prefix):] if meta.key.startswith(prefix) else ""
            if rest.endswith(".json") and "/" not in rest:
                versions.append(rest[: -len(".json")])
        if not versions:
            raise NotFound(f"object store {self.config.name}: model {model!r} has no "
                           "published version", hint="publish one with `fedctl artifacts "
                           "sync` (a version exists once its manifest does)")
        return self._version(model, max(versions, key=version_order))

    def _version(self, model: str, version: str) -> ModelVersionInfo:
        store = self._open()
        key = mf.manifest_key(model, version)
        try:
            data = store.read_bytes(key)
        except ObjectNotFound:
            raise NotFound(f"object store {self.config.name}: no version {version!r} of "
                           f"model {model!r} (no manifest at {key})") from None
        m = mf.Manifest.from_json(data, where=f"{self.config.name}:{key}")
        if (m.model, m.version) != (model, version):
            raise RegistryError(f"object store {self.config.name}: {key} describes "
                                f"{m.model}/{m.version}", hint="the manifest was moved")
        return ModelVersionInfo(
            model=model, version=version,
            source_uri=data_uri(store, self.config, mf.data_prefix(model, version)),
            tags={}, aliases=(), created_ms=_ms(m.created),
        )


def data_uri(store: Store, config: StoreConfig, prefix: str) -> str:
    """The URI of ``prefix`` in the store: s3://bucket/key, gs://bucket/key, file:///dir."""
    native = store.native_key(prefix)
    if config.provider == "s3":
        return f"s3://{config.bucket}/{native}"
    if config.provider == "gcs":
        return f"gs://{config.bucket}/{native}"
    return f"file://{native}"


def _ms(created: str) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0
