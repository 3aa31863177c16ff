"""Part-level resume: the session journal and the driver, against in-memory stores."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.checksums import Digest
from distributors.errors import ChecksumMismatch, RetryableStoreError
from distributors.progress import RecordingEvents
from distributors.resume import (
    Journal,
    JournalEntry,
    PartSent,
    ResumableStore,
    SessionId,
    upload,
)
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version

from .fakes import MemoryStore, ResumableMemoryStore, flaky

DATA = os.urandom(300)  # 10 parts of 32 bytes at the fakes' part size (last one 12)
SHA = Digest()
SHA.update(DATA)


class Crash(Exception):
    """Stands in for a SIGKILL between two parts."""


def _crash_after(n: int) -> tuple[list[PartSent], object]:
    seen: list[PartSent] = []

    def hook(p: PartSent) -> None:
        seen.append(p)
        if len(seen) == n:
            raise Crash(f"crash after {n} parts")
    return seen, hook


def _opener(src: MemoryStore, key: str) -> object:
    ranges: list[tuple[int, int]] = []

    def open_source(start: int, end: int) -> object:
        ranges.append((start, end))
        return src.open_read(key, start, end)
    open_source.ranges = ranges  # type: ignore[attr-defined]
    return open_source


def _src() -> MemoryStore:
    s = MemoryStore("src")
    s.put("k", DATA)
    return s


def _upload(dest: ResumableMemoryStore, journal: Journal, src: MemoryStore,
            hook: object = None, data_sha: str = SHA.sha256) -> object:
    return upload(dest, "k", len(DATA), SHA.crc32c, data_sha, _opener(src, "k"),  # type: ignore[arg-type]
                  journal, on_part=hook)  # type: ignore[arg-type]


# ---- journal ---------------------------------------------------------------------------
def test_journal_round_trip_is_private_and_keyed_by_content(tmp_path: Path) -> None:
    j = Journal(tmp_path / "t")
    dest = ResumableMemoryStore("dst")
    sid = SessionId.of(dest, "m/v1/w.bin", "a" * 64)
    entry = JournalEntry(100, 32, {"url": "https://secret-session"}, time.time())
    j.save(sid, entry)
    assert j.load(sid) == entry
    [p] = j.entries()
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o700
    assert "secret" not in p.name  # the file name is a hash, not the session
    assert j.load(SessionId.of(dest, "m/v1/w.bin", "b" * 64)) is None  # other content
    assert j.load(SessionId.of(ResumableMemoryStore("other"), "m/v1/w.bin", "a" * 64)) is None
    j.drop(sid)
    assert j.entries() == []


def test_journal_drops_corrupt_and_expired_entries(tmp_path: Path) -> None:
    now = [1_000_000.0]
    j = Journal(tmp_path, max_age=100, clock=lambda: now[0])
    sid = SessionId.of(ResumableMemoryStore("dst"), "k", "a" * 64)
    (tmp_path / sid.filename).write_text("{not json")
    assert j.load(sid) is None and j.entries() == []
    (tmp_path / sid.filename).write_text(json.dumps({"v": 1, "id": ["x", "y", "z"],
                                                     "size": 1, "part_size": 1,
                                                     "session": {}, "created": now[0]}))
    assert j.load(sid) is None and j.entries() == []  # a hash collision is not trusted
    j.save(sid, JournalEntry(1, 1, {}, now[0]))
    now[0] += 101
    assert j.load(sid) is None and j.entries() == []


# ---- driver ----------------------------------------------------------------------------
@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("query", [True, False])
def test_crash_after_parts_resumes_only_missing_parts(tmp_path: Path, sequential: bool,
                                                      query: bool) -> None:
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst", sequential=sequential, query=query)
    assert isinstance(dest, ResumableStore)
    _, hook = _crash_after(4)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook)
    assert "k" not in dest.objects  # nothing visible before completion
    assert len(j.entries()) == 1
    first_sent = sum(e - s for s, e in dest.sent)
    dest.sent.clear()
    opener_src = _src()
    out = _upload(dest, j, opener_src)
    resent = sum(e - s for s, e in dest.sent)
    assert out.resumed_from == first_sent == 4 * 32  # type: ignore[attr-defined]
    assert resent == len(DATA) - first_sent < len(DATA)
    assert opener_src.bytes_read == resent  # ranged reads from the offsets only
    assert dest.objects["k"][0] == DATA
    assert dest.started == 1 and j.entries() == []


def test_failure_during_a_part_without_status_query_resends_only_that_part(
        tmp_path: Path) -> None:
    """A request in flight at a failure (or kill) is lost, nothing before it: the next
    attempt continues at the last offset the store confirmed."""
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst", sequential=True, query=False)
    _, hook = _crash_after(3)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook)
    dest.fail_writes["k"] = flaky(1)  # the 4th request dies in flight
    with pytest.raises(RetryableStoreError):
        _upload(dest, j, src)
    dest.sent.clear()
    events: list[tuple[str, int]] = []
    upload(dest, "k", len(DATA), SHA.crc32c, SHA.sha256, _opener(src, "k"), j,  # type: ignore[arg-type]
           on_session=lambda kind, held: events.append((kind, held)))
    assert events == [("resumed", 3 * 32)]
    assert sum(e - s for s, e in dest.sent) == len(DATA) - 3 * 32
    assert dest.started == 1 and dest.aborted == [] and dest.objects["k"][0] == DATA


def test_resent_bytes_the_store_already_held_fail_verification_and_start_afresh(
        tmp_path: Path) -> None:
    """If the store had kept the in-flight request after all, resending it corrupts the
    session: the full-object CRC32C check catches it and a fresh upload follows."""
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst", sequential=True, query=False)
    _, hook = _crash_after(2)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook)
    [path] = j.entries()
    session = json.loads(path.read_text())["session"]
    assert session["confirmed"] == 64
    # The store kept bytes the journal does not know of (fake-gcs-server appends a
    # resent request to what it holds).
    dest.sessions[session["id"]][65] = DATA[32:64]
    with pytest.raises(RetryableStoreError, match="starting afresh"):
        _upload(dest, j, src)
    assert j.entries() == [] and "k" not in dest.objects
    _upload(dest, j, src)
    assert dest.objects["k"][0] == DATA and dest.started == 2


def test_expired_session_falls_back_to_a_fresh_upload(tmp_path: Path) -> None:
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst")
    _, hook = _crash_after(2)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook)
    dest.forget()
    out = _upload(dest, j, src)
    assert out.resumed_from == 0 and dest.started == 2  # type: ignore[attr-defined]
    assert dest.objects["k"][0] == DATA and j.entries() == []


def test_session_lost_mid_upload_is_retryable_and_forgotten(tmp_path: Path) -> None:
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst")

    def hook(p: PartSent) -> None:
        dest.forget()
    with pytest.raises(RetryableStoreError, match="session lost"):
        _upload(dest, j, src, hook)
    assert j.entries() == []


def test_other_content_never_reuses_a_session(tmp_path: Path) -> None:
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst")
    _, hook = _crash_after(2)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook, data_sha="0" * 64)
    out = _upload(dest, j, src)
    assert out.resumed_from == 0 and dest.started == 2  # type: ignore[attr-defined]


def test_resumed_parts_that_fail_verification_are_dropped(tmp_path: Path) -> None:
    src, j = _src(), Journal(tmp_path)
    dest = ResumableMemoryStore("dst")
    _, hook = _crash_after(2)
    with pytest.raises(Crash):
        _upload(dest, j, src, hook)
    [parts] = dest.sessions.values()
    parts[0] = b"x" * 32  # an earlier run stored bad bytes
    with pytest.raises(RetryableStoreError, match="verification"):
        _upload(dest, j, src)
    assert j.entries() == [] and dest.aborted == ["s1"] and "k" not in dest.objects
    _upload(dest, j, src)
    assert dest.objects["k"][0] == DATA


def test_fresh_upload_of_wrong_bytes_is_a_checksum_mismatch(tmp_path: Path) -> None:
    src, j = MemoryStore("src"), Journal(tmp_path)
    src.put("k", os.urandom(len(DATA)))  # the source changed after the manifest
    with pytest.raises(ChecksumMismatch):
        _upload(ResumableMemoryStore("dst"), j, src)
    assert j.entries() == []


# ---- through the Syncer ----------------------------------------------------------------
def test_syncer_resumes_large_files_and_publishes_after_verification(tmp_path: Path) -> None:
    src = MemoryStore("origin")
    files = {"big.bin": DATA, "small.txt": b"hello"}
    for p, d in files.items():
        src.put(mf.data_key("m", "v1", p), d)
    dest = ResumableMemoryStore("dst")
    m = Syncer().source_manifest(src, "m", "v1")
    _, hook = _crash_after(3)
    opts = SyncOptions(transfers=2, retry_wait_max=0.0, resume_dir=tmp_path)
    [r] = Syncer(SyncOptions(transfers=2, retry_wait_max=0.0, resume_dir=tmp_path,
                             on_part=hook)).sync(src, m, [dest])  # type: ignore[arg-type]
    assert not r.ok and not r.published and dest.stat(mf.manifest_key("m", "v1")) is None
    dest.sent.clear()
    events = RecordingEvents()
    [r2] = Syncer(opts, events).sync(src, m, [dest])
    assert r2.ok and r2.published and r2.copied == ["big.bin"]
    assert r2.bytes_resumed == 3 * 32
    assert sum(e - s for s, e in dest.sent) == len(DATA) - 3 * 32
    [ev] = events.of("resume")
    assert ev["session"] == "resumed" and ev["held_bytes"] == 96
    assert all("id" not in e and "url" not in e for e in events.events)  # no session ids
    assert verify_version(dest, "m", "v1").ok


def test_syncer_retries_a_transient_part_failure_within_the_run(tmp_path: Path) -> None:
    src = MemoryStore("origin")
    src.put(mf.data_key("m", "v1", "big.bin"), DATA)
    dest = ResumableMemoryStore("dst", sequential=True)
    m = Syncer().source_manifest(src, "m", "v1")
    calls = [0]

    def hook(p: PartSent) -> None:
        calls[0] += 1
        if calls[0] == 5:
            raise RetryableStoreError("dst", "connection reset")
    [r] = Syncer(SyncOptions(retry_wait_max=0.0, resume_dir=tmp_path,
                             on_part=hook)).sync(src, m, [dest])
    assert r.ok and r.published
    assert sum(e - s for s, e in dest.sent) == len(DATA)  # the retry resent nothing twice
    assert dest.started == 1


def test_resume_disabled_uses_plain_writes(tmp_path: Path) -> None:
    src = MemoryStore("origin")
    src.put(mf.data_key("m", "v1", "big.bin"), DATA)
    dest = ResumableMemoryStore("dst")
    m = Syncer().source_manifest(src, "m", "v1")
    [r] = Syncer(SyncOptions(resume=False, resume_dir=tmp_path)).sync(src, m, [dest])
    assert r.ok and dest.started == 0 and dest.sent == []


def test_gcs_request_body_streams_exactly_its_length() -> None:
    import io

    from distributors.gcs import ShortSource, _range_end, _SizedBody

    body = _SizedBody(io.BytesIO(b"a" * 3_000_000), 2_500_000)
    assert len(body) == 2_500_000
    got = b""
    while chunk := body.read(8192):
        got += chunk
    assert len(got) == 2_500_000 and len(body) == 0
    short = _SizedBody(io.BytesIO(b"abc"), 10)
    assert short.read(2) == b"ab"
    assert short.read(5) == b"c"
    with pytest.raises(ShortSource):
        short.read(5)
    assert (_range_end("bytes=0-99"), _range_end(None)) == (100, 0)


def test_gcs_status_query_reads_the_servers_range() -> None:
    """The real-GCS path (no server here answers status queries correctly): 308 + Range
    is the held prefix, 200 a finished upload, 404/410 a lost session."""
    from types import SimpleNamespace

    from distributors.base import StoreConfig, TransferSettings
    from distributors.gcs import GcsStore
    from distributors.resume import Held, SessionGone

    store = GcsStore(StoreConfig("g", "gcs", bucket="b", endpoint="http://127.0.0.1:9"),
                     TransferSettings(gcs_status_query=True))
    sent: list[dict[str, str]] = []
    answers = [SimpleNamespace(status_code=308, headers={"Range": "bytes=0-262143"}),
               SimpleNamespace(status_code=308, headers={}),
               SimpleNamespace(status_code=200, headers={}),
               SimpleNamespace(status_code=410, headers={})]

    def request(method: str, url: str, **kw: object) -> object:
        sent.append(kw["headers"])  # type: ignore[arg-type]
        return answers.pop(0)
    store._client._http.request = request
    session = {"url": "https://example.invalid/upload?upload_id=x", "inflight": 0}
    assert store.resumable_held("k", session, 10 * 2**20, 2**20) == Held(offset=262144)
    assert store.resumable_held("k", session, 10 * 2**20, 2**20) == Held(offset=0)
    assert store.resumable_held("k", session, 10 * 2**20, 2**20) == Held(offset=10 * 2**20)
    with pytest.raises(SessionGone):
        store.resumable_held("k", session, 10 * 2**20, 2**20)
    assert sent[0] == {"Content-Range": f"bytes */{10 * 2**20}"}
    store.close()
