"""The ``Store`` protocol every backend implements, and the store configuration.

The backends (``s3``, ``gcs``, ``localfs``) and the sync logic import this module;
``distributors.store.open_store`` builds a backend from a ``StoreConfig``.

Keys passed to a store are relative to the store's root (bucket + optional prefix, or a
directory). Stores translate their SDK's exceptions into ``distributors.errors`` so callers
see one hierarchy and tenacity retries only ``RetryableStoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, Protocol, runtime_checkable

from distributors.errors import RetryableStoreError


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What a store reports about one object.

    ``crc32c`` is the store's full-object CRC32C (base64) when it reports one, else None.
    ``fingerprint`` changes whenever the object is rewritten on *this* store (S3 ETag,
    GCS generation, a file's inode/ctime); it is only ever compared with an earlier
    fingerprint of the same object on the same store, never across stores.
    """

    key: str
    size: int
    crc32c: str | None
    fingerprint: str


class ReadStream(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """A bucket (plus prefix) or directory holding model versions."""

    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def bucket(self) -> str:
        """The bucket ('' for file stores)."""
        ...

    @property
    def copy_domain(self) -> str | None:
        """Stores with the same domain can copy server-side (same provider+endpoint+creds)."""
        ...

    def native_key(self, key: str) -> str:
        """The backend's own name for ``key`` (bucket key with prefix, or a path)."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        """Objects whose key starts with ``prefix`` (a directory-like prefix ending '/')."""
        ...

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None: ...
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        """Stream bytes ``[start, end)`` of an object."""
        ...

    def read_bytes(self, key: str) -> bytes: ...
    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        """Write ``size`` bytes from ``stream`` atomically (readers never see a partial
        object). The store checks ``crc32c`` where it can; the returned meta is the
        destination's view after the write."""
        ...

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta: ...
    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        """Server-side copy from a store with the same ``copy_domain``."""
        ...

    def delete(self, key: str) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """How to reach one store. Credentials are never logged (``__repr__`` hides them)."""

    name: str
    provider: str  # s3 | gcs | file
    region: str = ""
    bucket: str = ""
    prefix: str = ""  # key prefix inside the bucket (or sub-directory of root)
    endpoint: str | None = None  # None: the provider's public endpoint
    root: str | None = None  # file stores
    access_key: str | None = None  # None: the SDK's default credential chain
    secret_key: str | None = None
    path_style: bool = True
    checksum_mode: str = "when_supported"  # when_required for stores rejecting CRC headers
    edge: bool = False
    project: str | None = None  # GCS project (emulator: any)

    def __repr__(self) -> str:
        where = self.root if self.provider == "file" else f"{self.bucket}@{self.endpoint}"
        return f"StoreConfig({self.name!r}, {self.provider}, {where})"

    __str__ = __repr__


MiB = 1024 * 1024
# What a sync holds besides transfer buffers (interpreter, SDKs, manifests, listings):
# the part of a memory budget that is not given to buffers.
BASELINE_MEMORY = 64 * MiB
# Smallest chunk a budget shrinks to (S3 parts must be at least 5 MiB; smaller requests
# cost throughput).
MIN_BUDGET_CHUNK = 8 * MiB
DEFAULT_MEMORY_BUDGET = 256 * MiB


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Tuning for the SDKs' transfer machinery (s3transfer, google resumable media).

    Memory: every file in flight buffers at most ``concurrency`` chunks of ``chunk_size``
    (S3 parts, s3transfer's in-memory chunks, one GCS SDK chunk; GCS resumable requests
    and disk writes stream through 1 MiB), so the buffers of a sync are bounded by
    ``buffer_bound()``; ``fit_memory`` derives the three from a budget."""

    multipart_threshold: int = 16 * MiB
    chunk_size: int = 16 * MiB
    concurrency: int = 8  # parallel parts inside one large-object transfer
    gcs_parallel_chunks: bool | None = None  # None: only against real GCS (no endpoint)
    timeout: float = 120.0
    # Objects of at least this size are uploaded through a journaled session that a
    # later run can continue part by part (distributors/resume.py); 0 disables it.
    resumable_threshold: int = 64 * MiB
    # GCS: bytes per request of a resumable session, streamed from the source (memory
    # stays at one 1 MiB read buffer whatever the size). Each request is committed and
    # journaled when it returns, so a kill loses at most one request's bytes. Multiple of
    # 256 KiB. fake-gcs-server keeps an unfinished upload in memory and re-hashes all of
    # it on every request, so against it larger requests are faster (256M: ~2x at 384 MiB
    # objects) at the price of a coarser resume.
    gcs_request_size: int = 32 * MiB
    # GCS: ask the server how much of a session it holds (status query). None: only
    # against real GCS; fake-gcs-server finalises the object on a status query, so there
    # the journal's last committed offset is used (a request that was in flight at a kill
    # is sent again; the server discards an incomplete request body).
    gcs_status_query: bool | None = None
    # GCS: objects per listing page. None: 1,000 against real GCS (its maximum; larger
    # values are capped by the service) and 10,000 against an emulator endpoint, where
    # fake-gcs-server scans the whole bucket for every page.
    gcs_list_page_size: int | None = None
    # Files in flight per sync (``SyncOptions.transfers``) and syncs running at once (a
    # fan-out's relays copy in parallel): with ``concurrency`` they size the HTTP
    # connection pools, so no request waits for (or discards) a pooled connection.
    transfers: int = 8
    parallel_syncs: int = 1

    @property
    def connections(self) -> int:
        """Requests one store may have in flight: every part of every file of every
        sync reading or writing it, plus listings and manifest reads beside them."""
        return max(1, self.parallel_syncs) * max(1, self.transfers) * max(
            1, self.concurrency) + 8

    def buffer_bound(self) -> int:
        """Upper bound of the bytes a sync buffers for transfers."""
        return (max(1, self.parallel_syncs) * max(1, self.transfers) * max(1, self.concurrency)
                * max(self.chunk_size, self.multipart_threshold))


def fit_memory(settings: TransferSettings, budget: int) -> TransferSettings:
    """``settings`` with ``chunk_size`` (and the multipart threshold), ``concurrency`` and
    ``transfers`` lowered until ``BASELINE_MEMORY + buffer_bound()`` fits in ``budget``
    bytes. Parts in flight are kept as long as possible: first the chunks shrink (down to
    ``MIN_BUDGET_CHUNK``), then the parts per file, then the files in flight. Raises
    ``ValueError`` when not even one chunk fits."""
    buffers = budget - BASELINE_MEMORY
    syncs = max(1, settings.parallel_syncs)
    chunk = max(settings.chunk_size, settings.multipart_threshold)
    floor = min(chunk, MIN_BUDGET_CHUNK)
    if buffers < syncs * floor:
        raise ValueError(f"a memory budget of {budget // MiB} MiB leaves no room for "
                         f"{syncs} x {floor // MiB} MiB transfer buffers (at least "
                         f"{(BASELINE_MEMORY + syncs * floor) // MiB} MiB)")
    transfers, conc = max(1, settings.transfers), max(1, settings.concurrency)
    slots = buffers // syncs  # bytes per parallel sync
    while transfers * conc * chunk > slots and chunk > floor:
        chunk = max(floor, chunk // 2 // (256 * 1024) * (256 * 1024))
    if transfers * conc * chunk > slots:
        conc = max(1, slots // (transfers * chunk))
    if transfers * conc * chunk > slots:
        transfers = max(1, slots // chunk)
    if (chunk, conc, transfers) == (max(settings.chunk_size, settings.multipart_threshold),
                                    max(1, settings.concurrency), max(1, settings.transfers)):
        return settings
    return replace(settings, chunk_size=chunk, multipart_threshold=chunk, concurrency=conc,
                   transfers=transfers)


def stat_written(store: Store, key: str, after: str) -> ObjectMeta:
    """The metadata of an object just written; a store that does not show it yet is a
    retryable error (``after`` says what wrote it: upload, copy)."""
    meta = store.stat(key)
    if meta is None:
        raise RetryableStoreError(store.name, f"{key}: object missing right after {after}")
    return meta
