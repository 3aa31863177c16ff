"""Streaming SHA-256 + CRC32C (the checksum S3 and GCS can both report)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

import google_crc32c as _google_crc32c

google_crc32c: Any = _google_crc32c  # untyped C extension


class Digest:
    """Feed bytes; read size, SHA-256 (hex) and CRC32C (base64, as S3 and GCS report it)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._crc = google_crc32c.Checksum()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        self._crc.update(bytes(data) if isinstance(data, memoryview) else data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def crc32c(self) -> str:
        return base64.b64encode(self._crc.digest()).decode()


def digest_of(chunks: Iterable[bytes]) -> Digest:
    d = Digest()
    for c in chunks:
        d.update(c)
    return d


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
