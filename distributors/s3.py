"""``s3://`` stores with boto3 and s3transfer (multipart, concurrency, full-object CRC32C).

Uploads pass the manifest's CRC32C (``ChecksumCRC32C``) so the server checks the bytes and
afterwards reports the same full-object checksum (``head_object(ChecksumMode=ENABLED)``).
Server-side copies use ``copy_object`` with ``ChecksumAlgorithm=CRC32C`` (the server
computes the full-object CRC32C of the copy) up to 5 GiB, s3transfer's multipart copy above.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import botocore
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from distributors import keys
from distributors.base import (
    ObjectMeta,
    ReadStream,
    Store,
    StoreConfig,
    TransferSettings,
    stat_written,
)
from distributors.errors import (
    AccessDenied,
    BucketNotFound,
    ObjectNotFound,
    RetryableStoreError,
    StoreError,
    StoreUnreachable,
)
from distributors.resume import Held, SessionGone

MAX_SINGLE_COPY = 5 * 1024**3
MIN_PART = 5 * 1024**2
MAX_PARTS = 10_000
_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                    "RequestTimeTooSkewed", "Throttling", "ThrottlingException",
                    "XMinioServerNotInitialized", "503", "500", "502", "504"}
_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403",
                 "InvalidToken", "ExpiredToken", "AllAccessDisabled"}


_SESSION: Any = None
_SESSION_LOCK = threading.Lock()


def _parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser with a fast path for ISO-8601 with a zone.

    The default goes through dateutil: ~0.1 ms per timestamp, more than half of the CPU
    of listing 10,000 objects. Results are the same aware datetimes."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    result: datetime = botocore.utils.parse_timestamp(value)
    return result


def _plain(data: Any) -> Any:
    """JSON data with botocore's OrderedDicts as plain (insertion-ordered) dicts."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


class _MarshalCachedFiles(botocore.loaders.JSONFileLoader):  # type: ignore[misc]
    """botocore's JSON data files (the S3 service model, endpoint rules, partitions) kept
    as ``marshal`` files under ``$XDG_CACHE_HOME/fedctl/botocore``: parsing the JSON is
    most of an S3 client's construction (~50 ms of every ``fedctl artifacts`` command).
    Keyed by botocore's version and the file path; any unreadable entry is re-parsed."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def load_file(self, file_path: str) -> Any:
        key = hashlib.sha256(f"{botocore.__version__}\0{file_path}".encode()).hexdigest()
        cached = self._root / f"{key[:32]}.marshal"
        try:
            return marshal.loads(cached.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
        data = super().load_file(file_path)
        if data is not None:
            with contextlib.suppress(OSError, ValueError):
                self._root.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                tmp.write_bytes(marshal.dumps(_plain(data)))
                os.replace(tmp, cached)
        return data


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fedctl" / "botocore"


def _session() -> Any:
    """One botocore session per process: it caches the service models (0.2 s per load).

    Clients come from botocore directly: boto3 would import s3transfer (and with it
    ~0.1 s of start-up) for every client; it is imported only when a multipart upload or
    copy needs it (``S3Store._manager``)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            core = botocore.session.get_session()
            core.get_component("data_loader").file_loader = _MarshalCachedFiles(_cache_root())
            core.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=_parse_timestamp)
            _SESSION = core
        return _SESSION


