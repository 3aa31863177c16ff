"""Executing sync plans: parallel, verified, resumable transfers between stores.

``Syncer`` loads (or builds and seals) the source manifest, plans each destination with
the pure planner, runs the actions in one thread pool (SDK calls block; s3transfer and
google resumable media do their own part-level parallelism inside), retries transient
failures with tenacity, verifies every written object against the manifest and publishes
a destination's receipt and then its manifest only when all of its files are verified.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar, runtime_checkable

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from distributors import manifest as mf
from distributors.base import ObjectMeta, ReadStream, Store
from distributors.checksums import Digest
from distributors.errors import ChecksumMismatch, ManifestError, ObjectNotFound, StoreError
from distributors.manifest import FileEntry, Manifest, Receipt
from distributors.planner import Kind, Plan, plan_destination, refresh_source
from distributors.progress import Events, NullEvents, RateLimiter
from distributors.relay import FanoutPlan, StoreInfo, plan_fanout
from distributors.resume import Journal, PartSent, ResumableStore
from distributors.resume import upload as resumable_upload
from distributors.retention import versions_to_delete

log = logging.getLogger(__name__)
T = TypeVar("T")
_DestState = tuple[Manifest | None, Receipt | None, dict[str, ObjectMeta]]
_BUF = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SyncOptions:
    transfers: int = 8  # files in flight
    dry_run: bool = False
    bandwidth: float | None = None  # bytes/s over all streamed transfers
    seal_source: bool = True  # write a manifest to a source that has none (or a stale one)
    retries: int = 5
    retry_wait_max: float = 10.0
    relay: bool = True
    resume: bool = True  # journal large uploads so a later run continues them part-wise
    resume_dir: Path | None = None  # journal directory; None: $XDG_STATE_HOME/fedctl/...
    on_part: Callable[[PartSent], None] | None = None  # seam: called after each stored part
    now: Callable[[], str] = field(
        default=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


@dataclass
class StoreResult:
    store: str
    plan: Plan | None = None
    copied: list[str] = field(default_factory=list)
    server_side: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    bytes_resumed: int = 0  # bytes of large files an earlier attempt had already stored
    published: bool = False
    errors: list[str] = field(default_factory=list)
    # Entries of files hashed while copied (the manifest was provisional), by path.
    hashed: dict[str, FileEntry] = field(default_factory=dict)
    manifest: Manifest | None = None  # the manifest published on this store

    @property
    def ok(self) -> bool:
        return not self.errors


@runtime_checkable
class UnverifiedWriter(Protocol):
    """A store that can take an object whose checksum the caller does not know yet and
    reports the CRC32C of what it stored (so a file is hashed while it is copied)."""

    def write_unverified(self, key: str, stream: BinaryIO, size: int) -> ObjectMeta: ...


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, StoreError) and exc.retryable


class HashingReader:
    """A forward-only file-like view of a source object that hashes what passes through,
    counts bytes for progress and obeys the shared rate limit. Memory: one SDK chunk."""

    def __init__(self, stream: ReadStream, limiter: RateLimiter,
                 on_bytes: Callable[[int], None]) -> None:
        self._s = stream
        self._limiter = limiter
        self._on_bytes = on_bytes
        self.digest = Digest()
        self.local_path: str | None = getattr(stream, "local_path", None)

    def read(self, n: int = -1, /) -> bytes:
        data = self._s.read(n)
        if data:
            self._limiter.acquire(len(data))
            self.digest.update(data)
            self._on_bytes(len(data))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.digest.size

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0 and pos == self.digest.size:
            return pos
        import io

        raise io.UnsupportedOperation("forward-only stream")

    def close(self) -> None:
        self._s.close()


class _Metered:
    """A source stream that obeys the shared rate limit and counts bytes for progress."""

    def __init__(self, stream: ReadStream, limiter: RateLimiter,
                 on_bytes: Callable[[int], None]) -> None:
        self._s, self._limiter, self._on_bytes = stream, limiter, on_bytes

    def read(self, n: int = -1, /) -> bytes:
        data = self._s.read(n)
        if data:
            self._limiter.acquire(len(data))
            self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._s.close()


class _Progress:
    def __init__(self, events: Events, total_bytes: int, total_files: int) -> None:
        self.events = events
        self.lock = threading.Lock()
        self.bytes_total, self.files_total = total_bytes, total_files
        self.bytes_done = self.files_done = 0
        self._last = 0.0

    def add_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes_done += n
            now = time.monotonic()
            if now - self._last < 0.5:
                return
            self._last = now
            ev = self._snapshot()
        self.events.emit(ev)

    def file_done(self) -> None:
        with self.lock:
            self.files_done += 1

    def _snapshot(self) -> dict[str, Any]:
        return {"event": "progress", "bytes_done": self.bytes_done,
                "bytes_total": self.bytes_total, "files_done": self.files_done,
                "files_total": self.files_total}


class Syncer:
    def __init__(self, options: SyncOptions | None = None, events: Events | None = None) -> None:
        self.opts = options or SyncOptions()
        self.events = events or NullEvents()
        self.limiter = RateLimiter(self.opts.bandwidth)
        self.journal = Journal(self.opts.resume_dir)
        # Destination state read while the source manifest is loaded (``fanout``); each
        # entry is used by at most one plan, keyed by (id(store), model, version).
        self._prefetched: dict[tuple[int, str, str], Future[_DestState]] = {}
        self._prefetch_lock = threading.Lock()
        # Provisional source manifests: (id(store), model, version) -> (old, listing).
        self._deferred: dict[tuple[int, str, str], tuple[Manifest | None,
                                                          dict[str, ObjectMeta]]] = {}

    # ---- helpers -----------------------------------------------------------------------
    def _retry(self, fn: Callable[[], T]) -> T:
        for attempt in Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(max(1, self.opts.retries)),
            wait=wait_random_exponential(multiplier=0.2, max=self.opts.retry_wait_max),
            reraise=True,
        ):
            with attempt:
                return fn()
        raise AssertionError("unreachable")

    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=max(1, self.opts.transfers),
                                  thread_name_prefix="fedctl-sync")

    # ---- manifests ---------------------------------------------------------------------
    def read_manifest(self, store: Store, model: str, version: str) -> Manifest | None:
        key = mf.manifest_key(model, version)
        try:
            data = self._retry(lambda: store.read_bytes(key))
        except ObjectNotFound:
            return None
        m = Manifest.from_json(data, f"{store.name}:{key}")
        if (m.model, m.version) != (model, version):
            raise ManifestError(f"{store.name}:{key} describes {m.model}/{m.version}")
        return m

    def read_receipt(self, store: Store, model: str, version: str) -> Receipt | None:
        try:
            return Receipt.from_json(
                self._retry(lambda: store.read_bytes(mf.receipt_key(model, version))))
        except ObjectNotFound:
            return None

    def listing(self, store: Store, model: str, version: str) -> dict[str, ObjectMeta]:
        prefix = mf.data_prefix(model, version)
        cut = len(prefix) + 1
        metas = self._retry(lambda: list(store.list(prefix + "/")))
        return {m.key[cut:]: m for m in metas}

    def source_manifest(self, store: Store, model: str, version: str, *,
                        defer: bool | Callable[[ObjectMeta], bool] = False) -> Manifest:
        """The source's manifest, rebuilt for files that changed and sealed on the source.

        With ``defer`` (True, or true for a listed object), new or changed files are not
        read here: the manifest returned is provisional (their entries are ``pending``)
        and ``sync`` hashes them while it copies them; ``seal`` then writes the completed
        manifest to the source."""
        with self._pool() as pool:
            fm = pool.submit(self.read_manifest, store, model, version)
            fr = pool.submit(self.read_receipt, store, model, version)
            fl = pool.submit(self.listing, store, model, version)
            old, receipt, listing = fm.result(), fr.result(), fl.result()
            if not listing:
                if old is not None:
                    raise ManifestError(f"{store.name}: {model}/{version} has a manifest but "
                                        "no files", hint="the version was damaged; re-upload")
                raise ManifestError(f"{store.name}: no model version {model}/{version}",
                                    hint=f"`fedctl artifacts ls {store.name}` lists versions")
            refresh = refresh_source(old, receipt, listing)
            if refresh.current and old is not None and len(old.files) == len(listing):
                if receipt is None or receipt.identity != old.identity:
                    self._write_receipt(store, old, listing, {})
                return old
            created = old.created if old is not None else self.opts.now()
            cut = len(mf.data_prefix(model, version)) + 1
            later = [x for x in refresh.rehash
                     if defer is True or (callable(defer) and defer(x))]
            deferred = {x.key for x in later}
            now = [x for x in refresh.rehash if x.key not in deferred]
            hashed = list(pool.map(lambda meta: self._hash(store, meta.key[cut:], meta), now))
            if later:
                return self._provisional(store, model, version, old, listing,
                                         list(refresh.reuse) + hashed, later, created)
        new = Manifest.build(model, version, list(refresh.reuse) + hashed, created)
        self._seal(store, old, new, listing, len(hashed))
        return new

    def _provisional(self, store: Store, model: str, version: str, old: Manifest | None,
                     listing: dict[str, ObjectMeta], known: list[FileEntry],
                     later: list[ObjectMeta], created: str) -> Manifest:
        cut = len(mf.data_prefix(model, version)) + 1
        pending = [FileEntry(meta.key[cut:], meta.size, mf.PENDING, mf.PENDING)
                   for meta in later]
        m = Manifest.build(model, version, known + pending, created)
        with self._prefetch_lock:
            self._deferred[(id(store), model, version)] = (old, listing)
        return m

    def seal(self, store: Store, provisional: Manifest, final: Manifest) -> None:
        """Seal the source of a provisional manifest with the manifest its copies built."""
        with self._prefetch_lock:
            old, listing = self._deferred.pop((id(store), provisional.model,
                                               provisional.version))
        self._seal(store, old, final, listing, sum(1 for f in provisional.files if f.pending))

    def _seal(self, store: Store, old: Manifest | None, new: Manifest,
              listing: dict[str, ObjectMeta], nhashed: int) -> None:
        self.events.emit({"event": "sealed", "store": store.name, "model": new.model,
                          "version": new.version, "files": nhashed,
                          "identity": new.identity, "written": self.opts.seal_source
                          and not self.opts.dry_run})
        if self.opts.seal_source and not self.opts.dry_run:
            if old is not None and old.identity != new.identity:
                store.delete(mf.manifest_key(new.model, new.version))
            self._write_receipt(store, new, listing, {})
            self._retry(lambda: store.write_bytes(mf.manifest_key(new.model, new.version),
                                                  new.to_json()))

    def _hash(self, store: Store, path: str, meta: ObjectMeta) -> FileEntry:
        def run() -> FileEntry:
            s = store.open_read(meta.key)
            d = Digest()
            try:
                while buf := s.read(_BUF):
                    self.limiter.acquire(len(buf))
                    d.update(buf)
            finally:
                s.close()
            if d.size != meta.size:
                raise ChecksumMismatch(store.name, f"{meta.key}: read {d.size} bytes, "
                                                   f"listed {meta.size}")
            return FileEntry(path, d.size, d.sha256, d.crc32c)
        return self._retry(run)

    def _write_receipt(self, store: Store, m: Manifest, listing: dict[str, ObjectMeta],
                       verified: dict[str, str]) -> None:
        files = {}
        for f in m.files:
            fp = verified.get(f.path) or (listing[f.path].fingerprint
                                          if f.path in listing else None)
            if fp is not None:
                files[f.path] = (f.sha256, fp)
        r = Receipt(identity=m.identity, files=files)
        self._retry(lambda: store.write_bytes(mf.receipt_key(m.model, m.version), r.to_json()))

    # ---- one destination ---------------------------------------------------------------
    def dest_state(self, dest: Store, model: str, version: str) -> _DestState:
        """A destination's manifest, receipt and listing, read concurrently."""
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fedctl-plan") as pool:
            fm = pool.submit(self.read_manifest, dest, model, version)
            fr = pool.submit(self.read_receipt, dest, model, version)
            listing = self.listing(dest, model, version)
            return fm.result(), fr.result(), listing

    def plan(self, dest: Store, m: Manifest) -> tuple[Plan, dict[str, ObjectMeta]]:
        with self._prefetch_lock:
            fut = self._prefetched.pop((id(dest), m.model, m.version), None)
        dm, rc, listing = fut.result() if fut is not None else self.dest_state(
            dest, m.model, m.version)
        return plan_destination(dest.name, m, dm, rc, listing), listing

    def sync(self, source: Store, m: Manifest, dests: Sequence[Store],
             server_side: Callable[[Store, Store], bool] | None = None) -> list[StoreResult]:
        """Make every store in ``dests`` hold version ``m`` read from ``source``."""
        same = server_side or (lambda a, b: a.copy_domain is not None
                               and a.copy_domain == b.copy_domain)
        results = [StoreResult(d.name) for d in dests]
        with self._pool() as pool:
            planned = [pool.submit(self.plan, d, m) for d in dests]
            plans: list[tuple[Plan, dict[str, ObjectMeta]] | None] = []
            for d, r, fut in zip(dests, results, planned, strict=True):
                try:
                    plans.append(fut.result())
                except StoreError as exc:
                    r.errors.append(str(exc))
                    self.events.emit({"event": "failed", "store": d.name, "error": str(exc)})
                    plans.append(None)
            for d, r, p in zip(dests, results, plans, strict=True):
                if p is None:
                    continue
                r.plan = p[0]
                self.events.emit({
                    "event": "plan", "store": d.name, "model": m.model, "version": m.version,
                    "identity": m.identity, "copy": len(p[0].of(Kind.COPY)),
                    "check": len(p[0].of(Kind.CHECK)), "skip": len(p[0].of(Kind.SKIP)),
                    "delete": len(p[0].of(Kind.DELETE)), "copy_bytes": p[0].copy_bytes,
                    "server_side": same(source, d), "dry_run": self.opts.dry_run})
            if self.opts.dry_run:
                return results
            work = [(d, r, p) for d, r, p in zip(dests, results, plans, strict=True)
                    if p is not None]
            total = sum(p[0].copy_bytes for _, _, p in work)
            nfiles = sum(len(p[0].actions) for _, _, p in work)
            progress = _Progress(self.events, total, nfiles)
            for d, _r, p in work:
                if p[0].unpublish_first:
                    self._unpublish(d, m)
            futures: list[tuple[Store, StoreResult, str, Future[str | None]]] = []
            entries = m.by_path()
            for d, r, p in work:
                for a in p[0].actions:
                    if a.kind is Kind.SKIP:
                        progress.file_done()
                        continue
                    job = pool.submit(self._act, source, d, m, entries.get(a.path), a.kind,
                                      a.path, same(source, d), r, progress)
                    futures.append((d, r, a.path, job))
            verified: dict[str, dict[str, str]] = {d.name: {} for d in dests}
            for d, r, path, job in futures:
                try:
                    fp = job.result()
                    if fp is not None:
                        verified[d.name][path] = fp
                except Exception as exc:
                    msg = str(exc) if isinstance(exc, StoreError | ManifestError) \
                        else f"{type(exc).__name__}: {exc}"
                    r.errors.append(f"{path}: {msg}")
                    self.events.emit({"event": "failed", "store": d.name, "path": path,
                                      "error": msg})
            final = _complete(m, [r for _d, r, _p in work]) if m.provisional else m
            for d, r, p in work:
                self._finish(d, r, final, p[0], p[1], verified[d.name])
        return results

    def _unpublish(self, dest: Store, m: Manifest) -> None:
        self._retry(lambda: dest.delete(mf.manifest_key(m.model, m.version)))

    def _act(self, source: Store, dest: Store, m: Manifest, entry: FileEntry | None,
             kind: Kind, path: str, server_side: bool, result: StoreResult,
             progress: _Progress) -> str | None:
        key = mf.data_key(m.model, m.version, path)
        if kind is Kind.DELETE:
            self._retry(lambda: dest.delete(key))
            result.deleted.append(path)
            progress.file_done()
            return None
        assert entry is not None
        if kind is Kind.CHECK:
            fp = self._retry(lambda: self._check(dest, key, entry))
            if fp is not None:
                result.checked.append(path)
                progress.file_done()
                self.events.emit({"event": "file", "store": dest.name, "path": path,
                                  "action": "verified", "bytes": 0})
                return fp
        src_key = mf.data_key(m.model, m.version, path)
        server_side = server_side and not entry.pending  # pending files stream (hashing)
        meta = self._retry(lambda: self._transfer(source, src_key, dest, key, entry,
                                                  server_side, progress, result))
        (result.server_side if server_side else result.copied).append(path)
        result.bytes_copied += entry.size
        progress.file_done()
        self.events.emit({"event": "file", "store": dest.name, "path": path,
                          "action": "server-side" if server_side else "copied",
                          "bytes": entry.size})
        return meta.fingerprint

    def _check(self, dest: Store, key: str, entry: FileEntry) -> str | None:
        """The object's fingerprint if its content matches ``entry``, else None."""
        meta = dest.stat(key, checksum=True)
        if meta is None or meta.size != entry.size:
            return None
        if meta.crc32c is not None:
            return meta.fingerprint if meta.crc32c == entry.crc32c else None
        s = dest.open_read(key)
        d = Digest()
        try:
            while buf := s.read(_BUF):
                d.update(buf)
        finally:
            s.close()
        return meta.fingerprint if d.sha256 == entry.sha256 else None

    def _transfer(self, source: Store, src_key: str, dest: Store, key: str,
                  entry: FileEntry, server_side: bool, progress: _Progress,
                  result: StoreResult) -> ObjectMeta:
        if entry.pending:
            return self._hashing_copy(source, src_key, dest, key, entry, progress, result)
        if server_side:
            meta = dest.copy_from(source, src_key, key, entry.size, entry.crc32c)
            progress.add_bytes(entry.size)
        elif self._resumable(dest, entry):
            return self._resume_upload(source, src_key, dest, key, entry, progress, result)
        else:
            reader = HashingReader(source.open_read(src_key), self.limiter, progress.add_bytes)
            try:
                meta = dest.write(key, reader, entry.size, entry.crc32c)  # type: ignore[arg-type]
            finally:
                reader.close()
            if reader.digest.size and (reader.digest.size != entry.size
                                       or reader.digest.sha256 != entry.sha256):
                dest.delete(key)
                raise ChecksumMismatch(
                    source.name, f"{src_key}: content differs from the manifest "
                                 f"(read {reader.digest.size} bytes)",
                    hint="the source changed during the sync; run it again")
        if meta.size != entry.size or (meta.crc32c is not None
                                       and meta.crc32c != entry.crc32c):
            dest.delete(key)
            raise ChecksumMismatch(dest.name, f"{key}: stored object does not match the "
                                              f"manifest after copy")
        return meta

    def _hashing_copy(self, source: Store, src_key: str, dest: Store, key: str,
                      entry: FileEntry, progress: _Progress,
                      result: StoreResult) -> ObjectMeta:
        """Copy a file the source manifest has no hashes for yet, hashing it on the way
        (one read of the source). The destination's own checksum of what it stored must
        equal the digest of what was read, and the source object must still be the one
        listed (same size and fingerprint) afterwards: a file that changed during the
        copy is an error, never a published entry."""
        if not isinstance(dest, UnverifiedWriter):
            raise StoreError(dest.name, f"{key}: cannot store a file whose checksum is not "
                                        "known yet", hint="hash the source first")
        reader = HashingReader(source.open_read(src_key), self.limiter, progress.add_bytes)
        try:
            meta = dest.write_unverified(key, reader, entry.size)  # type: ignore[arg-type]
        finally:
            reader.close()
        d = reader.digest
        stored_crc = meta.crc32c if meta.crc32c is not None else _reread(dest, key).crc32c
        if meta.size != d.size or d.size != entry.size or stored_crc != d.crc32c:
            dest.delete(key)
            raise ChecksumMismatch(dest.name, f"{key}: stored {meta.size} bytes crc32c "
                                              f"{stored_crc}, read {d.size} bytes crc32c "
                                              f"{d.crc32c} (listed {entry.size})",
                                   hint="the source changed during the sync; run it again")
        now = source.stat(src_key, checksum=False)
        listed = self._listed(source, src_key)
        if now is None or listed is None or now.size != listed.size \
                or now.fingerprint != listed.fingerprint:
            dest.delete(key)
            raise ChecksumMismatch(source.name, f"{src_key}: changed while it was copied",
                                   hint="run the sync again when the source is stable")
        with progress.lock:
            result.hashed[entry.path] = FileEntry(entry.path, d.size, d.sha256, d.crc32c)
        return meta

    def _listed(self, source: Store, src_key: str) -> ObjectMeta | None:
        """The source listing's meta for ``src_key`` recorded by a provisional manifest."""
        with self._prefetch_lock:
            for (sid, model, version), (_old, listing) in self._deferred.items():
                prefix = mf.data_prefix(model, version) + "/"
                if sid == id(source) and src_key.startswith(prefix):
                    return listing.get(src_key[len(prefix):])
        return None

    def _resumable(self, dest: Store, entry: FileEntry) -> bool:
        return self._resumable_size(dest, entry.size)

    def _resumable_size(self, dest: Store, size: int) -> bool:
        return (self.opts.resume and isinstance(dest, ResumableStore)
                and dest.resumable_part_size(size) is not None)

    def _resume_upload(self, source: Store, src_key: str, dest: Store, key: str,
                       entry: FileEntry, progress: _Progress,
                       result: StoreResult) -> ObjectMeta:
        """A large file through a journaled session: parts stored by an earlier attempt
        (this run's or a killed one's) are not sent again. Verified by the store against
        the manifest's full-object CRC32C."""
        assert isinstance(dest, ResumableStore)

        def open_source(start: int, end: int) -> ReadStream:
            return _Metered(source.open_read(src_key, start, end), self.limiter,
                            progress.add_bytes)

        def on_session(kind: str, held: int) -> None:
            if kind != "fresh" or held:
                self.events.emit({"event": "resume", "store": dest.name, "key": key,
                                  "session": kind, "held_bytes": held})

        def on_part(p: PartSent) -> None:
            self.events.emit({"event": "part", "store": dest.name, "key": key,
                              "part": p.index, "offset": p.start, "bytes": p.size,
                              "resumed": p.resumed})
            if self.opts.on_part is not None:
                self.opts.on_part(p)

        out = resumable_upload(dest, key, entry.size, entry.crc32c, entry.sha256, open_source,
                               self.journal, on_part=on_part, on_session=on_session)
        with progress.lock:
            result.bytes_resumed += out.resumed_from
        meta = out.meta
        if meta.size != entry.size or (meta.crc32c is not None
                                       and meta.crc32c != entry.crc32c):
            dest.delete(key)
            raise ChecksumMismatch(dest.name, f"{key}: stored object does not match the "
                                              f"manifest after upload")
        return meta

    def _finish(self, dest: Store, r: StoreResult, m: Manifest, plan: Plan,
                listing: dict[str, ObjectMeta], verified: dict[str, str]) -> None:
        if not plan.publish:
            return
        skipped = _skipped(plan, listing)
        missing = [f.path for f in m.files if f.path not in verified and f.path not in skipped]
        if m.provisional:
            missing += [f.path for f in m.files if f.pending and f.path not in missing]
            if not r.errors:
                r.errors.append(f"{missing[0]}: not hashed; version not published")
            return  # no receipt either: its entries would have no hashes
        if missing and not r.errors:
            # Never publish a version without a file the source listed.
            r.errors.append(f"{missing[0]}: not copied or verified; version not published"
                            + (f" ({len(missing) - 1} more files missing)"
                               if len(missing) > 1 else ""))
            self.events.emit({"event": "failed", "store": dest.name, "path": missing[0],
                              "error": r.errors[-1]})
        try:
            if r.errors:
                # Keep what was verified so a resume does not check it again; no manifest.
                self._write_receipt(dest, m, skipped, verified)
                return
            self._write_receipt(dest, m, skipped, verified)
            self._retry(lambda: dest.write_bytes(mf.manifest_key(m.model, m.version),
                                                 m.to_json()))
        except StoreError as exc:
            r.errors.append(str(exc))
            self.events.emit({"event": "failed", "store": dest.name, "error": str(exc)})
            return
        r.published = True
        r.manifest = m
        self.events.emit({"event": "published", "store": dest.name, "model": m.model,
                          "version": m.version, "identity": m.identity})

    # ---- fan-out -----------------------------------------------------------------------
    def fanout(self, origin: Store, model: str, version: str, targets: Sequence[Store],
               *, relay: bool | None = None) -> tuple[FanoutPlan, list[StoreResult]]:
        """origin -> one relay per region -> edges; each stage published before the next.

        The first stage's destinations are read (manifest, receipt, listing) while the
        source manifest loads, so a no-op costs the slower listing, not the sum."""
        by_name = {s.name: s for s in [origin, *targets]}
        info = {s.name: StoreInfo(s.name, s.region, bool(getattr(getattr(s, "cfg", None),
                                                                  "edge", False)),
                                  s.copy_domain) for s in by_name.values()}
        plan = plan_fanout(info[origin.name], [info[t.name] for t in targets],
                           relay=self.opts.relay if relay is None else relay)
        first = [by_name[h.dest] for h in (plan.stages[0] if plan.stages else ())
                 if h.source == origin.name and h.dest != origin.name]
        keys = [(id(d), model, version) for d in first]
        with ThreadPoolExecutor(max_workers=max(1, len(first)),
                                thread_name_prefix="fedctl-prefetch") as pre:
            with self._prefetch_lock:
                for d, k in zip(first, keys, strict=True):
                    self._prefetched[k] = pre.submit(self.dest_state, d, model, version)
            try:
                return self._fanout(origin, model, version, targets, plan, by_name)
            finally:
                with self._prefetch_lock:
                    for k in keys:
                        self._prefetched.pop(k, None)
                    self._deferred.pop((id(origin), model, version), None)

    def _fanout(self, origin: Store, model: str, version: str, targets: Sequence[Store],
                plan: FanoutPlan, by_name: dict[str, Store],
                ) -> tuple[FanoutPlan, list[StoreResult]]:
        first = plan.stages[0] if plan.stages else ()
        # Files new or changed at the origin are hashed while the first stage copies
        # them (one read per copy, streamed even where a server-side copy was possible)
        # when every first hop goes into a store that reports the checksum of what it
        # stored (``UnverifiedWriter``); else they are hashed first.
        # Files that go through a resumable (journaled) upload are hashed first: the
        # session is keyed and verified by their hashes.
        stream_all = bool(first) and not self.opts.dry_run and all(
            h.source == origin.name and h.dest != origin.name
            and isinstance(by_name[h.dest], UnverifiedWriter) for h in first)
        dests = [by_name[h.dest] for h in first]

        def defer(meta: ObjectMeta) -> bool:
            return stream_all and not any(self._resumable_size(d, meta.size) for d in dests)

        m = self.source_manifest(origin, model, version, defer=defer)
        self.events.emit({"event": "fanout", "relays": dict(plan.relays),
                          "stages": [[{"from": h.source, "to": h.dest,
                                       "server_side": h.server_side} for h in st]
                                     for st in plan.stages]})
        results: dict[str, StoreResult] = {}
        failed: set[str] = set()
        for stage in plan.stages:
            groups: dict[str, list[Store]] = {}
            for hop in stage:
                if hop.source in failed:
                    r = StoreResult(hop.dest, errors=[f"relay {hop.source} failed"])
                    results[hop.dest] = r
                    failed.add(hop.dest)
                    continue
                groups.setdefault(hop.source, []).append(by_name[hop.dest])
            with ThreadPoolExecutor(max_workers=max(1, len(groups))) as outer:
                futs = {src: outer.submit(self.sync, by_name[src], m, dsts)
                        for src, dsts in groups.items()}
                for fut in futs.values():
                    for r in fut.result():
                        results[r.store] = r
                        if not r.ok or (not r.published and r.plan is not None
                                        and r.plan.publish and not self.opts.dry_run):
                            failed.add(r.store)
            if m.provisional:
                m = self._sealed_after_copy(origin, m, [results[h.dest] for h in stage
                                                         if h.dest in results],
                                            more=stage is not plan.stages[-1])
            if self.opts.dry_run:
                break
        return plan, [results[t.name] for t in targets if t.name in results]

    def _sealed_after_copy(self, origin: Store, provisional: Manifest,
                           results: Sequence[StoreResult], *, more: bool) -> Manifest:
        """The manifest the first stage published, sealed on the origin. When no store
        published it, nothing is sealed; if ``more`` stages follow, the origin's files
        are then hashed the usual way (a later stage's relays failed anyway, but hops
        straight from the origin need a manifest)."""
        final = next((r.manifest for r in results if r.manifest is not None), None)
        if final is None:
            with self._prefetch_lock:
                _old, listing = self._deferred.pop(
                    (id(origin), provisional.model, provisional.version), (None, {}))
            resolved, _differ = _agreed(provisional, results)
            if resolved and self.opts.seal_source:
                # Remember what the copies hashed, so a re-run does not copy those again.
                self._retry(lambda: origin.write_bytes(
                    mf.receipt_key(provisional.model, provisional.version),
                    Receipt(identity="", hashed=resolved, files={
                        e.path: (e.sha256, listing[e.path].fingerprint)
                        for e in [*provisional.files, *resolved.values()]
                        if not e.pending and e.path in listing}).to_json()))
            if not more:
                return provisional
            return self.source_manifest(origin, provisional.model, provisional.version)
        self.seal(origin, provisional, final)
        return final

    # ---- retention ---------------------------------------------------------------------
    def versions(self, store: Store, model: str) -> list[Manifest]:
        prefix = mf.manifests_prefix(model) + "/"
        out = []
        for meta in self._retry(lambda: list(store.list(prefix))):
            if not meta.key.endswith(".json"):
                continue
            version = meta.key[len(prefix):-len(".json")]
            if "/" in version:
                continue
            m = self.read_manifest(store, model, version)
            if m is not None:
                out.append(m)
        return out

    def apply_retention(self, store: Store, model: str, keep: int,
                        in_use: Iterable[str]) -> list[str]:
        found = self.versions(store, model)
        doomed = versions_to_delete([(m.version, m.created) for m in found], keep,
                                    set(in_use))
        for v in doomed:
            if self.opts.dry_run:
                continue
            self.delete_version(store, model, v)
            self.events.emit({"event": "deleted-version", "store": store.name,
                              "model": model, "version": v})
        return doomed

    def delete_version(self, store: Store, model: str, version: str) -> None:
        """Unpublish first (manifest), then the files, then the receipt."""
        self._retry(lambda: store.delete(mf.manifest_key(model, version)))
        prefix = mf.data_prefix(model, version) + "/"
        metas = self._retry(lambda: list(store.list(prefix)))
        with self._pool() as pool:
            list(pool.map(lambda meta: self._retry(lambda: store.delete(meta.key)), metas))
        self._retry(lambda: store.delete(mf.receipt_key(model, version)))


