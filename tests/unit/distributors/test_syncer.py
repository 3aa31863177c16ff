"""The sync engine against in-memory stores: resume, retries, verification, publish order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.base import StoreConfig
from distributors.errors import AccessDenied, ManifestError, StoreError, UnsafeKey
from distributors.localfs import FileStore
from distributors.progress import RecordingEvents
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version

from .fakes import MemoryStore, flaky

FAST = SyncOptions(transfers=4, retry_wait_max=0.0)


def _origin(files: dict[str, bytes], name: str = "origin", **kw: object) -> MemoryStore:
    s = MemoryStore(name, **kw)  # type: ignore[arg-type]
    for p, d in files.items():
        s.put(mf.data_key("m", "v1", p), d)
    return s


FILES = {f"f{i}.bin": os.urandom(100 + i) for i in range(6)}


def test_sync_copies_verifies_and_publishes_manifest_last() -> None:
    src, dst = _origin(FILES), MemoryStore("dst")
    events = RecordingEvents()
    sy = Syncer(FAST, events)
    m = sy.source_manifest(src, "m", "v1")
    assert src.read_bytes(mf.manifest_key("m", "v1")) == m.to_json()  # sealed
    [r] = sy.sync(src, m, [dst])
    assert r.ok and r.published and sorted(r.copied) == sorted(FILES)
    keys = list(dst.objects)
    assert keys[-1] == mf.manifest_key("m", "v1")  # written last
    assert verify_version(dst, "m", "v1").ok
    [again] = Syncer(FAST).sync(src, m, [dst])
    assert (again.copied, again.published) == ([], False)


def test_failed_file_blocks_publish_and_resume_copies_only_the_rest() -> None:
    src, dst = _origin(FILES), MemoryStore("dst")
    dst.fail_writes["f3.bin"] = [AccessDenied("dst", "denied")]  # not retryable
    m = Syncer(FAST).source_manifest(src, "m", "v1")
    [r] = Syncer(FAST).sync(src, m, [dst])
    assert not r.ok and not r.published
    assert dst.stat(mf.manifest_key("m", "v1")) is None
    assert len(dst.writes) == 5
    dst.writes.clear()
    [r2] = Syncer(FAST).sync(src, m, [dst])
    assert r2.ok and r2.published and r2.copied == ["f3.bin"]
    assert dst.writes == [mf.data_key("m", "v1", "f3.bin")]


def test_retries_only_retryable_errors() -> None:
    src, dst = _origin(FILES), MemoryStore("dst")
    dst.fail_writes["f1.bin"] = flaky(2)
    m = Syncer(FAST).source_manifest(src, "m", "v1")
    [r] = Syncer(FAST).sync(src, m, [dst])
    assert r.ok and dst.fail_writes["f1.bin"] == []
    dst2 = MemoryStore("dst2")
    dst2.fail_writes["f1.bin"] = flaky(5)
    [r2] = Syncer(SyncOptions(retries=3, retry_wait_max=0.0)).sync(src, m, [dst2])
    assert not r2.ok and len(dst2.fail_writes["f1.bin"]) == 2  # 3 attempts used


def test_source_changed_during_copy_is_not_published() -> None:
    src, dst = _origin(FILES), MemoryStore("dst")
    m = Syncer(FAST).source_manifest(src, "m", "v1")
    src.put(mf.data_key("m", "v1", "f2.bin"), b"x" * len(FILES["f2.bin"]))
    [r] = Syncer(FAST).sync(src, m, [dst])
    assert not r.ok and "f2.bin" in r.errors[0] and not r.published
    assert dst.stat(mf.data_key("m", "v1", "f2.bin")) is None


def test_server_side_copy_in_the_same_domain() -> None:
    src = _origin(FILES, domain="s3|x")
    dst = MemoryStore("dst", domain="s3|x")
    m = Syncer(FAST).source_manifest(src, "m", "v1")
    src.bytes_read = 0
    [r] = Syncer(FAST).sync(src, m, [dst])
    assert sorted(r.server_side) == sorted(FILES) and r.copied == []
    assert src.bytes_read == 0


def test_fanout_reads_origin_once_per_region() -> None:
    src = _origin({"w.bin": os.urandom(1000)})
    edges = [MemoryStore(f"{reg}-{i}", region=reg, edge=True, domain=f"{reg}{i}")
             for reg in ("eu", "ap") for i in range(4)]
    sy = Syncer(FAST)
    sy.source_manifest(src, "m", "v1")
    src.bytes_read = 0
    plan, results = sy.fanout(src, "m", "v1", edges)
    assert all(r.published for r in results)
    assert src.bytes_read == 2 * 1000
    assert plan.origin_reads == 2


def test_stores_without_checksums_are_checked_by_rereading() -> None:
    src, dst = _origin(FILES), MemoryStore("disk", with_crc=False)
    m = Syncer(FAST).source_manifest(src, "m", "v1")
    Syncer(FAST).sync(src, m, [dst])
    dst.objects.pop(mf.receipt_key("m", "v1"))  # no receipt: content must be re-read
    dst.writes.clear()
    [r] = Syncer(FAST).sync(src, m, [dst])
    assert sorted(r.checked) == sorted(FILES) and r.copied == [] and dst.writes == []
    key = mf.data_key("m", "v1", "f4.bin")
    dst.put(key, b"\0" * len(FILES["f4.bin"]))  # same-size damage
    report = verify_version(dst, "m", "v1")
    assert [c.path for c in report.problems] == ["f4.bin"]
    [r2] = Syncer(FAST).sync(src, m, [dst])
    assert r2.copied == ["f4.bin"] and verify_version(dst, "m", "v1").ok


def test_dry_run_changes_nothing() -> None:
    src, dst = _origin(FILES), MemoryStore("dst")
    events = RecordingEvents()
    sy = Syncer(SyncOptions(dry_run=True), events)
    m = sy.source_manifest(src, "m", "v1")
    sy.sync(src, m, [dst])
    assert dst.objects == {} and mf.manifest_key("m", "v1") not in src.objects
    assert events.of("plan")[0]["copy"] == len(FILES)


def test_missing_version_is_a_clear_error() -> None:
    with pytest.raises(ManifestError, match="no model version m/v9"):
        Syncer(FAST).source_manifest(MemoryStore("s"), "m", "v9")


def test_file_store_never_follows_links_out_of_its_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "m" / "v1").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "m" / "v1" / "ok.bin").write_bytes(b"ok")
    (root / "m" / "v1" / "leak").symlink_to(outside / "secret")
    (root / "m" / "escape").symlink_to(outside)
    store = FileStore(StoreConfig("disk", "file", root=str(root)))
    # A link out of the root is an error naming it, never a file silently left out.
    with pytest.raises(StoreError, match=r"m/v1/leak: symbolic link .* outside"):
        list(store.list("m/v1/"))
    with pytest.raises(UnsafeKey):
        store.read_bytes("m/v1/leak")
    with pytest.raises(UnsafeKey):
        store.write_bytes("m/escape/new", b"x")
    assert not (outside / "new").exists()
    with pytest.raises(UnsafeKey):
        store.read_bytes("../outside/secret")


def test_fanout_noop_reads_destination_during_source_load_and_still_sees_damage() -> None:
    src, dst = _origin(FILES), MemoryStore("disk", with_crc=False)
    sy = Syncer(FAST)
    _, [first] = sy.fanout(src, "m", "v1", [dst])
    assert first.published and sorted(first.copied) == sorted(FILES)
    dst.writes.clear()
    _, [noop] = sy.fanout(src, "m", "v1", [dst])  # prefetched state, receipt fingerprints
    assert (noop.copied, noop.checked, noop.published, dst.writes) == ([], [], False, [])
    assert sy._prefetched == {}  # nothing kept for a later run
    dst.put(mf.data_key("m", "v1", "f2.bin"), b"\0" * len(FILES["f2.bin"]))  # same size
    _, [fixed] = sy.fanout(src, "m", "v1", [dst])
    assert fixed.copied == ["f2.bin"] and fixed.published
    assert verify_version(dst, "m", "v1").ok
