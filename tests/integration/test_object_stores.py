"""The fleet's object-store servers speak the real protocols: multipart S3, resumable GCS."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import boto3
import google_crc32c
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from federation.dev.localfleet import FleetState, LocalFleet
from federation.dev.objectstores import StoreEndpoint

SIZE = 64 * 1024 * 1024
CHUNK = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(SIZE)


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def s3_client(ep: StoreEndpoint) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=ep.endpoint, aws_access_key_id=ep.access_key,
        aws_secret_access_key=ep.secret_key, region_name=ep.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                      connect_timeout=3, read_timeout=30))


def gcs_client(ep: StoreEndpoint) -> storage.Client:
    return storage.Client(project="fedctl-dev", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": ep.endpoint})


def test_s3_multipart_upload_returns_our_crc32c(fleet_state: FleetState,
                                                payload: bytes) -> None:
    ep = fleet_state.store("s3-a").endpoint
    s3 = s3_client(ep)
    ours = crc32c_b64(payload)
    cfg = TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK,
                         max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(payload), ep.bucket, "big/model.bin", Config=cfg,
                      ExtraArgs={"ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": ours})
    head = s3.head_object(Bucket=ep.bucket, Key="big/model.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == SIZE
    assert head["ChecksumCRC32C"] == ours
    assert head.get("ChecksumType") == "FULL_OBJECT"
    # It really was a multipart upload: the ETag carries the part count.
    assert head["ETag"].strip('"').endswith(f"-{SIZE // CHUNK}")


def test_gcs_resumable_chunked_upload_returns_our_crc32c(fleet_state: FleetState,
                                                         payload: bytes) -> None:
    ep = fleet_state.store("gcs-a").endpoint
    bucket = gcs_client(ep).bucket(ep.bucket)
    blob = bucket.blob("big/model.bin", chunk_size=CHUNK)  # chunked resumable upload
    blob.upload_from_file(io.BytesIO(payload), size=SIZE, checksum="crc32c")
    fetched = bucket.get_blob("big/model.bin")
    assert fetched is not None
    assert fetched.size == SIZE
    assert fetched.crc32c == crc32c_b64(payload)


async def test_store_stop_and_start_keeps_objects(local_fleet: LocalFleet,
                                                  fleet_state: FleetState) -> None:
    ep = fleet_state.store("s3-a").endpoint
    s3 = s3_client(ep)
    s3.put_object(Bucket=ep.bucket, Key="keep/me.txt", Body=b"hello")
    local_fleet.stop_store("s3-a")
    with pytest.raises(EndpointConnectionError) as err:
        s3.head_object(Bucket=ep.bucket, Key="keep/me.txt")
    assert "connect" in str(err.value).lower()
    await local_fleet.start_store("s3-a")
    body = s3.get_object(Bucket=ep.bucket, Key="keep/me.txt")["Body"].read()
    assert body == b"hello"
