"""StoreRegistry over a real file store: versions are published manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.base import StoreConfig
from distributors.errors import StoreUnreachable
from distributors.store import open_store
from federation.registry.objectstore import StoreRegistry, data_uri
from federation.registry.ports import NotFound, RegistryError, RegistryUnavailable


def publish(root: Path, model: str, version: str, created: str = "") -> None:
    store = open_store(StoreConfig(name="disk", provider="file", root=str(root)))
    entry = mf.FileEntry(path="model.onnx", size=5, sha256="0" * 64, crc32c="AAAAAA==")
    store.write_bytes(mf.data_key(model, version, "model.onnx"), b"hello")
    store.write_bytes(mf.manifest_key(model, version),
                      mf.Manifest.build(model, version, [entry], created).to_json())


@pytest.fixture
def cfg(tmp_path: Path) -> StoreConfig:
    return StoreConfig(name="disk", provider="file", root=str(tmp_path))


async def test_latest_is_the_highest_published_version(tmp_path: Path,
                                                       cfg: StoreConfig) -> None:
    for v in ("2", "10", "9"):
        publish(tmp_path, "fraud", v, created="2026-12-05T10:00:00+00:00")
    # data without a manifest is not a version yet
    (tmp_path / "fraud" / "11").mkdir(parents=True)
    reg = StoreRegistry(cfg)
    try:
        info = await reg.resolve("fraud", "latest")
        assert info.version == "10"
        assert info.source_uri == f"file://{tmp_path.resolve()}/fraud/10"
        assert info.created_ms == 1796464800000  # 2026-12-05T10:00Z
        assert info.aliases == ()
        two = await reg.get_version("fraud", "2")
        assert two.source_uri.endswith("/fraud/2")
    finally:
        await reg.close()


async def test_missing_models_versions_and_aliases(cfg: StoreConfig, tmp_path: Path) -> None:
    publish(tmp_path, "fraud", "1")
    reg = StoreRegistry(cfg)
    with pytest.raises(NotFound, match="no published version"):
        await reg.resolve("other", "latest")
    with pytest.raises(NotFound, match="no version '7'"):
        await reg.get_version("fraud", "7")
    with pytest.raises(RegistryError, match="no aliases"):
        await reg.resolve("fraud", "production")
    with pytest.raises(RegistryError):
        await reg.get_version("fraud", "../x")
    await reg.close()


async def test_damaged_manifest_is_an_error(cfg: StoreConfig, tmp_path: Path) -> None:
    publish(tmp_path, "fraud", "1")
    (tmp_path / mf.manifest_key("fraud", "1")).write_text('{"model": "fraud"}')
    with pytest.raises(RegistryError, match="malformed manifest"):
        await StoreRegistry(cfg).get_version("fraud", "1")


async def test_unreachable_store_is_unavailable(cfg: StoreConfig) -> None:
    def opener(c: StoreConfig) -> object:
        raise StoreUnreachable(c.name, "connection refused")

    reg = StoreRegistry(cfg, opener=opener)  # type: ignore[arg-type]
    with pytest.raises(RegistryUnavailable, match="connection refused"):
        await reg.resolve("fraud", "latest")


def test_data_uri_per_provider(tmp_path: Path) -> None:
    class S3Like:
        def native_key(self, key: str) -> str:
            return f"team/{key}"

    s3 = StoreConfig(name="s", provider="s3", bucket="models", prefix="team")
    gcs = StoreConfig(name="g", provider="gcs", bucket="models", prefix="team")
    assert data_uri(S3Like(), s3, "m/1") == "s3://models/team/m/1"  # type: ignore[arg-type]
    assert data_uri(S3Like(), gcs, "m/1") == "gs://models/team/m/1"  # type: ignore[arg-type]
