"""File stores follow symbolic links (a Hugging Face cache snapshot is links into
``../../blobs``); a link that cannot be followed is an error, never a file left out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.base import StoreConfig
from distributors.errors import StoreError
from distributors.localfs import FileStore
from distributors.sync import Syncer, SyncOptions
from distributors.verify import MISSING, verify_version

from .fakes import MemoryStore

FAST = SyncOptions(transfers=4, retry_wait_max=0.0)
REV = "0123456789abcdef0123456789abcdef01234567"


def hf_cache(root: Path, files: dict[str, bytes]) -> Path:
    """``root`` laid out like ``~/.cache/huggingface/hub/models--org--name``: each file of
    ``snapshots/<rev>/`` is a relative link to ``../../blobs/<sha256>`` (deeper paths get
    more ``../``)."""
    blobs, snap = root / "blobs", root / "snapshots" / REV
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(REV)
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        (blobs / sha).write_bytes(data)
        link = snap / path
        link.parent.mkdir(parents=True, exist_ok=True)
        up = "../" * (path.count("/") + 2)
        link.symlink_to(f"{up}blobs/{sha}")
    return root


FILES = {"config.json": b'{"a": 1}', "model-00001.safetensors": os.urandom(3000),
         "model-00002.safetensors": os.urandom(2000), "tokenizer/vocab.txt": b"a\nb\n"}


def _store(root: Path, name: str = "hf") -> FileStore:
    return FileStore(StoreConfig(name, "file", root=str(root)))


def test_listing_follows_links_under_their_own_paths(tmp_path: Path) -> None:
    store = _store(hf_cache(tmp_path / "models--org--m", FILES))
    got = {x.key: x.size for x in store.list(f"snapshots/{REV}/")}
    assert got == {f"snapshots/{REV}/{p}": len(d) for p, d in FILES.items()}
    assert store.read_bytes(f"snapshots/{REV}/model-00001.safetensors") == \
        FILES["model-00001.safetensors"]


def test_linked_directory_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "shared" / "sub").mkdir(parents=True)
    (root / "shared" / "sub" / "w.bin").write_bytes(b"w")
    (root / "m" / "v1").mkdir(parents=True)
    (root / "m" / "v1" / "weights").symlink_to("../../shared")
    keys = [x.key for x in _store(root).list("m/v1/")]
    assert keys == ["m/v1/weights/sub/w.bin"]


def test_sync_of_a_cache_snapshot_copies_the_linked_weights(tmp_path: Path) -> None:
    src, dst = _store(hf_cache(tmp_path / "models--org--m", FILES)), MemoryStore("dst")
    sy = Syncer(FAST)
    _, [r] = sy.fanout(src, "snapshots", REV, [dst])
    assert r.ok and r.published and sorted(r.copied) == sorted(FILES)
    for p, d in FILES.items():
        assert dst.read_bytes(mf.data_key("snapshots", REV, p)) == d
    assert verify_version(dst, "snapshots", REV).ok
    # The source still holds links, not copies.
    assert (tmp_path / "models--org--m" / "snapshots" / REV / "config.json").is_symlink()


def test_dangling_link_is_a_clear_error_and_nothing_is_published(tmp_path: Path) -> None:
    root = hf_cache(tmp_path / "models--org--m", FILES)
    sha = hashlib.sha256(FILES["model-00002.safetensors"]).hexdigest()
    (root / "blobs" / sha).unlink()
    src, dst = _store(root), MemoryStore("dst")
    with pytest.raises(StoreError, match=f"snapshots/{REV}/model-00002.safetensors: "
                                         "dangling symbolic link"):
        Syncer(FAST).fanout(src, "snapshots", REV, [dst])
    assert not dst.objects
    assert not (root / ".fedctl").exists()  # the source was not sealed either


@pytest.mark.parametrize("kind", ["directory", "self"])
def test_link_loop_is_an_error_naming_the_path(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "r"
    (root / "m" / "v1" / "sub").mkdir(parents=True)
    (root / "m" / "v1" / "a.bin").write_bytes(b"a")
    if kind == "directory":
        (root / "m" / "v1" / "sub" / "back").symlink_to("..")
        where = "m/v1/sub/back"
    else:
        (root / "m" / "v1" / "sub" / "me").symlink_to("me")
        where = "m/v1/sub/me"
    with pytest.raises(StoreError, match=f"{where}: symbolic link loop"):
        list(_store(root).list("m/v1/"))


def test_file_the_source_lists_but_cannot_read_blocks_publish() -> None:
    src = MemoryStore("src")
    for p, d in FILES.items():
        src.put(mf.data_key("m", "v1", p), d)
    sy = Syncer(FAST)
    m = sy.source_manifest(src, "m", "v1")
    del src.objects[mf.data_key("m", "v1", "config.json")]  # gone after the listing
    dst = MemoryStore("dst")
    [r] = sy.sync(src, m, [dst])
    assert not r.published and any(e.startswith("config.json:") for e in r.errors)
    assert mf.manifest_key("m", "v1") not in dst.objects


def test_verify_reports_a_missing_file() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    for p, d in FILES.items():
        src.put(mf.data_key("m", "v1", p), d)
    sy = Syncer(FAST)
    [r] = sy.sync(src, sy.source_manifest(src, "m", "v1"), [dst])
    assert r.published
    del dst.objects[mf.data_key("m", "v1", "tokenizer/vocab.txt")]
    rep = verify_version(dst, "m", "v1")
    assert not rep.ok
    assert [(c.path, c.status) for c in rep.problems] == [("tokenizer/vocab.txt", MISSING)]
