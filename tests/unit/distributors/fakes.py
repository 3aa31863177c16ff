"""In-memory stores behind the Store protocol, with injectable failures."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from typing import BinaryIO

from distributors.checksums import Digest, crc32c_b64
from distributors.errors import ObjectNotFound, RetryableStoreError, StoreError
from distributors.store import ObjectMeta, ReadStream, Store

_gen = itertools.count(1)


class MemoryStore:
    """A bucket in memory. ``with_crc`` decides whether it reports CRC32C (like S3/GCS)
    or not (like a disk). ``fail_writes`` maps a key suffix to errors raised on writes."""

    provider = "memory"

    def __init__(self, name: str, *, region: str = "r1", edge: bool = False,
                 domain: str | None = None, with_crc: bool = True) -> None:
        self.name = name
        self.region = region
        self.edge = edge
        self.bucket = name
        self.copy_domain = domain
        self.with_crc = with_crc
        self.objects: dict[str, tuple[bytes, str]] = {}  # key -> (data, generation)
        self.fail_writes: dict[str, list[StoreError]] = {}
        self.writes: list[str] = []
        self.server_copies: list[str] = []
        self.bytes_read = 0

    def native_key(self, key: str) -> str:
        return key

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = (data, str(next(_gen)))

    def _meta(self, key: str) -> ObjectMeta:
        data, gen = self.objects[key]
        return ObjectMeta(key=key, size=len(data),
                          crc32c=crc32c_b64(data) if self.with_crc else None,
                          fingerprint=gen)

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self._meta(key)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        return self._meta(key) if key in self.objects else None

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        if key not in self.objects:
            raise ObjectNotFound(self.name, f"{key}: no such object")
        data = self.objects[key][0][start:end]
        self.bytes_read += len(data)
        return io.BytesIO(data)

    def read_bytes(self, key: str) -> bytes:
        if key not in self.objects:
            raise ObjectNotFound(self.name, f"{key}: no such object")
        return self.objects[key][0]

    def _maybe_fail(self, key: str) -> None:
        for suffix, errors in self.fail_writes.items():
            if key.endswith(suffix) and errors:
                raise errors.pop(0)

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        self._maybe_fail(key)
        data = stream.read()
        d = Digest()
        d.update(data)
        if d.crc32c != crc32c or len(data) != size:
            raise StoreError(self.name, f"{key}: checksum rejected")
        self.put(key, data)
        self.writes.append(key)
        return self._meta(key)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        self._maybe_fail(key)
        self.put(key, data)
        return self._meta(key)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        assert isinstance(source, MemoryStore) and source.copy_domain == self.copy_domain
        self._maybe_fail(key)
        self.put(key, source.objects[src_key][0])
        self.server_copies.append(key)
        return self._meta(key)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def close(self) -> None:
        return None


def flaky(n: int, store: str = "dst") -> list[StoreError]:
    return [RetryableStoreError(store, "transient error 503") for _ in range(n)]