def _reread(store: Store, key: str) -> Digest:
    d = Digest()
    s = store.open_read(key)
    try:
        while buf := s.read(_BUF):
            d.update(buf)
    finally:
        s.close()
    return d


def _agreed(m: Manifest, results: Sequence[StoreResult]) -> tuple[dict[str, FileEntry],
                                                                   set[str]]:
    """Entries hashed for the pending files of ``m`` on which every copy agrees, and the
    paths whose copies differ."""
    resolved: dict[str, FileEntry] = {}
    differ: set[str] = set()
    for f in m.files:
        if not f.pending:
            continue
        seen = {r.hashed[f.path] for r in results if f.path in r.hashed}
        if len(seen) > 1:
            differ.add(f.path)
        elif seen:
            resolved[f.path] = seen.pop()
    return resolved, differ


def _complete(m: Manifest, results: Sequence[StoreResult]) -> Manifest:
    """The manifest of a provisional ``m`` from the entries its copies hashed. Copies of
    one file to several stores must agree (each read the source once); a file whose
    copies disagree is an error on every store that holds one. While a pending file has
    no entry (all its copies failed), ``m`` stays provisional and nothing publishes."""
    resolved, differ = _agreed(m, results)
    for r in results:
        for path in sorted(differ & set(r.hashed)):
            r.errors.append(f"{path}: the source changed during the sync (copies differ); "
                            "run it again")
    files = [resolved.get(f.path, f) for f in m.files]
    return Manifest.build(m.model, m.version, files, m.created)


def _skipped(plan: Plan, listing: dict[str, ObjectMeta]) -> dict[str, ObjectMeta]:
    return {a.path: listing[a.path] for a in plan.actions
            if a.kind is Kind.SKIP and a.path in listing}
