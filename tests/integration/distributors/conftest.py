"""Stores of the shared local fleet (s3-a: MinIO, gcs-a: fake-gcs-server, disk-a: file)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from botocore.config import Config

from distributors import manifest as mf
from distributors.store import Store, StoreConfig, TransferSettings, open_store
from federation.cli.artifacts import config_from_endpoint
from federation.dev.localfleet import LocalFleet

# Small parts so multi-part and resumable-chunk paths run on small files.
SMALL_PARTS = TransferSettings(multipart_threshold=5 * 1024 * 1024,
                               chunk_size=5 * 1024 * 1024, concurrency=4)


@pytest.fixture(scope="session")
def configs(local_fleet: LocalFleet) -> dict[str, StoreConfig]:
    fleet_state = local_fleet.load()
    out = {s.endpoint.name: config_from_endpoint(s.endpoint) for s in fleet_state.stores}
    # A second bucket on the same MinIO: S3 -> S3 copies there are server-side.
    s3 = out["s3-a"]
    client = boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint, aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key, region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}))
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="mirror")
    out["s3-mirror"] = replace(s3, name="s3-mirror", bucket="mirror")
    return out


@pytest.fixture
def stores(configs: dict[str, StoreConfig]) -> Iterator[dict[str, Store]]:
    opened = {n: open_store(c, SMALL_PARTS) for n, c in configs.items()}
    yield opened
    for s in opened.values():
        s.close()


@pytest.fixture
def model() -> str:
    """A fresh model name per test: tests share the fleet's buckets."""
    return "m-" + uuid.uuid4().hex[:10]


def put_files(store: Store, model: str, version: str, files: dict[str, bytes]) -> None:
    """Upload raw files (as a training job would), without a manifest."""
    for path, data in files.items():
        store.write_bytes(mf.data_key(model, version, path), data)


def read_file(store: Store, model: str, version: str, path: str) -> bytes:
    return store.read_bytes(mf.data_key(model, version, path))
