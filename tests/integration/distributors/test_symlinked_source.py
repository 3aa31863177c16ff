"""Acceptance: a Hugging Face cache snapshot (files are links into ../../blobs) synced from a
file store to the fleet's S3 store (MinIO) arrives complete and verified."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from distributors import manifest as mf
from distributors.base import StoreConfig
from distributors.localfs import FileStore
from distributors.store import Store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version

from .conftest import read_file

REV = "fedc0ffee0123456789abcdef0123456789abcde"


def test_hf_cache_snapshot_to_s3_copies_linked_weights(tmp_path: Path,
                                                       stores: dict[str, Store]) -> None:
    cache = tmp_path / "models--org--tiny"
    files = {"config.json": b'{"arch": "tiny"}',
             "model.safetensors": os.urandom(6 * 1024 * 1024 + 7),  # multipart upload
             "tokenizer/tokenizer.json": os.urandom(5000)}
    (cache / "snapshots" / REV).mkdir(parents=True)
    (cache / "blobs").mkdir()
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        (cache / "blobs" / sha).write_bytes(data)
        link = cache / "snapshots" / REV / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("../" * (path.count("/") + 2) + f"blobs/{sha}")
    src = FileStore(StoreConfig("hf", "file", root=str(cache)))
    # Each test has its own snapshot name on the shared bucket: the "model" is the
    # snapshots directory, the version the revision.
    s3 = stores["s3-a"]
    model, version = "snapshots", REV[:8] + os.urandom(4).hex()
    (cache / "snapshots" / REV).rename(cache / "snapshots" / version)

    _, [r] = Syncer(SyncOptions(transfers=4)).fanout(src, model, version, [s3])

    assert r.ok and r.published, r.errors
    assert sorted(r.copied) == sorted(files)
    for path, data in files.items():
        assert read_file(s3, model, version, path) == data
    report = verify_version(s3, model, version)
    assert report.ok, report.problems
    assert {f.path for f in report.manifest.files} == set(files)
    assert s3.read_bytes(mf.manifest_key(model, version)) == \
        src.read_bytes(mf.manifest_key(model, version))
