"""A new or changed source file is read once per copy: hashed while it streams to the
destination, verified against the destination's checksum, then sealed and published."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from distributors import manifest as mf
from distributors.base import ObjectMeta, ReadStream, Store, StoreConfig
from distributors.errors import StoreError
from distributors.localfs import FileStore
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version

from .fakes import MemoryStore, ResumableMemoryStore

FAST = SyncOptions(transfers=4, retry_wait_max=0.0, retries=2)
FILES = {"a.bin": os.urandom(50_000), "b.bin": os.urandom(70_000), "c.txt": b"hello"}


class _CountingStream:
    def __init__(self, s: ReadStream, owner: Counting, key: str) -> None:
        self._s, self._owner, self._key = s, owner, key

    def read(self, n: int = -1, /) -> bytes:
        data = self._s.read(n)
        self._owner.read_by_key[self._key] = self._owner.read_by_key.get(self._key, 0) \
            + len(data)
        return data

    def close(self) -> None:
        self._s.close()
        if self._owner.on_close is not None:
            self._owner.on_close(self._key)


class Counting:
    """A store wrapper counting the bytes read from each object."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.read_by_key: dict[str, int] = {}
        self.on_close: Callable[[str], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        return _CountingStream(self._inner.open_read(key, start, end), self, key)

    def read_of(self, path: str) -> int:
        return self.read_by_key.get(mf.data_key("m", "v1", path), 0)


def _disk(tmp: Path, name: str, region: str = "r1") -> FileStore:
    (tmp / name).mkdir()
    return FileStore(StoreConfig(name, "file", region=region, root=str(tmp / name)))


def _origin(tmp: Path) -> tuple[Counting, Path]:
    store = _disk(tmp, "origin")
    d = store.root / "m" / "v1"
    d.mkdir(parents=True)
    for p, data in FILES.items():
        (d / p).write_bytes(data)
    return Counting(store), d


def test_changed_file_is_read_once_per_copy(tmp_path: Path) -> None:
    src, d = _origin(tmp_path)
    dst = _disk(tmp_path, "dst")
    sy = Syncer(FAST)
    _, [first] = sy.fanout(cast(Store, src), "m", "v1", [dst])
    assert first.published, first.errors
    assert {p: src.read_of(p) for p in FILES} == {p: len(x) for p, x in FILES.items()}

    src.read_by_key.clear()
    new_b = os.urandom(len(FILES["b.bin"]))  # same size, new content
    (d / "b.bin").write_bytes(new_b)
    _, [second] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert second.published and second.copied == ["b.bin"], second.errors
    assert src.read_by_key == {mf.data_key("m", "v1", "b.bin"): len(new_b)}  # not 2x
    assert dst.read_bytes(mf.data_key("m", "v1", "b.bin")) == new_b
    assert verify_version(dst, "m", "v1", deep=True).ok
    # The origin was sealed with the manifest the copy built (byte-identical).
    sealed = src.read_bytes(mf.manifest_key("m", "v1"))
    assert sealed == dst.read_bytes(mf.manifest_key("m", "v1"))
    assert mf.Manifest.from_json(sealed).by_path()["b.bin"].size == len(new_b)
    # A third run is a no-op that reads nothing.
    src.read_by_key.clear()
    _, [third] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert third.ok and not third.copied and src.read_by_key == {}


def test_two_regions_each_read_once(tmp_path: Path) -> None:
    src, _ = _origin(tmp_path)
    a, b = _disk(tmp_path, "a", "r1"), _disk(tmp_path, "b", "r2")
    _, results = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [a, b])
    assert all(r.published for r in results), [r.errors for r in results]
    assert src.read_of("b.bin") == 2 * len(FILES["b.bin"])
    assert a.read_bytes(mf.manifest_key("m", "v1")) == b.read_bytes(mf.manifest_key("m", "v1"))


