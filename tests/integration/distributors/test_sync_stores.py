"""Acceptance: verified copies between real S3 (MinIO), GCS (fake-gcs-server) and disks."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pytest

from distributors import manifest as mf
from distributors.errors import ObjectNotFound
from distributors.progress import RecordingEvents
from distributors.store import Store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version

from .conftest import put_files, read_file

BIG = 12 * 1024 * 1024 + 123  # three 5 MiB parts / resumable chunks


def _version(seed: int) -> dict[str, bytes]:
    rnd = os.urandom
    files = {"weights/model-00001.safetensors": rnd(BIG),
             "config.json": b'{"seed": %d}' % seed,
             "tokenizer/vocab.txt": rnd(4096)}
    files.update({f"shards/s{i}.bin": rnd(1000 + i) for i in range(5)})
    return files


@pytest.mark.parametrize(("src", "dst", "server_side"), [
    ("s3-a", "gcs-a", False),
    ("gcs-a", "s3-a", False),
    ("s3-a", "s3-mirror", True),
    ("disk-a", "s3-a", False),
    ("gcs-a", "disk-a", False),
])
def test_copy_between_stores_is_verified(stores: dict[str, Store], model: str, src: str,
                                         dst: str, server_side: bool) -> None:
    files = _version(1)
    put_files(stores[src], model, "v1", files)
    events = RecordingEvents()
    sy = Syncer(SyncOptions(transfers=4), events)
    m = sy.source_manifest(stores[src], model, "v1")
    [result] = sy.sync(stores[src], m, [stores[dst]])

    assert result.ok, result.errors
    assert result.published
    moved = result.server_side if server_side else result.copied
    assert sorted(moved) == sorted(files)
    assert (result.copied if server_side else result.server_side) == []
    report = verify_version(stores[dst], model, "v1")
    assert report.ok, report.problems
    # The destination's bytes are the source's, and its manifest is the source's.
    for path, data in files.items():
        assert read_file(stores[dst], model, "v1", path) == data
    assert stores[dst].read_bytes(mf.manifest_key(model, "v1")) == m.to_json()
    # The source was sealed: its manifest describes exactly what was uploaded.
    assert {f.path: f.size for f in m.files} == {p: len(d) for p, d in files.items()}


def test_same_size_change_is_copied_and_unchanged_files_are_not(
        stores: dict[str, Store], model: str) -> None:
    s3, gcs = stores["s3-a"], stores["gcs-a"]
    files = _version(2)
    put_files(s3, model, "v1", files)
    sy = Syncer(SyncOptions(transfers=4))
    first = sy.sync(s3, sy.source_manifest(s3, model, "v1"), [gcs])[0]
    assert first.ok and first.published

    # Re-upload the multipart weights file with different bytes of the same size (its
    # ETag shape and size stay the same: the case size/ETag comparisons miss).
    changed = bytearray(files["weights/model-00001.safetensors"])
    changed[BIG // 2] ^= 0xFF
    s3.write(mf.data_key(model, "v1", "weights/model-00001.safetensors"),
             io.BytesIO(bytes(changed)), BIG, _crc(bytes(changed)))

    events = RecordingEvents()
    sy2 = Syncer(SyncOptions(transfers=4), events)
    m2 = sy2.source_manifest(s3, model, "v1")
    second = sy2.sync(s3, m2, [gcs])[0]
    assert second.ok
    assert second.copied == ["weights/model-00001.safetensors"]
    assert read_file(gcs, model, "v1", "weights/model-00001.safetensors") == bytes(changed)
    assert verify_version(gcs, model, "v1").ok

    # Nothing changed since: nothing is copied, checked or published.
    third = Syncer().sync(s3, Syncer().source_manifest(s3, model, "v1"), [gcs])[0]
    assert (third.copied, third.checked, third.published) == ([], [], False)


def test_corrupted_destination_is_detected_by_verify_and_repaired_by_sync(
        stores: dict[str, Store], model: str) -> None:
    s3, gcs, disk = stores["s3-a"], stores["gcs-a"], stores["disk-a"]
    files = _version(3)
    put_files(s3, model, "v1", files)
    sy = Syncer(SyncOptions(transfers=4))
    m = sy.source_manifest(s3, model, "v1")
    assert all(r.ok for r in sy.sync(s3, m, [gcs, disk]))

    # Bit rot on the GCS copy (same size) and on the disk copy (in place, same size and
    # the old modification time restored).
    bad = bytearray(files["tokenizer/vocab.txt"])
    bad[7] ^= 1
    gcs.write_bytes(mf.data_key(model, "v1", "tokenizer/vocab.txt"), bytes(bad))
    path = disk.root / mf.data_key(model, "v1", "shards/s3.bin")  # type: ignore[attr-defined]
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"\x00\x01\x02")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    for store, broken in ((gcs, "tokenizer/vocab.txt"), (disk, "shards/s3.bin")):
        report = verify_version(store, model, "v1")
        assert [(c.path, c.status) for c in report.problems] == [(broken, "checksum-mismatch")]

    results = Syncer(SyncOptions(transfers=4)).sync(s3, m, [gcs, disk])
    assert [r.copied for r in results] == [["tokenizer/vocab.txt"], ["shards/s3.bin"]]
    for store in (gcs, disk):
        assert verify_version(store, model, "v1", deep=True).ok


def test_retention_keeps_newest_and_in_use(stores: dict[str, Store], model: str) -> None:
    disk, gcs = stores["disk-a"], stores["gcs-a"]
    stamps = iter(["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"])
    for v in ("v1", "v2", "v3"):
        put_files(disk, model, v, {"w.bin": os.urandom(100)})
        sy = Syncer(SyncOptions(now=_const(next(stamps))))
        assert sy.sync(disk, sy.source_manifest(disk, model, v), [gcs])[0].published
    deleted = Syncer().apply_retention(gcs, model, keep=1, in_use={"v1"})
    assert deleted == ["v2"]
    assert sorted(m.version for m in Syncer().versions(gcs, model)) == ["v1", "v3"]
    with pytest.raises(ObjectNotFound):
        read_file(gcs, model, "v2", "w.bin")


def _crc(data: bytes) -> str:
    from distributors.checksums import crc32c_b64

    return crc32c_b64(data)


def _const(value: str) -> Callable[[], str]:
    return lambda: value
