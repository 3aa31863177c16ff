"""``file://`` stores: a directory. Writes go to a temp file and are renamed into place;
no path ever resolves outside the root (symbolic links out of the root are refused).
Symbolic links inside the root are followed (files and directories, with loop detection):
a linked file is an object under the link's own path with its target's content.
Local disks report no checksum, so a written file is verified by re-reading it."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from distributors import keys
from distributors.base import ObjectMeta, ReadStream, Store, StoreConfig
from distributors.checksums import Digest
from distributors.errors import (
    BucketNotFound,
    ChecksumMismatch,
    ObjectNotFound,
    StoreError,
    UnsafeKey,
)

_BUF = 1024 * 1024
TMP_DIR = ".fedctl-tmp"


class FileStore:
    provider = "file"

    def __init__(self, cfg: StoreConfig) -> None:
        self.cfg = cfg
        if not cfg.root:
            raise StoreError(cfg.name, "file store without a root directory",
                             hint="set 'root' in the fleet file")
        base = Path(cfg.root)
        if not base.is_dir():
            raise BucketNotFound(cfg.name, f"root directory {base} does not exist",
                                 hint="create it or fix 'root' in the fleet file")
        self._real = Path(os.path.realpath(base))
        prefix = cfg.prefix.strip("/")
        if prefix:
            keys.check_relative(prefix, what="prefix")
        self._root = self._real / prefix if prefix else self._real
        self._domain = f"file|{os.stat(self._real).st_dev}"

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def region(self) -> str:
        return self.cfg.region

    @property
    def bucket(self) -> str:
        return ""

    @property
    def copy_domain(self) -> str | None:
        return self._domain

    @property
    def root(self) -> Path:
        return self._root

    def _inside(self, p: Path) -> bool:
        real = os.path.realpath(p)
        return real == str(self._real) or real.startswith(str(self._real) + os.sep)

    def _path(self, key: str) -> Path:
        p = self._root / keys.check_relative(key)
        if not self._inside(p):
            raise UnsafeKey(f"object store {self.name}: {key!r} resolves outside the root "
                            "(symbolic link)", hint="file stores never follow links out")
        return p

    def native_key(self, key: str) -> str:
        """The object's absolute path (checked to stay inside the root)."""
        return str(self._path(key))

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        """Regular files under ``prefix``, following symbolic links to files and
        directories (a Hugging Face cache snapshot is links into ``../../blobs``); a link
        lists under its own path with its target's size. A dangling link, a link cycle or
        a link out of the root is an error naming the path: a listing never silently
        leaves a file out."""
        base = self._path(prefix.rstrip("/")) if prefix else self._root
        if not base.is_dir():
            if not self._real.is_dir():
                raise BucketNotFound(self.name, f"root directory {self._real} is gone")
            return
        st = base.stat()
        yield from self._walk(base, frozenset({(st.st_dev, st.st_ino)}))

    def _walk(self, d: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[ObjectMeta]:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except FileNotFoundError:
            return  # removed while listing
        for e in entries:
            if d == self._root and e.name == TMP_DIR:
                continue
            p = Path(e.path)
            rel = p.relative_to(self._root).as_posix()
            link = e.is_symlink()
            if link and not self._inside(p):
                raise StoreError(self.name, f"{rel}: symbolic link to {os.readlink(p)!r} "
                                            "leads outside the store's root",
                                 hint="file stores never follow links out of the root; set "
                                      "'root' to a directory holding the link targets too "
                                      "(for a Hugging Face cache: the models--... directory)")
            try:
                st = p.stat()
            except FileNotFoundError:
                if link:
                    raise StoreError(self.name, f"{rel}: dangling symbolic link (target "
                                                f"{os.readlink(p)!r} does not exist)",
                                     hint="restore the target or remove the link") from None
                continue  # removed while listing
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise StoreError(self.name, f"{rel}: symbolic link loop",
                                     hint="remove or fix the link") from None
                raise StoreError(self.name, f"{rel}: cannot read ({exc.strerror})") from None
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    raise StoreError(self.name, f"{rel}: symbolic link loop (leads back to "
                                                "a directory containing it)",
                                     hint="remove or fix the link")
                yield from self._walk(p, ancestors | {ident})
            elif stat.S_ISREG(st.st_mode):
                yield ObjectMeta(key=rel, size=st.st_size, crc32c=None, fingerprint=_fp(st))

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        p = self._path(key)
        try:
            st = p.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not p.is_file():
            return None
        return ObjectMeta(key=key, size=st.st_size, crc32c=None, fingerprint=_fp(st))

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        p = self._path(key)
        try:
            f = open(p, "rb")  # noqa: SIM115 - handed to the caller
        except FileNotFoundError:
            raise ObjectNotFound(self.name, f"{key}: no such object") from None
        f.seek(start)
        return _Limited(f, None if end is None else end - start, str(p))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(self.name, f"{key}: no such object") from None

    def _tmp(self) -> Path:
        d = self._real / TMP_DIR
        d.mkdir(exist_ok=True)
        return d / uuid.uuid4().hex

    def _commit(self, tmp: Path, key: str, size: int, crc32c: str | None,
                report_crc: bool = False) -> ObjectMeta:
        try:
            d = _reread(tmp)
            if d.size != size or (crc32c is not None and d.crc32c != crc32c):
                raise ChecksumMismatch(self.name, f"{key}: wrote {d.size} bytes crc32c "
                                                  f"{d.crc32c}, expected {size} {crc32c}")
            dest = self._path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not self._inside(dest.parent):
                raise UnsafeKey(f"object store {self.name}: {key!r} resolves outside the root")
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        st = dest.stat()
        return ObjectMeta(key=key, size=st.st_size, crc32c=d.crc32c if report_crc else None,
                          fingerprint=_fp(st))

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        return self._write(key, stream, size, crc32c)

    def write_unverified(self, key: str, stream: BinaryIO, size: int) -> ObjectMeta:
        """Write an object whose checksum the caller learns while streaming it; the
        returned meta carries the CRC32C of the bytes as stored (re-read from disk)."""
        return self._write(key, stream, size, None)

    def _write(self, key: str, stream: BinaryIO, size: int, crc32c: str | None) -> ObjectMeta:
        self._path(key)
        tmp = self._tmp()
        with open(tmp, "wb") as out:
            while True:
                buf = stream.read(_BUF)
                if not buf:
                    break
                out.write(buf)
            out.flush()
            os.fsync(out.fileno())
        return self._commit(tmp, key, size, crc32c, report_crc=crc32c is None)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        self._path(key)
        tmp = self._tmp()
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return self._commit(tmp, key, len(data), None)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        if source.copy_domain != self.copy_domain:
            raise StoreError(self.name, f"cannot copy locally from {source.name}")
        tmp = self._tmp()
        shutil.copyfile(source.native_key(src_key), tmp)
        return self._commit(tmp, key, size, crc32c)

    def delete(self, key: str) -> None:
        p = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        # Remove directories left empty, up to the root.
        parent = p.parent
        while parent != self._root and self._inside(parent):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def close(self) -> None:
        return None


class _Limited:
    def __init__(self, f: BinaryIO, limit: int | None, path: str) -> None:
        self._f, self._left = f, limit
        self.local_path = path

    def read(self, n: int = -1, /) -> bytes:
        if self._left is not None:
            n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()


def _reread(p: Path) -> Digest:
    d = Digest()
    with open(p, "rb") as f:
        while buf := f.read(_BUF):
            d.update(buf)
    return d


def _fp(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
