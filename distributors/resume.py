"""Part-level resume of large uploads: a journal of open upload sessions, and the driver.

A backend that can resume (``ResumableStore``: S3 multipart uploads, GCS resumable
sessions) opens a *session* for one object; its state (S3 ``UploadId``, GCS session URL)
and part size are written to a small JSON journal file under a local state directory,
keyed by destination store + object key + content SHA-256. When an interrupted upload is
retried (in the same run by tenacity, or by the next run after a kill) the driver loads the
journal, asks the store what it already holds (S3 ``ListParts``; a GCS status query, or the
journal's confirmed offset where the server cannot answer one), reads only the missing
ranges from the source (ranged reads from their offsets) and completes the upload, which
the store checks against the manifest's full-object CRC32C. A session the store no longer
knows (expired, aborted, already completed) is dropped and a fresh upload starts. The
journal entry is removed on completion.

Session URLs and upload ids are capabilities: they live only in the journal (mode 0600,
directory 0700) and are never logged or put in events. An unfinished session never makes
an object visible (S3 shows nothing before ``CompleteMultipartUpload``, GCS nothing before
the last byte), and the version's manifest is written after verification anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from distributors.base import ObjectMeta, ReadStream
from distributors.errors import ChecksumMismatch, RetryableStoreError, StoreError

JOURNAL_VERSION = 1
MAX_AGE = 7 * 24 * 3600.0  # GCS resumable sessions expire after a week


class SessionGone(StoreError):
    """The store no longer knows the upload session (expired, aborted or completed)."""


@dataclass(frozen=True, slots=True)
class Held:
    """What the store already holds of a session: a prefix of ``offset`` bytes (sequential
    stores) or a set of part indices on the part grid (stores with numbered parts)."""

    offset: int = 0
    parts: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class PartSent:
    """One part stored by the destination (the driver's seam for progress and tests)."""

    store: str
    key: str
    index: int
    start: int
    end: int  # exclusive
    total: int
    resumed: bool  # the session was recovered from the journal

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Outcome:
    meta: ObjectMeta
    resumed_from: int  # bytes the store already held when this attempt started
    sent: int  # bytes sent by this attempt
    parts_sent: int


@runtime_checkable
class ResumableStore(Protocol):
    """A store whose large uploads can continue after a crash."""

    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def copy_domain(self) -> str | None: ...
    def native_key(self, key: str) -> str: ...

    @property
    def resumable_sequential(self) -> bool:
        """True: bytes must arrive in order (GCS); False: numbered parts, any order (S3)."""
        ...

    @property
    def resumable_concurrency(self) -> int:
        """Parts in flight at once (1 for sequential stores)."""
        ...

    def resumable_part_size(self, size: int) -> int | None:
        """The part size for an object of ``size`` bytes, or None to use a plain upload."""
        ...

    def resumable_start(self, key: str, size: int, crc32c: str,
                        part_size: int) -> dict[str, Any]:
        """Open a session; the JSON-safe state returned is journaled."""
        ...

    def resumable_held(self, key: str, session: dict[str, Any], size: int,
                       part_size: int) -> Held | None:
        """What the store holds of ``session``; None if the session is unknown or its
        progress cannot be trusted (the driver then starts afresh)."""
        ...

    def resumable_put(self, key: str, session: dict[str, Any], index: int, start: int,
                      end: int, size: int, crc32c: str, stream: ReadStream) -> int:
        """Send bytes ``[start, end)`` (read from ``stream``) as part ``index``. Returns the
        offset the store confirms (sequential stores; may be < ``end``), else ``end``.
        Raises ``SessionGone`` when the store no longer knows the session."""
        ...

    def resumable_complete(self, key: str, session: dict[str, Any], size: int,
                           crc32c: str) -> ObjectMeta:
        """Finish the upload; the store checks the full-object CRC32C. Raises
        ``ChecksumMismatch`` (nothing published) when it does not match."""
        ...

    def resumable_abort(self, key: str, session: dict[str, Any]) -> None: ...


# ---- journal ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionId:
    store: str  # provider|copy domain|bucket: the same bucket through any store name
    key: str  # the backend's own key
    sha256: str  # the content being uploaded

    @staticmethod
    def of(store: ResumableStore, key: str, sha256: str) -> SessionId:
        return SessionId(f"{store.provider}|{store.copy_domain}|{store.bucket}",
                         store.native_key(key), sha256)

    @property
    def filename(self) -> str:
        h = hashlib.sha256(f"{self.store}\0{self.key}\0{self.sha256}".encode()).hexdigest()
        return f"{h[:32]}.json"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    size: int
    part_size: int
    session: dict[str, Any]
    created: float


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fedctl" / "transfers"


class Journal:
    """Open upload sessions, one small JSON file each (atomic replace, mode 0600)."""

    def __init__(self, root: Path | None = None, *, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root or default_state_dir()
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()

    def _path(self, sid: SessionId) -> Path:
        return self.root / sid.filename

    def load(self, sid: SessionId) -> JournalEntry | None:
        p = self._path(sid)
        try:
            data = json.loads(p.read_text())
            if (data.get("v") != JOURNAL_VERSION or data["id"] != [sid.store, sid.key,
                                                                   sid.sha256]):
                raise ValueError("journal entry for another object")
            entry = JournalEntry(int(data["size"]), int(data["part_size"]),
                                 dict(data["session"]), float(data["created"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            self.drop(sid)  # unreadable: start afresh
            return None
        if self._clock() - entry.created > self._max_age:
            self.drop(sid)
            return None
        return entry

    def save(self, sid: SessionId, entry: JournalEntry) -> None:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            p = self._path(sid)
            tmp = p.with_name(f".{p.name}.{threading.get_ident()}.tmp")
            body = json.dumps({"v": JOURNAL_VERSION, "id": [sid.store, sid.key, sid.sha256],
                               "size": entry.size, "part_size": entry.part_size,
                               "session": entry.session, "created": entry.created})
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(body)
            os.replace(tmp, p)

    def drop(self, sid: SessionId) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(sid).unlink()

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("*.json")) if self.root.is_dir() else []


# ---- driver ----------------------------------------------------------------------------
def upload(store: ResumableStore, key: str, size: int, crc32c: str, sha256: str,
           open_source: Callable[[int, int], ReadStream], journal: Journal, *,
           on_part: Callable[[PartSent], None] | None = None,
           on_session: Callable[[str, int], None] | None = None) -> Outcome:
    """Upload ``size`` bytes to ``key``, continuing a journaled session when there is one.

    ``open_source(start, end)`` streams bytes ``[start, end)`` of the source.
    ``on_session(kind, held_bytes)`` reports "resumed" / "fresh" / "stale".
    """
    part_size = store.resumable_part_size(size)
    if part_size is None:
        raise StoreError(store.name, f"{key}: not a resumable upload")
    sid = SessionId.of(store, key, sha256)
    entry = journal.load(sid)
    held: Held | None = None
    if entry is not None and entry.size == size:
        try:
            held = store.resumable_held(key, entry.session, size, entry.part_size)
        except SessionGone:
            held = None
        if held is None:
            if on_session:
                on_session("stale", 0)
            with contextlib.suppress(StoreError):
                store.resumable_abort(key, entry.session)
            journal.drop(sid)
    elif entry is not None:
        journal.drop(sid)
    if held is None or entry is None:
        session = store.resumable_start(key, size, crc32c, part_size)
        entry = JournalEntry(size, part_size, session, journal._clock())
        journal.save(sid, entry)
        held, resumed = Held(), False
    else:
        resumed = True
    part_size = entry.part_size
    held_bytes = _held_bytes(held, size, part_size)
    if on_session:
        on_session("resumed" if resumed else "fresh", held_bytes)
    counter = _Counter()

    def report(index: int, start: int, end: int) -> None:
        counter.add(end - start)
        if on_part:
            on_part(PartSent(store.name, key, index, start, end, size, resumed))

    try:
        if store.resumable_sequential:
            _sequential(store, key, sid, entry, held.offset, size, crc32c, open_source,
                        journal, report)
        else:
            _parallel(store, key, entry, held.parts, size, crc32c, open_source,
                      store.resumable_concurrency, report)
        meta = store.resumable_complete(key, entry.session, size, crc32c)
    except SessionGone as exc:
        journal.drop(sid)
        raise RetryableStoreError(store.name, f"{key}: upload session lost; starting "
                                              "afresh") from exc
    except ChecksumMismatch:
        with contextlib.suppress(StoreError):
            store.resumable_abort(key, entry.session)
        journal.drop(sid)
        if resumed:  # parts from an earlier run disagree: one fresh attempt may succeed
            raise RetryableStoreError(store.name, f"{key}: resumed upload failed "
                                                  "verification; starting afresh") from None
        raise
    journal.drop(sid)
    return Outcome(meta, held_bytes, counter.bytes, counter.parts)


def _held_bytes(held: Held, size: int, part_size: int) -> int:
    if held.offset:
        return held.offset
    return sum(min(part_size, size - i * part_size) for i in held.parts)


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = self.parts = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            self.parts += 1


def _sequential(store: ResumableStore, key: str, sid: SessionId, entry: JournalEntry,
                offset: int, size: int, crc32c: str,
                open_source: Callable[[int, int], ReadStream], journal: Journal,
                report: Callable[[int, int, int], None]) -> None:
    """One request per part, in order; the journal records the offset the store confirmed
    after each request (and the part in flight), so a kill loses at most one part."""
    session = entry.session
    while offset < size:
        end = min(offset + entry.part_size, size)
        session["inflight"] = offset
        journal.save(sid, entry)
        stream = open_source(offset, end)
        try:
            confirmed = store.resumable_put(key, session, offset // entry.part_size, offset,
                                            end, size, crc32c, stream)
        finally:
            stream.close()
        session["confirmed"] = confirmed
        session["inflight"] = None
        journal.save(sid, entry)
        if confirmed <= offset:
            raise RetryableStoreError(store.name, f"{key}: store confirmed no progress")
        report(offset // entry.part_size, offset, confirmed)
        offset = confirmed


def _parallel(store: ResumableStore, key: str, entry: JournalEntry, held: frozenset[int],
              size: int, crc32c: str, open_source: Callable[[int, int], ReadStream],
              concurrency: int, report: Callable[[int, int, int], None]) -> None:
    """Missing parts of the grid, ``concurrency`` at a time."""
    ps = entry.part_size
    missing = [i for i in range(max(1, -(-size // ps))) if i not in held]

    stop = threading.Event()  # after the first failure no new part starts

    def one(i: int) -> None:
        if stop.is_set():
            return
        try:
            start, end = i * ps, min((i + 1) * ps, size)
            stream = open_source(start, end)
            try:
                store.resumable_put(key, entry.session, i, start, end, size, crc32c, stream)
            finally:
                stream.close()
            report(i, start, end)
        except BaseException:
            stop.set()
            raise

    if not missing:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(missing))),
                            thread_name_prefix="fedctl-part") as pool:
        futures = [pool.submit(one, i) for i in missing]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            wait(futures)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
