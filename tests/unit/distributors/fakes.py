"""In-memory stores behind the Store protocol, with injectable failures."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from typing import Any, BinaryIO

from distributors.base import ObjectMeta, ReadStream, Store
from distributors.checksums import Digest, crc32c_b64
from distributors.errors import ChecksumMismatch, ObjectNotFound, RetryableStoreError, StoreError
from distributors.resume import Held, SessionGone

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


class ResumableMemoryStore(MemoryStore):
    """A ``MemoryStore`` whose large writes go through resumable sessions (``resume.py``).

    ``sequential``: bytes in order, progress is a prefix (like GCS); else numbered parts
    in any order (like S3). ``query``: the server can report what it holds; without it
    the journal's last confirmed offset is used (a failed request stores nothing).
    ``sent`` counts the bytes each part request carried; ``forget()`` expires every open
    session."""

    def __init__(self, name: str, *, sequential: bool = False, query: bool = True,
                 threshold: int = 64, part_size: int = 32, **kw: object) -> None:
        super().__init__(name, **kw)  # type: ignore[arg-type]
        self.sequential, self.query = sequential, query
        self.threshold, self.part = threshold, part_size
        self.sessions: dict[str, dict[int, bytes]] = {}
        self.sent: list[tuple[int, int]] = []
        self.started = 0
        self.aborted: list[str] = []

    @property
    def resumable_sequential(self) -> bool:
        return self.sequential

    @property
    def resumable_concurrency(self) -> int:
        return 1

    def resumable_part_size(self, size: int) -> int | None:
        return self.part if size >= self.threshold else None

    def resumable_start(self, key: str, size: int, crc32c: str,
                        part_size: int) -> dict[str, object]:
        self.started += 1
        sid = f"s{self.started}"
        self.sessions[sid] = {}
        return {"id": sid, "confirmed": 0, "inflight": None}

    def resumable_held(self, key: str, session: dict[str, Any], size: int,
                       part_size: int) -> Held | None:
        parts = self.sessions.get(session["id"])
        if parts is None:
            raise SessionGone(self.name, "no such session")
        if self.sequential:
            if not self.query:  # like GcsStore against fake-gcs-server
                return Held(offset=int(session["confirmed"]))
            return Held(offset=sum(len(v) for v in parts.values()))
        return Held(parts=frozenset(parts))

    def resumable_put(self, key: str, session: dict[str, Any], index: int, start: int,
                      end: int, size: int, crc32c: str, stream: ReadStream) -> int:
        self._maybe_fail(key)
        parts = self.sessions.get(session["id"])
        if parts is None:
            raise SessionGone(self.name, "no such session")
        data = stream.read(end - start)
        assert len(data) == end - start
        self.sent.append((start, end))
        parts[start if self.sequential else index] = data
        return end

    def resumable_complete(self, key: str, session: dict[str, Any], size: int,
                           crc32c: str) -> ObjectMeta:
        parts = self.sessions.pop(session["id"])
        data = b"".join(parts[k] for k in sorted(parts))
        if len(data) != size or crc32c_b64(data) != crc32c:
            raise ChecksumMismatch(self.name, f"{key}: checksum rejected")
        self.put(key, data)
        self.writes.append(key)
        return self._meta(key)

    def resumable_abort(self, key: str, session: dict[str, Any]) -> None:
        self.aborted.append(session["id"])
        self.sessions.pop(session["id"], None)

    def forget(self) -> None:
        self.sessions.clear()
