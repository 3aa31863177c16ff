"""Memory budgets and connection-pool sizes derived from ``TransferSettings``."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributors.base import (
    BASELINE_MEMORY,
    MIN_BUDGET_CHUNK,
    MiB,
    TransferSettings,
    fit_memory,
)


@pytest.mark.parametrize("budget_mib", [128, 256, 512, 1024])
def test_default_settings_fit_the_budget(budget_mib: int) -> None:
    fitted = fit_memory(TransferSettings(), budget_mib * MiB)
    assert BASELINE_MEMORY + fitted.buffer_bound() <= budget_mib * MiB
    assert fitted.chunk_size >= MIN_BUDGET_CHUNK
    assert fitted.multipart_threshold == fitted.chunk_size


def test_default_budget_keeps_files_in_flight_and_shrinks_chunks_first() -> None:
    fitted = fit_memory(TransferSettings(), 256 * MiB)
    # 8 x 8 x 16 MiB = 1 GiB does not fit: chunks go to 8 MiB, then parts per file to 3.
    assert (fitted.transfers, fitted.concurrency, fitted.chunk_size) == (8, 3, 8 * MiB)
    assert fitted.connections >= fitted.transfers * fitted.concurrency


def test_settings_within_the_budget_are_unchanged() -> None:
    small = TransferSettings(chunk_size=8 * MiB, multipart_threshold=8 * MiB, concurrency=2,
                             transfers=4)
    assert fit_memory(small, 256 * MiB) is small


def test_parallel_syncs_share_the_budget() -> None:
    one = fit_memory(TransferSettings(), 512 * MiB)
    two = fit_memory(TransferSettings(parallel_syncs=2), 512 * MiB)
    assert two.buffer_bound() <= 512 * MiB - BASELINE_MEMORY
    assert two.transfers * two.concurrency < one.transfers * one.concurrency


def test_tiny_budget_lowers_transfers_then_fails_clearly() -> None:
    fitted = fit_memory(TransferSettings(), BASELINE_MEMORY + 3 * MIN_BUDGET_CHUNK)
    assert (fitted.transfers, fitted.concurrency) == (3, 1)
    with pytest.raises(ValueError, match="no room"):
        fit_memory(TransferSettings(), BASELINE_MEMORY + MiB)


def test_connection_pool_covers_every_part_in_flight() -> None:
    s = TransferSettings(transfers=8, concurrency=8, parallel_syncs=2)
    assert s.connections >= 2 * 8 * 8


def test_store_clients_get_pools_of_the_real_concurrency() -> None:
    from distributors.base import StoreConfig
    from distributors.store import open_store

    settings = TransferSettings(transfers=8, concurrency=8)
    gcs = open_store(StoreConfig("g", "gcs", bucket="b", endpoint="http://127.0.0.1:9"),
                     settings)
    s3 = open_store(StoreConfig("s", "s3", bucket="b", endpoint="http://127.0.0.1:9",
                                access_key="a", secret_key="b"), settings)
    try:
        adapter = gcs._client._http.adapters["http://"]  # type: ignore[attr-defined]
        assert adapter._pool_maxsize == settings.connections >= 64
        assert s3._client.meta.config.max_pool_connections == settings.connections  # type: ignore[attr-defined]
    finally:
        gcs.close()
        s3.close()


def test_botocore_data_cache_returns_the_parsed_json_and_survives_corruption(
        tmp_path: Path) -> None:
    import json

    from distributors.s3 import _MarshalCachedFiles

    src = tmp_path / "model"
    doc = {"b": [1, {"c": None, "a": "x"}], "a": 2.5}
    src.with_suffix(".json").write_text(json.dumps(doc))
    cache = tmp_path / "cache"
    loader = _MarshalCachedFiles(cache)
    assert loader.load_file(str(src)) == doc
    [entry] = list(cache.iterdir())
    src.with_suffix(".json").write_text("{}")  # the cache answers now
    assert loader.load_file(str(src)) == doc
    assert list(loader.load_file(str(src))) == ["b", "a"]  # key order kept
    entry.write_bytes(b"\x00garbage")
    assert loader.load_file(str(src)) == {}  # unreadable: parsed again
    assert loader.load_file(str(tmp_path / "missing")) is None