def test_file_changed_during_the_copy_is_not_published(tmp_path: Path) -> None:
    src, d = _origin(tmp_path)
    dst = _disk(tmp_path, "dst")

    def rewrite(key: str) -> None:  # the file changes right after it was read
        if key.endswith("/a.bin"):
            (d / "a.bin").write_bytes(os.urandom(len(FILES["a.bin"])))

    src.on_close = rewrite
    _, [r] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert not r.published
    assert any(e.startswith("a.bin:") and "changed while it was copied" in e for e in r.errors)
    assert dst.stat(mf.manifest_key("m", "v1")) is None
    assert dst.stat(mf.data_key("m", "v1", "a.bin")) is None
    assert src.stat(mf.manifest_key("m", "v1")) is None  # origin not sealed either
    # Once the source is stable, a re-run publishes the new content.
    src.on_close = None
    _, [again] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert again.published, again.errors
    assert verify_version(dst, "m", "v1", deep=True).ok


def test_destination_without_unverified_writes_hashes_first(tmp_path: Path) -> None:
    src, _ = _origin(tmp_path)
    dst = MemoryStore("mem")  # needs the checksum before a write (like S3 today)
    _, [r] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert r.published, r.errors
    assert src.read_of("b.bin") == 2 * len(FILES["b.bin"])
    assert verify_version(dst, "m", "v1").ok


def test_provisional_manifest_is_never_written(tmp_path: Path) -> None:
    src, _ = _origin(tmp_path)
    m = Syncer(FAST).source_manifest(cast(Store, src), "m", "v1", defer=True)
    assert m.provisional and src.read_by_key == {}
    with pytest.raises(mf.ManifestError, match="provisional"):
        m.to_json()


class _UnverifiedResumable(ResumableMemoryStore):
    """Resumable sessions for large objects, unverified writes for the rest."""

    def write_unverified(self, key: str, stream: BinaryIO, size: int) -> ObjectMeta:
        self.put(key, stream.read())
        meta = self.stat(key)
        assert meta is not None
        return meta


def test_files_for_resumable_uploads_are_hashed_first(tmp_path: Path) -> None:
    src = MemoryStore("src", with_crc=False)
    small, big = os.urandom(40), os.urandom(300)  # the fake resumes from 64 bytes on
    src.put(mf.data_key("m", "v1", "small.bin"), small)
    src.put(mf.data_key("m", "v1", "big.bin"), big)
    dst = _UnverifiedResumable("dst")
    opts = SyncOptions(transfers=2, retry_wait_max=0.0, resume_dir=tmp_path / "journal")
    _, [r] = Syncer(opts).fanout(src, "m", "v1", [dst])
    assert r.published, r.errors
    assert dst.started == 1  # big.bin went through a session
    assert src.bytes_read == len(small) + 2 * len(big)
    assert verify_version(dst, "m", "v1", deep=True).ok


def test_files_hashed_by_a_failed_sync_are_not_copied_again(tmp_path: Path) -> None:
    src, _ = _origin(tmp_path)
    dst = MemoryStoreUnverified("dst")
    dst.fail_writes["c.txt"] = [StoreError("dst", "disk full")]
    _, [r] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert not r.published and sorted(r.copied) == ["a.bin", "b.bin"]
    assert dst.stat(mf.manifest_key("m", "v1")) is None
    src.read_by_key.clear()
    _, [again] = Syncer(FAST).fanout(cast(Store, src), "m", "v1", [dst])
    assert again.published, again.errors
    assert again.copied == ["c.txt"] and src.read_by_key == {
        mf.data_key("m", "v1", "c.txt"): len(FILES["c.txt"])}
    assert verify_version(dst, "m", "v1", deep=True).ok


class MemoryStoreUnverified(MemoryStore):
    def write_unverified(self, key: str, stream: BinaryIO, size: int) -> ObjectMeta:
        self._maybe_fail(key)
        self.put(key, stream.read())
        meta = self.stat(key)
        assert meta is not None
        return meta