class S3Store:
    provider = "s3"

    def __init__(self, cfg: StoreConfig, settings: TransferSettings) -> None:
        self.cfg = cfg
        self._settings = settings
        self._prefix = cfg.prefix.strip("/")
        mode = "when_required" if cfg.checksum_mode == "when_required" else "when_supported"
        # Every part of every file in flight holds a connection: a smaller pool makes
        # urllib3 discard connections ("Connection pool is full") and open new ones.
        self._client: Any = _session().create_client(
            "s3", endpoint_url=cfg.endpoint, region_name=cfg.region or "us-east-1",
            aws_access_key_id=cfg.access_key, aws_secret_access_key=cfg.secret_key,
            config=Config(
                s3={"addressing_style": "path" if cfg.path_style else "virtual"},
                connect_timeout=5, read_timeout=settings.timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=settings.connections,
                request_checksum_calculation=mode,
                response_checksum_validation=mode,
            ))
        self._tc: Any = None
        self._tc_lock = threading.Lock()
        ident = hashlib.sha256(f"{cfg.access_key}".encode()).hexdigest()[:12]
        self._domain = f"s3|{cfg.endpoint or 'aws'}|{ident}"

    # ---- identity ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def region(self) -> str:
        return self.cfg.region

    @property
    def copy_domain(self) -> str | None:
        return self._domain

    @property
    def bucket(self) -> str:
        return self.cfg.bucket

    def _key(self, key: str) -> str:
        return keys.join(self._prefix, key)

    def native_key(self, key: str) -> str:
        """The object's key in the bucket (prefix included)."""
        return self._key(key)

    # ---- errors ------------------------------------------------------------------------
    def _fail(self, exc: BaseException, key: str | None = None) -> NoReturn:
        raise translate(self.cfg, exc, key) from None

    # ---- reads -------------------------------------------------------------------------
    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        full = self._key(prefix.rstrip("/")) + "/" if prefix else (
            self._prefix + "/" if self._prefix else "")
        cut = len(self._prefix) + 1 if self._prefix else 0
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, PaginationConfig={"PageSize": 1000})
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield ObjectMeta(key=obj["Key"][cut:], size=int(obj["Size"]), crc32c=None,
                                     fingerprint=_fingerprint(obj["ETag"], obj.get("VersionId")))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        kwargs: dict[str, Any] = {"ChecksumMode": "ENABLED"} if checksum else {}
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key), **kwargs)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                self._check_bucket()
                return None
            self._fail(exc, key)
        except BotoCoreError as exc:
            self._fail(exc, key)
        crc = head.get("ChecksumCRC32C")
        if crc and head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
            crc = None  # a composite (per-part) checksum is not comparable
        return ObjectMeta(key=key, size=int(head["ContentLength"]), crc32c=crc,
                          fingerprint=_fingerprint(head["ETag"], head.get("VersionId")))

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        kwargs: dict[str, Any] = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **kwargs)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)
        return _Body(self, resp["Body"], key)

    def read_bytes(self, key: str) -> bytes:
        body = self.open_read(key)
        try:
            return body.read()
        finally:
            body.close()

    # ---- writes ------------------------------------------------------------------------
    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        extra = {"ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": crc32c}
        try:
            if size < self._settings.multipart_threshold:
                data = stream.read(size + 1)
                if len(data) != size:
                    raise StoreError(self.name, f"{key}: source gave {len(data)} bytes, "
                                                f"expected {size}")
                # The server checks the body against ChecksumCRC32C and stores it: its
                # answer is the verification, no HEAD needed.
                resp = self._client.put_object(Bucket=self.bucket, Key=self._key(key),
                                               Body=data, **extra)
                if resp.get("ChecksumCRC32C") == crc32c:
                    return ObjectMeta(key=key, size=size, crc32c=crc32c,
                                      fingerprint=_fingerprint(resp["ETag"],
                                                               resp.get("VersionId")))
            else:
                self._transfer("upload", stream, self.bucket, self._key(key), extra)
        except StoreError:
            raise
        except Exception as exc:  # s3transfer wraps ClientError in S3UploadFailedError
            self._fail(exc, key)
        return stat_written(self, key, "upload")

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        from distributors.checksums import crc32c_b64

        try:
            resp = self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                           ChecksumAlgorithm="CRC32C",
                                           ChecksumCRC32C=crc32c_b64(data))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)
        return ObjectMeta(key=key, size=len(data), crc32c=resp.get("ChecksumCRC32C"),
                          fingerprint=_fingerprint(resp["ETag"], resp.get("VersionId")))

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        if source.copy_domain != self.copy_domain:
            raise StoreError(self.name, f"cannot copy server-side from {source.name}")
        src = {"Bucket": source.bucket, "Key": source.native_key(src_key)}
        try:
            if size <= MAX_SINGLE_COPY:
                self._client.copy_object(CopySource=src, Bucket=self.bucket,
                                         Key=self._key(key), ChecksumAlgorithm="CRC32C")
            else:
                self._transfer("copy", src, self.bucket, self._key(key),
                               {"ChecksumAlgorithm": "CRC32C"})
        except Exception as exc:
            self._fail(exc, key)
        return stat_written(self, key, "copy")

    def _transfer(self, kind: str, what: Any, bucket: str, key: str,
                  extra: dict[str, Any]) -> None:
        """A multipart upload (``what``: a stream) or copy (``what``: bucket + key) through
        s3transfer, as boto3's ``upload_fileobj`` / ``copy`` do. At most ``concurrency``
        chunks of the upload are in memory at once."""
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        with self._tc_lock:
            if self._tc is None:
                tc = TransferConfig(
                    multipart_threshold=self._settings.multipart_threshold,
                    multipart_chunksize=self._settings.chunk_size,
                    max_concurrency=self._settings.concurrency,
                    use_threads=True)
                # s3transfer's option (boto3's constructor does not take it; default 10).
                tc.max_in_memory_upload_chunks = max(1, self._settings.concurrency)
                self._tc = tc
        with create_transfer_manager(self._client, self._tc) as manager:
            if kind == "upload":
                future = manager.upload(what, bucket, key, extra_args=extra)
            else:
                future = manager.copy(what, bucket, key, extra_args=extra)
            future.result()

    # ---- resumable multipart uploads (distributors/resume.py) -----------------------
    @property
    def resumable_sequential(self) -> bool:
        return False

    @property
    def resumable_concurrency(self) -> int:
        return max(1, self._settings.concurrency)

    def resumable_part_size(self, size: int) -> int | None:
        t = self._settings.resumable_threshold
        if not t or size < t:
            return None
        return max(self._settings.chunk_size, MIN_PART, -(-size // MAX_PARTS))

    def resumable_start(self, key: str, size: int, crc32c: str,
                        part_size: int) -> dict[str, Any]:
        try:
            resp = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), ChecksumAlgorithm="CRC32C",
                ChecksumType="FULL_OBJECT")
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)
        return {"upload_id": resp["UploadId"]}

    def _parts(self, key: str, upload_id: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        try:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
            for page in pages:
                for p in page.get("Parts", ()):
                    out[int(p["PartNumber"])] = p
        except ClientError as exc:
            if _code(exc) in ("NoSuchUpload", "404"):
                raise SessionGone(self.name, f"{key}: multipart upload is gone") from None
            self._fail(exc, key)
        except BotoCoreError as exc:
            self._fail(exc, key)
        return out

    def resumable_held(self, key: str, session: dict[str, Any], size: int,
                       part_size: int) -> Held | None:
        done = set()
        for number, p in self._parts(key, session["upload_id"]).items():
            i = number - 1
            want = min(part_size, size - i * part_size)
            if i >= 0 and want > 0 and int(p["Size"]) == want and p.get("ChecksumCRC32C"):
                done.add(i)
        return Held(parts=frozenset(done))

    def resumable_put(self, key: str, session: dict[str, Any], index: int, start: int,
                      end: int, size: int, crc32c: str, stream: ReadStream) -> int:
        from distributors.checksums import crc32c_b64

        data = _read_exactly(stream, end - start)
        if len(data) != end - start:
            raise RetryableStoreError(self.name, f"{key}: source gave {len(data)} bytes for "
                                                 f"part {index + 1}, expected {end - start}")
        try:
            self._client.upload_part(
                Bucket=self.bucket, Key=self._key(key), UploadId=session["upload_id"],
                PartNumber=index + 1, Body=data, ChecksumAlgorithm="CRC32C",
                ChecksumCRC32C=crc32c_b64(data))
        except ClientError as exc:
            if _code(exc) == "NoSuchUpload":
                raise SessionGone(self.name, f"{key}: multipart upload is gone") from None
            self._fail(exc, key)
        except BotoCoreError as exc:
            self._fail(exc, key)
        return end

    def resumable_complete(self, key: str, session: dict[str, Any], size: int,
                           crc32c: str) -> ObjectMeta:
        parts = self._parts(key, session["upload_id"])
        listed = [{"PartNumber": n, "ETag": p["ETag"], "ChecksumCRC32C": p["ChecksumCRC32C"]}
                  for n, p in sorted(parts.items())]
        if sum(int(p["Size"]) for p in parts.values()) != size:
            raise RetryableStoreError(self.name, f"{key}: parts do not add up to {size} bytes")
        try:
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), UploadId=session["upload_id"],
                MultipartUpload={"Parts": listed}, ChecksumCRC32C=crc32c,
                ChecksumType="FULL_OBJECT")
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)
        return stat_written(self, key, "upload")

    def resumable_abort(self, key: str, session: dict[str, Any]) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key),
                                                UploadId=session["upload_id"])
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                self._fail(exc, key)
        except BotoCoreError as exc:
            self._fail(exc, key)

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)

    def close(self) -> None:
        self._client.close()


