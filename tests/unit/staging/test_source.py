from __future__ import annotations

from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.base import StoreConfig
from distributors.errors import StoreError
from distributors.localfs import FileStore
from distributors.sync import Syncer
from federation.errors import InputError
from federation.staging.source import PrefixView, SourceView, artifact_key


def registry(tmp_path: Path) -> FileStore:
    root = tmp_path / "mlflow"
    for rel, data in {"1/abc/artifacts/model/MLmodel": b"flavors",
                      "1/abc/artifacts/model/onnx/model.onnx": b"weights" * 100,
                      "1/abc/artifacts/other.txt": b"not part"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return FileStore(StoreConfig("mlflow", "file", region="eu", root=str(root)))


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def test_view_presents_the_version_in_the_distributors_layout(tmp_path: Path) -> None:
    store = registry(tmp_path)
    view = SourceView(store, "1/abc/artifacts/model", "fraud", "2")
    assert sorted(m.key for m in view.list("fraud/2/")) == ["fraud/2/MLmodel",
                                                          "fraud/2/onnx/model.onnx"]
    assert list(view.list("other/2/")) == []
    assert view.read_bytes("fraud/2/MLmodel") == b"flavors"
    assert view.stat("fraud/1/MLmodel") is None
    sub = view.sub("onnx", "fraud--onnx")
    assert [m.key for m in sub.list("fraud--onnx/2/")] == ["fraud--onnx/2/model.onnx"]


def test_sealing_writes_only_under_the_meta_prefix(tmp_path: Path) -> None:
    store = registry(tmp_path)
    before = snapshot(tmp_path / "mlflow")
    view = SourceView(store, "1/abc/artifacts/model", "fraud", "2")
    m = Syncer().source_manifest(view, "fraud", "2")
    assert [f.path for f in m.files] == ["MLmodel", "onnx/model.onnx"]
    after = snapshot(tmp_path / "mlflow")
    new = {k for k in after if k not in before}
    assert new == {".fedctl-staging/" + mf.manifest_key("fraud", "2"),
                   ".fedctl-staging/" + mf.receipt_key("fraud", "2")}
    assert all(after[k] == v for k, v in before.items())
    # sealed once: a second load reads the manifest back unchanged
    assert Syncer().source_manifest(view, "fraud", "2").identity == m.identity


def test_view_refuses_to_modify_registry_files(tmp_path: Path) -> None:
    view = SourceView(registry(tmp_path), "1/abc/artifacts/model", "fraud", "2")
    with pytest.raises(StoreError, match="read-only"):
        view.write_bytes("fraud/2/MLmodel", b"x")
    with pytest.raises(StoreError, match="read-only"):
        view.delete("fraud/2/MLmodel")
    assert (tmp_path / "mlflow/1/abc/artifacts/model/MLmodel").read_bytes() == b"flavors"


def test_view_over_a_whole_store_hides_metadata(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    (root / "w.bin").parent.mkdir(parents=True)
    (root / "w.bin").write_bytes(b"w")
    view = SourceView(FileStore(StoreConfig("b", "file", root=str(root))), "", "m", "1")
    Syncer().source_manifest(view, "m", "1")
    assert [m.key for m in view.list("m/1/")] == ["m/1/w.bin"]


def test_prefix_view_round_trip(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    inner = FileStore(StoreConfig("s", "file", root=str(tmp_path / "s")))
    view = PrefixView(inner, ".fedctl-staging/builds")
    view.write_bytes("m--int8/1/model.onnx", b"q")
    assert (tmp_path / "s/.fedctl-staging/builds/m--int8/1/model.onnx").read_bytes() == b"q"
    assert [m.key for m in view.list("m--int8/1/")] == ["m--int8/1/model.onnx"]
    assert view.native_key("a") == str(tmp_path / "s/.fedctl-staging/builds/a")


S3 = StoreConfig("art", "s3", bucket="mlflow", prefix="runs", endpoint="http://127.0.0.1:1")


@pytest.mark.parametrize(("cfg", "uri", "key"), [
    (S3, "s3://mlflow/runs/1/abc/artifacts/model", "1/abc/artifacts/model"),
    (S3, "s3://mlflow/runs/1/abc/artifacts/model/", "1/abc/artifacts/model"),
    (StoreConfig("g", "gcs", bucket="b"), "gs://b/x/y", "x/y"),
    (StoreConfig("d", "file", root="/srv/a"), "file:///srv/a/1/art", "1/art"),
])
def test_artifact_key(cfg: StoreConfig, uri: str, key: str) -> None:
    assert artifact_key(cfg, uri) == key


@pytest.mark.parametrize(("uri", "message"), [
    ("s3://other/runs/1", "is in bucket 'other', object store art reads bucket 'mlflow'"),
    ("s3://mlflow/elsewhere/1", "outside art's prefix 'runs'"),
    ("gs://mlflow/runs/1", "is not in object store art (s3)"),
    ("http://x/y", "unsupported scheme 'http'"),
    ("s3://mlflow/runs/../x", "escapes its prefix"),
])
def test_artifact_key_errors(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        artifact_key(S3, uri)


def test_file_uri_outside_root() -> None:
    with pytest.raises(InputError, match="outside d's directory /srv/a"):
        artifact_key(StoreConfig("d", "file", root="/srv/a"), "file:///srv/ab/x")
