"""Verifying a published version on a store against its manifest."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from distributors import manifest as mf
from distributors.base import ObjectMeta, Store
from distributors.checksums import Digest
from distributors.errors import ManifestError
from distributors.manifest import FileEntry, Manifest
from distributors.sync import Syncer

OK, MISSING, SIZE, CHECKSUM, EXTRA = "ok", "missing", "size-mismatch", "checksum-mismatch", \
    "extra"


@dataclass(frozen=True, slots=True)
class FileCheck:
    path: str
    status: str
    detail: str
    method: str  # store-crc32c | sha256-reread | listing


@dataclass(frozen=True, slots=True)
class VerifyReport:
    store: str
    manifest: Manifest
    checks: tuple[FileCheck, ...]

    @property
    def problems(self) -> list[FileCheck]:
        return [c for c in self.checks if c.status != OK]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_version(store: Store, model: str, version: str, *, deep: bool = False,
                   workers: int = 8, syncer: Syncer | None = None,
                   on_file: Callable[[FileCheck], None] | None = None) -> VerifyReport:
    """Check every file: present, right size, store CRC32C equal to the manifest's (or,
    where the store reports none, or with ``deep``, a re-read SHA-256)."""
    sy = syncer or Syncer()
    m = sy.read_manifest(store, model, version)
    if m is None:
        raise ManifestError(f"{store.name}: {model}/{version} is not published there",
                            hint=f"`fedctl artifacts ls {store.name}` lists versions")
    listing = sy.listing(store, model, version)

    def one(entry: FileEntry) -> FileCheck:
        c = _check(store, mf.data_key(model, version, entry.path), entry,
                   listing.get(entry.path), deep)
        if on_file:
            on_file(c)
        return c

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = list(pool.map(one, m.files))
    wanted = {f.path for f in m.files}
    checks += [FileCheck(p, EXTRA, "not in the manifest", "listing")
               for p in sorted(listing) if p not in wanted]
    return VerifyReport(store=store.name, manifest=m, checks=tuple(checks))


def _check(store: Store, key: str, entry: FileEntry, listed: ObjectMeta | None,
           deep: bool) -> FileCheck:
    if listed is None:
        return FileCheck(entry.path, MISSING, "no such object", "listing")
    if listed.size != entry.size:
        return FileCheck(entry.path, SIZE, f"{listed.size} bytes, manifest {entry.size}",
                         "listing")
    if not deep:
        meta = listed if listed.crc32c is not None else store.stat(key, checksum=True)
        if meta is None:
            return FileCheck(entry.path, MISSING, "no such object", "store-crc32c")
        if meta.crc32c is not None:
            if meta.crc32c == entry.crc32c:
                return FileCheck(entry.path, OK, "", "store-crc32c")
            return FileCheck(entry.path, CHECKSUM,
                             f"store crc32c {meta.crc32c}, manifest {entry.crc32c}",
                             "store-crc32c")
    d = Digest()
    s = store.open_read(key)
    try:
        while buf := s.read(1024 * 1024):
            d.update(buf)
    finally:
        s.close()
    if d.sha256 == entry.sha256 and d.size == entry.size:
        return FileCheck(entry.path, OK, "", "sha256-reread")
    return FileCheck(entry.path, CHECKSUM, f"sha256 {d.sha256[:16]}..., manifest "
                                           f"{entry.sha256[:16]}...", "sha256-reread")