class _Body:
    """A botocore StreamingBody whose errors are translated."""

    def __init__(self, store: S3Store, body: Any, key: str) -> None:
        self._store, self._body, self._key = store, body, key

    def read(self, n: int = -1, /) -> bytes:
        try:
            data: bytes = self._body.read(None if n < 0 else n)
            return data
        except Exception as exc:
            raise translate(self._store.cfg, exc, self._key) from None

    def close(self) -> None:
        self._body.close()


def _read_exactly(stream: ReadStream, n: int) -> bytes:
    bufs = []
    left = n
    while left > 0:
        b = stream.read(min(left, 8 * 1024 * 1024))
        if not b:
            break
        bufs.append(b)
        left -= len(b)
    return b"".join(bufs)


def _fingerprint(etag: str, version: str | None) -> str:
    return f"{etag.strip(chr(34))}/{version or ''}"


def _code(exc: ClientError) -> str:
    err = exc.response.get("Error", {})
    code = str(err.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def translate(cfg: StoreConfig, exc: BaseException, key: str | None = None) -> StoreError:
    """One-line, actionable error naming the store (never the credentials)."""
    name = cfg.name
    where = f"{cfg.endpoint or 'AWS S3'}"
    seen: BaseException | None = exc
    while seen is not None:  # s3transfer wraps ClientError without `from`
        if isinstance(seen, ClientError | BotoCoreError):
            exc = seen
            break
        seen = seen.__cause__ or seen.__context__
    what = f"{key}: " if key else ""
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(name, "no credentials found",
                            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return StoreUnreachable(name, f"cannot reach endpoint {where}",
                                hint="check the store's endpoint and that it is running")
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return RetryableStoreError(name, f"{what}connection to {where} failed: "
                                         f"{type(exc).__name__}")
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code == "NoSuchBucket":
            return BucketNotFound(name, f"bucket {cfg.bucket!r} does not exist at {where}",
                                  hint="create it or fix 'bucket' in the fleet file")
        if code in _DENIED_CODES:
            return AccessDenied(name, f"{what}access denied ({code}) at {where}",
                                hint="check the store's credentials and bucket permissions")
        if code in ("404", "NoSuchKey", "NotFound"):
            return ObjectNotFound(name, f"{what}no such object")
        if code in _RETRYABLE_CODES:
            return RetryableStoreError(name, f"{what}transient error {code}")
        if code in ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"):
            from distributors.errors import ChecksumMismatch

            return ChecksumMismatch(name, f"{what}the store rejected the checksum ({code})")
        msg = str(exc.response.get("Error", {}).get("Message") or code)
        return StoreError(name, f"{what}{code}: {msg}")
    if isinstance(exc, BotoCoreError):
        return RetryableStoreError(name, f"{what}{type(exc).__name__}: {exc}")
    return StoreError(name, f"{what}{type(exc).__name__}: {exc}")
