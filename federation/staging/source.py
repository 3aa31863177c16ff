"""Store views for staging.

``SourceView`` presents a registry version's artifact prefix (e.g. ``1/abc/artifacts/model``
in the MLflow bucket) as the distributors' layout ``<model>/<version>/...``, so the Syncer
can seal and fan it out like any version. Its manifest and receipt go under a separate meta
prefix of the same store (``.fedctl-staging/`` by default): the registry's own files are
never written or deleted. A ``subPath`` variant is a view on a sub-directory.

``PrefixView`` is a read-write store rooted at a key prefix of another store (variant
builds live in the source store's meta area unless a scratch store is configured).

``artifact_key`` turns a registry source URI (``s3://bucket/key``, ``gs://…``,
``file:///path``) into a key of a store configured for that bucket or directory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from distributors import keys
from distributors.base import ObjectMeta, ReadStream, Store, StoreConfig
from distributors.errors import ObjectNotFound, StoreError
from distributors.manifest import META_DIR
from federation.errors import InputError

DEFAULT_META_PREFIX = ".fedctl-staging"
_SCHEMES = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "file": "file"}


def artifact_key(cfg: StoreConfig, source_uri: str) -> str:
    """The key, relative to ``cfg``'s root (bucket + prefix, or root directory + prefix),
    of the directory ``source_uri`` names. Raises ``InputError`` when the URI is not in
    that store."""
    parts = urlsplit(source_uri)
    provider = _SCHEMES.get(parts.scheme)
    what = f"model version source {source_uri!r}"
    if provider is None:
        raise InputError(f"{what}: unsupported scheme {parts.scheme!r}",
                         path="spec.mlflow.artifactStore",
                         hint="staging reads s3://, gs:// and file:// artifact locations")
    if provider != cfg.provider:
        raise InputError(f"{what} is not in object store {cfg.name} ({cfg.provider})",
                         path="spec.mlflow.artifactStore",
                         hint="point artifactStore at the registry's artifact bucket")
    if provider == "file":
        base = os.path.normpath(os.path.join(cfg.root or "/", cfg.prefix.strip("/")))
        path = os.path.normpath(unquote(parts.path))
        if path != base and not path.startswith(base.rstrip("/") + "/"):
            raise InputError(f"{what} is outside {cfg.name}'s directory {base}",
                             path="spec.mlflow.artifactStore.root")
        rel = "" if path == base else path[len(base.rstrip("/")) + 1:]
    else:
        if parts.netloc != cfg.bucket:
            raise InputError(f"{what} is in bucket {parts.netloc!r}, object store {cfg.name} "
                             f"reads bucket {cfg.bucket!r}",
                             path="spec.mlflow.artifactStore.bucket")
        key = unquote(parts.path).strip("/")
        prefix = cfg.prefix.strip("/")
        if prefix and key != prefix and not key.startswith(prefix + "/"):
            raise InputError(f"{what} is outside {cfg.name}'s prefix {prefix!r}",
                             path="spec.mlflow.artifactStore.prefix")
        rel = key[len(prefix):].strip("/") if prefix else key
    if rel:
        keys.check_relative(rel, what=what)
    return rel


def _under(prefix: str, key: str) -> str:
    return keys.join(prefix, key) if prefix else keys.check_relative(key)


class Cancelled(StoreError):
    """Staging was cancelled; reads of the view stop."""


class _View:
    """Delegation of a store's identity; subclasses map keys. Reads raise ``Cancelled``
    once ``cancel`` is set, so a fan-out stops reading its origin."""

    def __init__(self, store: Store, name: str,
                 cancel: threading.Event | None = None) -> None:
        self.inner = store
        self._name = name
        self.cancel = cancel

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(self._name, "staging cancelled")

    @property
    def cfg(self) -> StoreConfig | None:
        cfg: StoreConfig | None = getattr(self.inner, "cfg", None)
        return cfg

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return self.inner.provider

    @property
    def region(self) -> str:
        return self.inner.region

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    @property
    def copy_domain(self) -> str | None:
        return self.inner.copy_domain

    def close(self) -> None:
        return None  # the underlying store belongs to whoever opened it


class PrefixView(_View):
    """``store`` rooted at ``prefix``: every key ``k`` is ``prefix/k`` underneath."""

    def __init__(self, store: Store, prefix: str, name: str | None = None, *,
                 cancel: threading.Event | None = None) -> None:
        self.prefix = keys.check_relative(prefix.strip("/"), what="prefix")
        super().__init__(store, name or f"{store.name}:{self.prefix}", cancel)

    def _k(self, key: str) -> str:
        return keys.join(self.prefix, key)

    def native_key(self, key: str) -> str:
        return self.inner.native_key(self._k(key))

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        cut = len(self.prefix) + 1
        for m in self.inner.list(f"{self.prefix}/{prefix}"):
            yield ObjectMeta(m.key[cut:], m.size, m.crc32c, m.fingerprint)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        m = self.inner.stat(self._k(key), checksum=checksum)
        return None if m is None else ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        self._check_cancel()
        return self.inner.open_read(self._k(key), start, end)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(self._k(key))

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        m = self.inner.write(self._k(key), stream, size, crc32c)
        return ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        m = self.inner.write_bytes(self._k(key), data)
        return ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        m = self.inner.copy_from(source, src_key, self._k(key), size, crc32c)
        return ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def delete(self, key: str) -> None:
        self.inner.delete(self._k(key))


class SourceView(_View):
    """A registry version's files as ``<model>/<version>/...`` (read-only), with the
    distributors' ``.fedctl/`` metadata under ``meta_prefix`` of the same store."""

    def __init__(self, store: Store, data_prefix: str, model: str, version: str, *,
                 meta_prefix: str = DEFAULT_META_PREFIX,
                 cancel: threading.Event | None = None) -> None:
        self.data_prefix = data_prefix.strip("/")
        if self.data_prefix:
            keys.check_relative(self.data_prefix, what="artifact prefix")
        self.meta_prefix = keys.check_relative(meta_prefix.strip("/"), what="meta prefix")
        self.model = keys.check_name(model, what="model")
        self.version = keys.check_name(version, what="version")
        self._mv = f"{model}/{version}/"
        super().__init__(store, f"{store.name}:{self.data_prefix or '/'}", cancel)

    def _k(self, key: str) -> str:
        keys.check_relative(key)
        if key.startswith(META_DIR + "/"):
            return keys.join(self.meta_prefix, key)
        if key.startswith(self._mv):
            return _under(self.data_prefix, key[len(self._mv):])
        raise ObjectNotFound(self.name, f"{key}: not part of {self.model}/{self.version}")

    def _read_only(self, key: str) -> None:
        if not key.startswith(META_DIR + "/"):
            raise StoreError(self.name, f"{key}: the registry's artifacts are read-only "
                                        "for staging")

    def native_key(self, key: str) -> str:
        return self.inner.native_key(self._k(key))

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        if prefix.startswith(META_DIR + "/"):
            cut = len(self.meta_prefix) + 1
            for m in self.inner.list(f"{self.meta_prefix}/{prefix}"):
                yield ObjectMeta(m.key[cut:], m.size, m.crc32c, m.fingerprint)
            return
        if prefix.startswith(self._mv):
            rest = prefix[len(self._mv):]
        elif self._mv.startswith(prefix):
            rest = ""
        else:
            return
        base = self.data_prefix
        under = "/".join(p for p in (base, rest) if p)
        if under and not under.endswith("/") and (not rest or rest.endswith("/")):
            under += "/"
        cut = len(base) + 1 if base else 0
        skip = self.meta_prefix + "/"
        for m in self.inner.list(under):
            if not base and (m.key.startswith(skip) or m.key.startswith(META_DIR + "/")):
                continue  # staging's and the distributors' own metadata are not artifacts
            yield ObjectMeta(self._mv + m.key[cut:], m.size, m.crc32c, m.fingerprint)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        try:
            inner = self._k(key)
        except ObjectNotFound:
            return None
        m = self.inner.stat(inner, checksum=checksum)
        return None if m is None else ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        self._check_cancel()
        return self.inner.open_read(self._k(key), start, end)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(self._k(key))

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        self._read_only(key)
        m = self.inner.write(self._k(key), stream, size, crc32c)
        return ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        self._read_only(key)
        m = self.inner.write_bytes(self._k(key), data)
        return ObjectMeta(key, m.size, m.crc32c, m.fingerprint)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        raise StoreError(self.name, f"{key}: the registry's artifacts are read-only "
                                    "for staging")

    def delete(self, key: str) -> None:
        self._read_only(key)
        self.inner.delete(self._k(key))

    def sub(self, sub_path: str, model: str) -> SourceView:
        """A view of ``sub_path`` inside this version, as model ``model``."""
        sub = keys.check_relative(sub_path.strip("/"), what="subPath")
        return SourceView(self.inner, _under(self.data_prefix, sub), model, self.version,
                          meta_prefix=self.meta_prefix, cancel=self.cancel)
